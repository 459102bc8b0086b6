"""A catalog parsed in a child process, for long-lived processes (the worker): parsing the city's
YAML makes hundreds of MB of short-lived objects that a process never gives back to the system
whole; the child parses and validates, the parent only unpickles the finished catalog."""

from __future__ import annotations

import dataclasses
import io
import pickle
import subprocess
import sys
import tempfile

from sharebus.catalog import models as m
from sharebus.catalog.issues import CatalogIssue
from sharebus.catalog.load import CatalogTexts, known_catalog, parse_catalog, remember_catalog
from sharebus.core import pacing
from sharebus.core.errors import ConfigError
from sharebus.core.gcpause import collections_paused

PARSE_TIMEOUT = 600.0
"""Seconds the child may take (the 20,000-resource catalog parses in ~10 s here)."""

Parsed = tuple[m.Catalog | None, tuple[CatalogIssue, ...]]


def parse_catalog_apart(texts: CatalogTexts, *, folder: str | None = None) -> Parsed:
    """`parse_catalog(texts)`, done in a child process. The parent's share is unpickling the
    result, paced beside a routing thread (`pacing.beside_routing`) like a parse in process.
    ConfigError when the child fails (it names the child's last words)."""
    digest, known = known_catalog(texts, folder)  # the same texts: the same catalog object
    if known is not None:
        return known, ()
    # Through files, not pipes: the parent then only waits for the child (the GIL released), where
    # `communicate` would take the GIL back for every 32 KiB beside a routing thread.
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as answer:
        given.write(pickle.dumps((folder, _encoded(texts)), protocol=pickle.HIGHEST_PROTOCOL))
        given.seek(0)
        try:
            done = subprocess.run(
                [sys.executable, "-m", __name__],
                stdin=given,
                stdout=answer,
                stderr=subprocess.PIPE,
                timeout=PARSE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                "catalog parse",
                f"took longer than {PARSE_TIMEOUT:.0f}s in its child process",
                fix="check the host's load; a catalog of the city's size parses in seconds",
            ) from None
        if done.returncode != 0:
            last_words = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise ConfigError(
                "catalog parse",
                f"its child process failed (exit {done.returncode})",
                actual=" | ".join(last_words) or "no output",
                fix="run `sharebus catalog validate` on the same catalog to see the problem",
            )
        answer.seek(0)
        pickled = answer.read()
    with collections_paused():
        catalog, issues = _load(_PacedReader(pickled))
    if catalog is not None and not issues:
        remember_catalog(folder, digest, catalog)
    return catalog, issues


def _encoded(texts: CatalogTexts) -> dict[str, object]:
    """The texts as UTF-8 bytes: pickling the city's ~40 MB of str held the GIL ~0.2 s in one call
    beside the routing thread; encoding them first takes a few ms, and bytes pickle as a copy."""
    return {
        f.name: v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v
        for f in dataclasses.fields(texts)
        for v in (getattr(texts, f.name),)
    }


def _decoded(encoded: dict[str, object]) -> CatalogTexts:
    return CatalogTexts(
        **{k: v.decode("utf-8", "surrogatepass") if isinstance(v, bytes) else v for k, v in encoded.items()}  # type: ignore[arg-type]
    )


def _load(stream: io.RawIOBase) -> Parsed:
    parsed: Parsed = pickle.load(stream)  # our own child's answer, over a pipe
    return parsed


class _PacedReader(io.RawIOBase):
    """The child's answer, read a frame at a time: the unpickler rests between frames beside a
    routing thread (a 20,000-resource catalog is ~20 MiB, ~0.5 s of unpickling at once)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        pacing.pace()
        return self._data.readinto(buffer)

    def readline(self, size: int | None = -1) -> bytes:
        pacing.pace()
        return self._data.readline(-1 if size is None else size)


def main() -> None:
    """The child: (folder, the texts encoded) pickled on stdin, `parse_catalog`'s answer pickled on stdout."""
    folder, encoded = pickle.load(sys.stdin.buffer)
    texts = _decoded(encoded)  # from the parent that started us
    answer = parse_catalog(texts, folder=folder)
    if answer[0] is not None:
        _ = answer[0].version  # hashed here, beside no routing thread: it travels in the pickle
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
