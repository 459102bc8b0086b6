"""The audit trail's hash chain (pure): each record carries its place, the hash of the record
before it and its own hash, so an altered, removed or inserted record breaks the chain."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

SEQ, PREV, HASH = "seq", "prev", "hash"
GENESIS = "0" * 64
"""The `prev` of the first record of the chain."""


@dataclass(frozen=True)
class Link:
    """A place in the chain: the sequence number and hash of a record (`START` before the first)."""

    seq: int
    hash: str

    def render(self) -> str:
        """`SEQ:HASH`, as `sharebus audit verify --anchor` takes it."""
        return f"{self.seq}:{self.hash}"

    @staticmethod
    def parse(text: str) -> Link:
        """A `SEQ:HASH` anchor; ValueError naming what is wrong."""
        seq, sep, digest = text.strip().partition(":")
        if (
            not sep
            or not seq.isdigit()
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise ValueError(f"{text!r} is not SEQ:HASH (a sequence number, a colon, 64 hex digits)")
        return Link(int(seq), digest)


START = Link(-1, GENESIS)


def digest(record: Mapping[str, Any]) -> str:
    """The hash of a record: SHA-256 of its canonical JSON (sorted keys), every field but `hash`
    (its `seq` and `prev` included, which is what chains it)."""
    body = {k: v for k, v in record.items() if k != HASH}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def link(body: Mapping[str, Any], after: Link) -> tuple[dict[str, Any], Link]:
    """`body` chained after `after`: the record to write and its own place."""
    record = {**body, SEQ: after.seq + 1, PREV: after.hash}
    record[HASH] = digest(record)
    return record, Link(after.seq + 1, record[HASH])


def decode(value: bytes | None) -> Any:
    """An audit record's value decoded; None when it is empty or not JSON."""
    try:
        return orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None


def chained(record: object) -> bool:
    """Whether a decoded audit record carries the chain's fields."""
    return isinstance(record, dict) and all(k in record for k in (SEQ, PREV, HASH))


@dataclass(frozen=True)
class Break:
    """The first broken link: where (the audit partition's offset), which record, and what."""

    offset: int
    seq: int | None
    problem: str


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: chained records checked, unchained ones written before the chain
    began, the head (the last good link) and the first break (None: intact)."""

    records: int
    unchained: int
    head: Link
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify(
    entries: Iterable[tuple[int, bytes | None]], *, log_start: int = 0, anchor: Link | None = None
) -> ChainReport:
    """Walk the audit partition's records (offset, value) in order. `log_start` is the partition's
    first offset (the audit topic keeps everything: above 0, records were deleted). With an
    `anchor` noted earlier (`SEQ:HASH`), the chain must still hold that record unchanged — which a
    wholesale rewrite of the topic, hashes recomputed, cannot fake."""
    head, records, unchained = START, 0, 0

    def report(broken: Break | None) -> ChainReport:
        return ChainReport(records, unchained, head, broken)

    if log_start > 0:
        return report(
            Break(0, None, f"offsets 0–{log_start - 1} were deleted: the audit topic keeps every record")
        )
    anchored = anchor is None
    for offset, value in entries:
        record = decode(value)
        if not chained(record):
            if head == START and record is not None:
                unchained += 1  # written before the chain began
                continue
            return report(
                Break(offset, None, "a record without the chain's fields (seq, prev, hash): inserted")
            )
        assert isinstance(record, dict)
        seq, prev, claimed = record[SEQ], record[PREV], record[HASH]
        expected = head.seq + 1
        if seq != expected:
            problem = (
                f"records {expected}–{seq - 1} are missing (removed)"
                if isinstance(seq, int) and seq > expected
                else f"seq {seq!r} where {expected} was due: inserted or replayed"
            )
            return report(Break(offset, seq if isinstance(seq, int) else None, problem))
        if prev != head.hash:
            return report(Break(offset, seq, "its prev is not the hash of the record before it"))
        if claimed != digest(record):
            return report(Break(offset, seq, "its content does not match its hash: altered"))
        head = Link(seq, claimed)
        records += 1
        if anchor is not None and seq == anchor.seq:
            if claimed != anchor.hash:
                return report(
                    Break(offset, seq, f"the anchor {anchor.render()} names another hash: rewritten")
                )
            anchored = True
    if not anchored:
        assert anchor is not None
        return report(
            Break(
                -1,
                anchor.seq,
                f"the chain ends at seq {head.seq}, before the anchor's {anchor.seq}: cut short",
            )
        )
    return report(None)
