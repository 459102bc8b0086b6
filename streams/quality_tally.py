"""What the router counts of each resource's records for the quality indicators: records seen and
failed (by check), non-null values per field, source commit times (freshness, timeliness),
references checked and unmatched (consistency) — and the key index those references look up."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from streams.key_index import KeyChange, KeyIndex, Reference

REQUIRED_WEIGHT = 2
"""Weight of a key or required field in completeness (an optional field weighs 1): the router sums
each after-image's weighted filled fields, so completeness is one division of two stored sums."""

LATE_SECONDS = 60
"""A record is late when Kafka acknowledged it more than this many seconds after its source
transaction committed (the timeliness indicator counts them)."""


def count_nonnull(width: int, values: Sequence[Sequence[Any]]) -> list[int]:
    """Per position, how many of the rows' `values` (each a row's values in field order) are not
    None: transposed by `zip` and counted per column, in C."""
    if not values:
        return [0] * width
    return [len(values) - column.count(None) for column in zip(*values, strict=True)]


def picker(fields: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values in `fields` order as a tuple (None for a field the row lacks): one C call
    (`itemgetter`) for rows that have every field, as Debezium's after-images do."""
    if len(fields) == 1:
        name = fields[0]
        return lambda row: (row.get(name),)
    pick = itemgetter(*fields)

    def values(row: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            picked: tuple[Any, ...] = pick(row)
            return picked
        except KeyError:  # its table lacks a column: that field counts as null
            return tuple(row.get(name) for name in fields)

    return values


@dataclass(slots=True)
class ResourceTally:
    """One resource's counts over some records (a batch, or a minute of batches).

    `seen` counts change events (heartbeats and Debezium's tombstones are no resource's);
    `invalid` those dead-lettered, by check; `images` the after-images (creates, updates,
    snapshot reads) whose fields `nonnull` counts, in `fields` order; `commits_ms` the source
    commit times of its records, for timeliness and freshness. While a batch is routed the
    values of its after-images wait in `afters` (tuples: the event dicts are freed as routing
    goes on); `finish` counts them."""

    department: str
    resource: str
    fields: tuple[str, ...]
    seen: int = 0
    invalid: dict[str, int] = field(default_factory=dict)
    weights: tuple[int, ...] = ()  # per field: REQUIRED_WEIGHT for key and required fields, else 1
    images: int = 0
    nonnull: list[int] = field(default_factory=list)
    filled: int = 0  # Σ over after-images of the weights of their filled fields
    weight: int = 0  # Σ over after-images of all their fields' weights
    commits_ms: list[int] = field(default_factory=list)
    last_change_ms: int = 0
    afters: list[tuple[Any, ...]] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)  # check → a failing record's key, masked
    key_field: str | None = None  # its key, when a consistency rule references this resource
    references: tuple[Reference, ...] = ()  # its fields' consistency rules
    refs: int = 0  # references checked (non-null values of referencing fields in after-images)
    unmatched: dict[str, int] = field(default_factory=dict)  # `reference:<field>` → values not found
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.nonnull:
            self.nonnull = [0] * len(self.fields)
        if not self.weights:
            self.weights = (1,) * len(self.fields)
        self.pick = picker(self.fields)

    def finish(self) -> None:
        """Count the after-images met (and forget them), and the newest commit."""
        if self.afters:
            counted = count_nonnull(len(self.fields), self.afters)
            self.nonnull = [a + b for a, b in zip(self.nonnull, counted, strict=True)]
            self.filled += sum(w * n for w, n in zip(self.weights, counted, strict=True))
            self.weight += len(self.afters) * sum(self.weights)
            self.images += len(self.afters)
            self.afters = []
        if self.commits_ms:
            self.last_change_ms = max(self.last_change_ms, max(self.commits_ms))

    def failed(self, check: str, sample: Callable[[], str]) -> None:
        """One record of this resource was dead-lettered by `check`; `sample` gives its key,
        masked (asked for the first of each check only)."""
        self.invalid[check] = self.invalid.get(check, 0) + 1
        if check not in self.samples:
            self.samples[check] = sample()


@dataclass(frozen=True, slots=True)
class QualityFigures:
    """A resource's counts once its records were delivered (what the store keeps per minute)."""

    department: str
    resource: str
    seen: int
    invalid: dict[str, int]
    samples: dict[str, str]
    images: int
    nonnull: dict[str, int]
    filled: int
    weight: int
    routed: int
    late: int
    latency_ms_sum: int
    last_change_ms: int
    refs: int = 0
    unmatched: dict[str, int] = field(default_factory=dict)


def delivered(tally: ResourceTally, delivered_ms: int, late_seconds: float = LATE_SECONDS) -> QualityFigures:
    """The figures of a tally whose records Kafka acknowledged at `delivered_ms` (epoch ms):
    latency is exact (sum of delivered − commit), late the records past `late_seconds`."""
    commits = tally.commits_ms
    cutoff = delivered_ms - int(late_seconds * 1000)
    late = sum(1 for ts in commits if ts < cutoff)
    latency = max(0, len(commits) * delivered_ms - sum(commits))
    return QualityFigures(
        department=tally.department,
        resource=tally.resource,
        seen=tally.seen,
        invalid=dict(tally.invalid),
        samples=dict(tally.samples),
        images=tally.images,
        nonnull=dict(zip(tally.fields, tally.nonnull, strict=True)),
        filled=tally.filled,
        weight=tally.weight,
        routed=len(commits),
        late=late,
        latency_ms_sum=latency,
        last_change_ms=tally.last_change_ms,
        refs=tally.refs,
        unmatched=dict(tally.unmatched),
    )


def merge(figures: Iterable[QualityFigures]) -> list[QualityFigures]:
    """Figures of the same resource summed (one per resource, in first-seen order)."""
    out: dict[str, QualityFigures] = {}
    for f in figures:
        had = out.get(f.resource)
        if had is None:
            out[f.resource] = f
            continue
        out[f.resource] = QualityFigures(
            department=f.department,
            resource=f.resource,
            seen=had.seen + f.seen,
            invalid=_summed(had.invalid, f.invalid),
            samples={**f.samples, **had.samples},
            images=had.images + f.images,
            nonnull=_summed(had.nonnull, f.nonnull),
            filled=had.filled + f.filled,
            weight=had.weight + f.weight,
            routed=had.routed + f.routed,
            late=had.late + f.late,
            latency_ms_sum=had.latency_ms_sum + f.latency_ms_sum,
            last_change_ms=max(had.last_change_ms, f.last_change_ms),
            refs=had.refs + f.refs,
            unmatched=_summed(had.unmatched, f.unmatched),
        )
    return list(out.values())


def _summed(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


class Checked(Protocol):
    """What the tallies need of a resource's compiled checks."""

    @property
    def department(self) -> str: ...

    @property
    def resource(self) -> str: ...

    @property
    def field_names(self) -> tuple[str, ...]: ...

    @property
    def field_weights(self) -> tuple[int, ...]: ...

    @property
    def index_key(self) -> str | None: ...

    @property
    def references(self) -> tuple[Reference, ...]: ...


IMAGE_OPS = frozenset({"c", "u", "r"})
"""Debezium ops whose after-image completeness is counted over (creates, updates, snapshot reads)."""

Source = tuple[str, str, str]
"""An event's (connector name, schema or database, table), as `streams.policy.envelope` has it."""


class BatchQuality:
    """A batch's tallies, one per resource met: `record` is called for every change event with
    its source (the router's hot loop: a dict lookup, an increment, two appends and a C-level
    pick of the after-image's values: ~1.5 µs of the router's ~20 µs of CPU a record), `failed`
    for every one dead-lettered, `finish` once the batch is routed. With a `keys` index, the keys
    of referenced resources are kept in it as their changes pass (`key_changes`, for the keys
    topic) and referencing fields are looked up in it; `sample(resource, row)` masks a row's key."""

    __slots__ = ("_by_resource", "_checks", "_sample", "by_source", "key_changes", "keys")

    def __init__(
        self,
        checks: Mapping[Source, Checked],
        keys: KeyIndex | None = None,
        sample: Callable[[str, Mapping[str, Any]], str] | None = None,
    ) -> None:
        self._checks = checks
        self.keys = keys
        self._sample = sample
        self.by_source: dict[Source, ResourceTally | None] = {}
        self._by_resource: dict[str, ResourceTally] = {}
        self.key_changes: list[KeyChange] = []

    def record(self, where: Source, op: str, event: Mapping[str, Any], ts_ms: int | None) -> None:
        tally = self.by_source.get(where, _UNSEEN)
        if tally is _UNSEEN:
            tally = self._start(where)
        if tally is None:  # no resource's (a heartbeat table, an unknown source)
            return
        tally.seen += 1
        if ts_ms is not None:
            tally.commits_ms.append(ts_ms)
        if tally.key_field is not None:
            self._index(tally, tally.key_field, op, event)
        if op in IMAGE_OPS:
            after = event.get("after")
            if after.__class__ is dict:
                tally.afters.append(tally.pick(after))
                if tally.references:
                    self._refer(tally, after)

    def _index(self, tally: ResourceTally, key: str, op: str, event: Mapping[str, Any]) -> None:
        """Keep the key index in step with a change of a referenced resource."""
        keys, resource = self.keys, tally.resource
        if keys is None:
            return
        before, after = event.get("before"), event.get("after")
        old = before.get(key) if isinstance(before, dict) else None
        new = after.get(key) if isinstance(after, dict) and op in IMAGE_OPS else None
        if old is not None and old != new and keys.discard(resource, old):
            self.key_changes.append((resource, old, False))
        if new is not None and keys.add(resource, new):
            self.key_changes.append((resource, new, True))

    def _refer(self, tally: ResourceTally, after: Mapping[str, Any]) -> None:
        """Look the referencing fields of an after-image up in the key index."""
        keys = self.keys
        for ref in tally.references:
            value = after.get(ref.field)
            if value is None:
                continue
            tally.refs += 1
            if keys is not None and keys.has(ref.resource, value):
                continue
            problem = ref.problem
            tally.unmatched[problem] = tally.unmatched.get(problem, 0) + 1
            if problem not in tally.samples and self._sample is not None:
                tally.samples[problem] = self._sample(tally.resource, after)

    def finish(self) -> None:
        """The batch is routed: count what its tallies hold."""
        for tally in self._by_resource.values():
            tally.finish()

    def failed(self, resource: str, check: str, sample: Callable[[], str]) -> None:
        """A record of `resource` went to the dead letters, failing `check` (`sample`: its key, masked)."""
        tally = self._by_resource.get(resource)
        if tally is not None:
            tally.failed(check, sample)

    def tallies(self) -> list[ResourceTally]:
        return list(self._by_resource.values())

    def _start(self, where: Source) -> ResourceTally | None:
        checks = self._checks.get(where)
        tally = None
        if checks is not None:
            tally = self._by_resource[checks.resource] = ResourceTally(
                checks.department,
                checks.resource,
                checks.field_names,
                weights=checks.field_weights,
                key_field=checks.index_key,
                references=checks.references,
            )
        self.by_source[where] = tally
        return tally


_UNSEEN: Any = object()
