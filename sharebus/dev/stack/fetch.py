"""Fetch the stack's jars from Maven Central with the poms in `maven/`, once: a second run is a no-op."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from sharebus.core.errors import FetchError
from sharebus.core.progress import Echo
from sharebus.dev.stack.layout import Layout
from sharebus.dev.stack.system import ensure_maven

_NETWORK_SIGNS = (
    "Could not transfer",
    "UnknownHostException",
    "Connection refused",
    "Connect timed out",
    "Network is unreachable",
    "Could not resolve dependencies",
    "Non-resolvable",
)


def _pom(name: str) -> Path:
    return Path(str(resources.files("sharebus.dev.stack") / "maven" / name))


def pom_property(pom: str, prop: str) -> str:
    """A `<properties>` value of one of the stack's poms (e.g. kafka.version)."""
    match = re.search(rf"<{re.escape(prop)}>([^<]+)</{re.escape(prop)}>", _pom(pom).read_text())
    if not match:
        raise KeyError(f"{pom} has no property {prop}")
    return match.group(1)


def _stamp(target: Path, pom: Path) -> Path:
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    return target / f".fetched-{digest}"


def fetch_all(layout: Layout, echo: Echo) -> bool:
    """Fetch Kafka + Connect jars and the Debezium plugins if not cached; True if anything ran."""
    fetched = False
    kafka_pom = _pom("kafka.pom.xml")
    if not _stamp(layout.lib, kafka_pom).exists():
        echo(
            f"fetching Kafka {pom_property('kafka.pom.xml', 'kafka.version')} broker and Connect"
            " jars from Maven Central (first run only)…"
        )
        _fresh(layout.lib)
        _mvn(
            layout,
            kafka_pom,
            [
                "dependency:copy-dependencies",
                f"-DoutputDirectory={layout.lib}",
                "-DincludeScope=runtime",
            ],
        )
        _stamp(layout.lib, kafka_pom).touch()
        fetched = True
    dbz_pom = _pom("debezium.pom.xml")
    if not _stamp(layout.plugins, dbz_pom).exists():
        echo(
            f"fetching Debezium {pom_property('debezium.pom.xml', 'debezium.version')} connector"
            " plugins from Maven Central (first run only)…"
        )
        _fresh(layout.plugins)
        _mvn(layout, dbz_pom, ["dependency:unpack", f"-Dplugin.dir={layout.plugins}"])
        _stamp(layout.plugins, dbz_pom).touch()
        fetched = True
    return fetched


def _fresh(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _mvn(layout: Layout, pom: Path, goals: list[str]) -> None:
    mvn = ensure_maven(lambda line: None)
    log = layout.log_file("maven")
    log.parent.mkdir(parents=True, exist_ok=True)
    # Maven's own scratch files (markers, build dir) stay in the runtime folder, not the source tree.
    work = layout.root / "maven"
    argv = [mvn, "-B", "-q", "-f", str(pom), f"-Dwork.dir={work}", *goals]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True)
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(argv)}  ({time.monotonic() - started:.1f}s, exit {proc.returncode})\n")
        fh.write(proc.stdout + proc.stderr)
    if proc.returncode == 0:
        return
    output = proc.stdout + proc.stderr
    if any(sign in output for sign in _NETWORK_SIGNS):
        raise FetchError(
            "maven",
            "could not download the stack's jars from Maven Central",
            expected="Maven Central reachable (or the artifacts in ~/.m2/repository)",
            actual="the download failed",
            fix=(
                "check network access to Maven Central (or configure a mirror in"
                f" ~/.m2/settings.xml), then rerun `sharebus stack up`; full output: {log}"
            ),
            details=_maven_errors(output),
        )
    raise FetchError(
        "maven",
        f"`mvn {' '.join(goals[:1])}` failed (exit {proc.returncode})",
        fix=f"read {log}, fix the cause, then rerun `sharebus stack up`",
        details=_maven_errors(output),
    )


def _maven_errors(output: str) -> str:
    errors = [line for line in output.splitlines() if "[ERROR]" in line]
    return "\n".join(errors[:12]) or output[-1500:]
