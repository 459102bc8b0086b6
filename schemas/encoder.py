"""The hot path of delivery: per subscriber and resource, a registered schema and a precompiled
encoder producing the Confluent wire format (magic 0, schema id, Avro body)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from schemas.derive import MASK_PROPERTY, TYPE_PROPERTY, share_subject, value_schema
from schemas.errors import EncodeError, SchemaBookError
from schemas.registry_client import RegistryClient
from schemas.row_writer import compile_row_writer
from schemas.wire import header
from schemas.writers import RecordWriters, compile_record, write_record
from sharebus.catalog.models import Resource
from streams.policy.compiled import Entitlement, Policy

_VALUE_ERRORS = (TypeError, ValueError, OverflowError, AttributeError)


class Encoder:
    """Encodes records of one registered schema: `encode(value) -> bytes` in the wire format.

    `value` is a delivery's dict (field → Debezium JSON value); fields absent from the dict are
    null, keys beyond the schema are not written (the policy's projection decides the fields).
    """

    __slots__ = ("_header", "_row", "_writers_made", "label", "schema", "schema_id", "subject")

    def __init__(self, label: str, subject: str, schema_id: int, schema: Mapping[str, Any]) -> None:
        self.label = label  # the resource, for errors
        self.subject = subject
        self.schema_id = schema_id
        self.schema = schema
        self._header = header(schema_id)
        # Generated on first use: a worker registers every projection in force (~11,000 for the
        # city) but generates the writers of those it actually routes.
        self._writers_made: RecordWriters | None = None
        self._row: Callable[[Mapping[str, Any], Mapping[str, Any]], bytes] | None = None

    @property
    def _writers(self) -> RecordWriters:
        if self._writers_made is None:
            self._writers_made = compile_record(self.schema)
        return self._writers_made

    def encode(self, value: Mapping[str, Any]) -> bytes:
        out = bytearray(self._header)
        try:
            write_record(out, self._writers, value)
        except _VALUE_ERRORS as exc:
            raise self._error(value, exc) from exc
        return bytes(out)

    def encode_many(self, values: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """`encode` of each value, in order (one call per batch on the router's hot path)."""
        head, writers = self._header, self._writers
        out: list[bytes] = []
        for value in values:
            buf = bytearray(head)
            try:
                write_record(buf, writers, value)
            except _VALUE_ERRORS as exc:
                raise self._error(value, exc) from exc
            out.append(bytes(buf))
        return out

    def encode_row(self, row: Mapping[str, Any], masked: Mapping[str, Any]) -> bytes:
        """`encode` of this projection of `row`, read straight from the row: fields the schema
        marks masked (`sharebus.mask`) from `masked`, the others from `row` (the hot path)."""
        write = self._row
        if write is None:
            write = self._row = compile_row_writer(self.schema, self._header)
        try:
            return write(row, masked)
        except _VALUE_ERRORS as exc:
            fields = self.schema["fields"]
            value = {f["name"]: (masked if MASK_PROPERTY in f else row).get(f["name"]) for f in fields}
            raise self._error(value, exc) from exc

    def _error(self, value: Mapping[str, Any], exc: Exception) -> EncodeError:
        """Name the first field that does not fit (slow path: only after a failure)."""
        for spec, (name, nullable, write) in zip(self.schema["fields"], self._writers, strict=True):
            x = value.get(name)
            if nullable and x is None:
                continue
            try:
                write(bytearray(), x)
            except _VALUE_ERRORS as field_exc:
                return EncodeError(
                    f"{self.label} field {name}",
                    "does not fit the topic's Avro schema",
                    expected=f"{spec['type']} ({spec.get(TYPE_PROPERTY, '')})",
                    actual=f"{value.get(name)!r}: {field_exc}",
                    fix="the catalog's field type must match what the source database sends",
                )
        return EncodeError(self.label, f"record not encodable: {exc}")


Stream = tuple[str, str]
"""(subscriber, resource): one subscriber's records of one resource (on the topic of the
resource's department for that subscriber)."""


def _projection_of(policy: Policy, subscriber: str, resource: str, demand_id: str) -> Entitlement | None:
    """The projection the policy delivers to `subscriber` of `resource` under `demand_id`, whatever
    the time (None: none). Read from the policy's candidates when asked: a table of every one
    kept 491,000 entries at 20,000 resources (~95 MiB).

    Must agree with `Policy.entitlements`: a target's fields in resource order, and the fields
    delivered masked (maskable, and not granted in clear by the demand).
    """
    res = policy.resources.get(resource)
    if res is None:
        return None
    for c in res.candidates.get(subscriber, ()):
        t = c.target
        if t.demand_id == demand_id:
            return Entitlement(t.subscriber, res.id, t.topic, t.demand_id, t.fields, t.hidden)
    return None


Projection = tuple[str, tuple[str, ...], tuple[str, ...]]
"""(resource, fields, masked fields): what a schema depends on — not the subscriber."""

PREPARE_THREADS = 8


class SchemaBook:
    """The schemas of one policy version's subscriber records, registered once and cached.

    `encoder_for(subscriber, resource, demand_id)` is the hot path (a dict lookup after the first
    call). A schema depends on the resource and the projection only, so the districts of one
    `all-districts` demand share one encoder: one registration and one generated writer per
    projection (~11,000 at the city's size, not ~100,000), under the resource's record-name
    subject (`schemas.derive.share_subject`). `prepare()` registers every projection in force up
    front, a few at a time. Message keys are not Avro: see `schemas.keys`.
    """

    def __init__(
        self, registry: RegistryClient, policy: Policy, shared: dict[tuple[str, int], Encoder] | None = None
    ) -> None:
        self.registry = registry
        self.policy = policy
        self.shared = shared if shared is not None else {}  # (subject, id) → encoder, across versions
        self.city = policy.catalog.city.id
        self._values: dict[tuple[str, str, str], Encoder] = {}
        self._by_projection: dict[Projection, Encoder] = {}
        self._current: dict[Stream, Encoder] = {}  # projection in force until _current_until
        self._current_until = -math.inf
        self._lock = threading.Lock()

    def encoder_for(self, subscriber: str, resource: str, demand_id: str | None = None) -> Encoder:
        """The value encoder of `subscriber`'s `resource` under `demand_id` (the delivery's:
        exact), or, with None, of the projection in force now (cached until the next demand
        validity boundary)."""
        if demand_id is not None:
            encoder = self._values.get((subscriber, resource, demand_id))
            if encoder is None:
                encoder = self._values[(subscriber, resource, demand_id)] = self._encoder(
                    self._projection(subscriber, resource, demand_id)
                )
            return encoder
        if time.time() >= self._current_until:
            self._next_segment()
        encoder = self._current.get((subscriber, resource))
        if encoder is None:
            ent = self.entitlement(subscriber, resource)
            encoder = self.encoder_for(subscriber, resource, ent.demand_id)
            self._current[(subscriber, resource)] = encoder
        return encoder

    def _next_segment(self) -> None:
        """Forget the projections in force: a demand became valid or expired."""
        now = time.time()
        later = [b.timestamp() for r in self.policy.resources.values() for b in r.boundaries]
        self._current = {}
        self._current_until = min((b for b in later if b > now), default=math.inf)

    def entitlement(self, subscriber: str, resource: str, now: datetime | None = None) -> Entitlement:
        """`subscriber`'s projection of `resource` in force at `now` (default: now)."""
        for ent in self.policy.entitlements(now or datetime.now(UTC)):
            if ent.subscriber == subscriber and ent.resource == resource:
                return ent
        raise SchemaBookError(
            f"{resource} for {subscriber}",
            "has no projection in force",
            expected="an entitlement in force (`Policy.entitlements(now)`)",
            fix="pass the delivery's demand_id, or check the demand's status and validity",
        )

    def schema_for(self, subscriber: str, resource: str, demand_id: str) -> dict[str, Any]:
        """The value schema of a projection (derived from the catalog, not registered)."""
        ent = self._projection(subscriber, resource, demand_id)
        return value_schema(self.city, self._resource(ent.resource), ent.fields, ent.masked)

    def subject_for(self, ent: Entitlement) -> str:
        """The registry subject of an entitlement's values: the resource's record full name."""
        return share_subject(self.city, self._resource(ent.resource))

    def prepare(self, now: datetime | None = None) -> int:
        """Register the value schema of every projection in force, `PREPARE_THREADS` at a time;
        the number of entitlements (subscriber, resource) they serve."""
        entitlements = self.policy.entitlements(now or datetime.now(UTC))
        distinct = {(e.resource, e.fields, e.masked): e for e in entitlements}
        with ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="schema-prepare") as pool:
            list(pool.map(self._encoder, distinct.values()))
        # Each (subscriber, resource, demand) finds its projection's encoder when first routed:
        # filling all of them here kept 491,000 entries at 20,000 resources (~40 MiB).
        return len(entitlements)

    def _encoder(self, ent: Entitlement) -> Encoder:
        key = (ent.resource, ent.fields, ent.masked)
        encoder = self._by_projection.get(key)
        if encoder is not None:
            return encoder
        schema = value_schema(self.city, self._resource(ent.resource), ent.fields, ent.masked)
        subject = self.subject_for(ent)
        schema_id = self.registry.register(subject, schema)  # HTTP (once per client), outside the lock
        with self._lock:
            encoder = self._by_projection.get(key)
            if encoder is None:
                encoder = self.shared.get((subject, schema_id))
                if encoder is None:  # a new schema: its writer is generated once per process
                    encoder = self.shared[(subject, schema_id)] = Encoder(
                        ent.resource, subject, schema_id, schema
                    )
                self._by_projection[key] = encoder
        return encoder

    def _projection(self, subscriber: str, resource: str, demand_id: str) -> Entitlement:
        ent = _projection_of(self.policy, subscriber, resource, demand_id)
        if ent is None:
            raise SchemaBookError(
                f"{resource} for {subscriber}",
                f"has no projection under demand {demand_id}",
                expected="a (subscriber, resource, demand id) of this policy version's deliveries",
                fix="use the SchemaBook built from the same Policy that routed the delivery",
            )
        return ent

    def _resource(self, resource_id: str) -> Resource:
        resource = self.policy.catalog.resource(resource_id)
        assert resource is not None, f"{resource_id} is a resource of the policy's catalog"
        return resource
