"""The bus as ops see it, from the catalog: subscribers (districts first), departments, resources,
and which raw, subscriber and dead-letter topic belongs to whom."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from sharebus.catalog.models import Catalog
from sharebus.core import naming


@dataclass(frozen=True, slots=True)
class SubscriberInfo:
    """A subscriber: a district (id = its GB/T 2260 code) or an extra zone or department."""

    id: str
    name: str
    kind: str  # district | county | county-level city | zone | department

    @property
    def is_district(self) -> bool:
        return self.kind not in ("zone", "department")


@dataclass(frozen=True, slots=True)
class ShareTopic:
    """`share.<subscriber>.<department>`: what one subscriber receives of one department."""

    topic: str
    subscriber: str
    department: str


@dataclass(frozen=True)
class Topology:
    """Names and ownership; `version` is the catalog version it was built from."""

    version: str
    subscribers: tuple[SubscriberInfo, ...]
    departments: Mapping[str, str]  # id → name
    resources: Mapping[str, str]  # resource id → department id
    raw_topics: Mapping[str, tuple[str, ...]]  # raw topic → resource ids read from it
    dlq_topics: Mapping[str, str] = field(default_factory=dict)  # dead-letter topic → department

    def subscriber(self, sid: str) -> SubscriberInfo | None:
        return self._by_id.get(sid)

    @cached_property
    def _by_id(self) -> dict[str, SubscriberInfo]:
        return {s.id: s for s in self.subscribers}

    def subscriber_of_group(self, group: str) -> str | None:
        """`<subscriber>.<anything>` → the subscriber (the naming rule districts' consumers follow)."""
        head = naming.subscriber_of_group(group)
        return head if head in self._ids else None

    @cached_property
    def _ids(self) -> frozenset[str]:
        return frozenset(s.id for s in self.subscribers)

    def share_topics(self, names: Iterable[str]) -> dict[str, ShareTopic]:
        """The subscriber topics among `names` (`share.<subscriber>.<department>` of a known
        subscriber and department)."""
        ids = self._ids
        found: dict[str, ShareTopic] = {}
        for name in names:
            parsed = naming.parse_share_topic(name)
            if parsed is None:
                continue
            sid, department = parsed
            if sid in ids and department in self.departments:
                found[name] = ShareTopic(name, sid, department)
        return found

    def department_of_raw(self, topic: str) -> str:
        resources = self.raw_topics.get(topic, ())
        return self.resources.get(resources[0], "") if resources else naming.department_of_raw_topic(topic)

    def wanted(self, names: Iterable[str]) -> list[str]:
        """Of the existing topic `names`: the raw, subscriber and dead-letter topics to sample."""
        names = list(names)
        shares = self.share_topics(names)
        return sorted(n for n in names if n in self.raw_topics or n in self.dlq_topics or n in shares)


def topology_of(catalog: Catalog) -> Topology:
    """Districts (in code order) first, then the extra subscribers (in id order)."""
    districts = sorted(catalog.districts, key=lambda d: d.code)
    extra = sorted(catalog.subscribers, key=lambda s: s.id)
    subscribers = tuple(SubscriberInfo(d.code, d.name, str(d.kind)) for d in districts) + tuple(
        SubscriberInfo(s.id, s.name, str(s.kind)) for s in extra
    )
    departments = {d.id: d.name for d in catalog.departments}
    for res in catalog.resources:
        departments.setdefault(res.department, res.department)
    raw: dict[str, list[str]] = {}
    for res in catalog.resources:
        raw.setdefault(res.source.raw_topic, []).append(res.id)
    return Topology(
        version=catalog.version,
        subscribers=subscribers,
        departments=departments,
        resources={r.id: r.department for r in catalog.resources},
        raw_topics={topic: tuple(ids) for topic, ids in sorted(raw.items())},
        dlq_topics={naming.dlq_topic(d): d for d in sorted(departments)},
    )
