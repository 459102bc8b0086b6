"""Pydantic models of a city's catalog: the region, the catalog list, the demand list and the
responsibility list, and the validated `Catalog` that holds them with its content version."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal, NamedTuple, Self

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from sharebus.core import naming, pacing

FORMAT_VERSION = 1
"""The catalog file format this code reads (`format:` at the top of every YAML file)."""

ALL_DISTRICTS = "all-districts"
"""Demand shorthand: one demand per district of the city, each with id `<demand id>/<code>`."""

# Identifiers end up in topic names (`share.<subscriber>.<department>`), Avro names and headers:
# they stay inside Kafka's topic alphabet [a-zA-Z0-9._-] and Avro's name alphabet.
REGION_CODE = r"^[0-9]{6}$"
SLUG = r"^[a-z][a-z0-9-]{0,47}$"
SUBSCRIBER_REF = r"^([0-9]{6}|[a-z][a-z0-9-]{0,47})$"
# Department ids also name PostgreSQL replication slots and publications (`sharebus_<dept>`):
# lower-case letters, digits and underscores only (as connectors.render requires).
DEPARTMENT_ID = r"^[a-z][a-z0-9_]{0,40}$"
RESOURCE_ID = r"^[a-z][a-z0-9_]{0,40}\.[a-z][a-z0-9_-]{0,63}$"
CONNECTOR_NAME = rf"^{re.escape(naming.RAW_PREFIX)}[a-z][a-z0-9_]{{0,40}}$"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
FIELD_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
DEMAND_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

RegionCode = Annotated[str, StringConstraints(pattern=REGION_CODE)]
Slug = Annotated[str, StringConstraints(pattern=SLUG)]
SubscriberRef = Annotated[str, StringConstraints(pattern=SUBSCRIBER_REF)]
DepartmentId = Annotated[str, StringConstraints(pattern=DEPARTMENT_ID)]
ResourceId = Annotated[str, StringConstraints(pattern=RESOURCE_ID)]
FieldName = Annotated[str, StringConstraints(pattern=FIELD_NAME)]
DemandId = Annotated[str, StringConstraints(pattern=DEMAND_ID)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware timestamp, normalised to UTC so equal instants hash equally."""


class Grade(StrEnum):
    """Sensitivity grade (分类分级) of a field; the set is closed: anything else is an error."""

    PUBLIC = "public"  # delivered in clear
    INTERNAL = "internal"  # delivered in clear, inside government only
    SENSITIVE = "sensitive"  # masked per `mask` unless an approved demand grants it in clear
    SECRET = "secret"  # never delivered


class MaskKind(StrEnum):
    """How a sensitive field is delivered when not granted in clear."""

    ID_NUMBER = "id_number"  # the region code kept: 500101************
    PHONE = "phone"  # first 3 + last 4 kept: 138****5678
    NAME = "name"  # first character + '*'
    ADDRESS = "address"  # administrative prefix kept, rest '****'
    PSEUDONYM = "pseudonym"  # keyed HMAC-SHA256, same value → same pseudonym in every resource
    REDACT = "redact"  # the field is left out


class FieldType(StrEnum):
    """Value type of a field as Debezium delivers it in JSON (schemas disabled)."""

    STRING = "string"  # text, char, varchar → str
    INTEGER = "integer"  # smallint, int, bigint → int
    DECIMAL = "decimal"  # numeric → str (decimal.handling.mode=string)
    FLOAT = "float"  # real, double precision → number
    BOOLEAN = "boolean"  # boolean → bool
    DATE = "date"  # date → int days since 1970-01-01
    TIMESTAMP = "timestamp"  # timestamptz → ISO-8601 str with zone


class CodeKind(StrEnum):
    """A code with a check rule, verified on the bus."""

    USCI = "usci"  # GB 32100 unified social credit code
    RESIDENT_ID = "resident_id"  # GB 11643 resident identity number
    REGION = "region"  # a GB/T 2260 code of this city (its code or a district's)


class Sharing(StrEnum):
    """Sharing type (共享属性) of a resource."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHARED = "not_shared"


class Frequency(StrEnum):
    """Declared update frequency of a resource."""

    REALTIME = "realtime"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"


class DemandStatus(StrEnum):
    """State of a demand in the approval workflow."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class DistrictKind(StrEnum):
    """Kind of a GB/T 2260 county-level division (districts.csv `kind`)."""

    DISTRICT = "district"
    COUNTY = "county"
    COUNTY_LEVEL_CITY = "county-level city"


class SubscriberKind(StrEnum):
    """Kind of an extra (non-district) subscriber."""

    ZONE = "zone"  # a functional zone (两江新区): sees the rows of the districts it covers
    DEPARTMENT = "department"  # a city department receiving data flowing back up


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- region ----------------------------------------------------------------------------------
class City(_Model):
    """The city a deployment serves."""

    id: Slug
    name: Text
    code: RegionCode


class District(_Model):
    """One row of districts.csv: a district-level subscriber, id = its GB/T 2260 code."""

    code: RegionCode
    name: Text
    kind: DistrictKind


class Subscriber(_Model):
    """An extra subscriber (zone or department) with its explicit row filter.

    Rows of region-partitioned resources reach it only for `districts`, or for every district
    when `city_wide` is true; there is no implicit city-wide view.
    """

    id: Slug
    name: Text
    kind: SubscriberKind
    districts: tuple[RegionCode, ...] | None = None
    city_wide: bool = False
    description: str = ""


class RegionFile(_Model):
    """region.yaml: the city and its extra subscribers (districts come from districts.csv)."""

    format: Literal[1]
    city: City
    subscribers: tuple[Any, ...] = ()


# --- catalog list ----------------------------------------------------------------------------
class Department(_Model):
    """A department that owns resources."""

    id: DepartmentId
    name: Text


class Source(_Model):
    """Where a resource's change events come from: Debezium topic.prefix and `schema.table`."""

    connector: Annotated[str, StringConstraints(pattern=CONNECTOR_NAME)]
    table: Annotated[str, StringConstraints(pattern=TABLE_NAME)]

    @property
    def schema_name(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    @property
    def raw_topic(self) -> str:
        """The topic its change events arrive on: the connector's (every table of it shares it)."""
        return naming.raw_topic(self.connector)

    @property
    def table_topic(self) -> str:
        """Debezium's per-table topic, where its events arrived before the department topics."""
        return naming.raw_table_topic(self.connector, self.table)


class Reference(_Model):
    """A consistency rule (一数一源): a field's value must be a key of another resource — e.g.
    `hrss.social_insurance.employer_usci` a `market.enterprise` — checked on every change,
    mismatches counted (the consistency indicator), dead-lettered only with `dead_letter: true`."""

    resource: ResourceId
    dead_letter: bool = False


def _reference(value: Any) -> Any:
    return {"resource": value} if isinstance(value, str) else value


class FieldSpec(_Model):
    """A field of a resource: type, sensitivity grade, mask, and what quality checks apply."""

    name: FieldName
    type: FieldType
    grade: Grade
    mask: MaskKind | None = None
    code: CodeKind | None = None
    values: tuple[str, ...] | None = None
    required: bool = False
    description: str = ""
    # `references: market.enterprise`, or `{resource: market.enterprise, dead_letter: true}`;
    # absent from the catalog's version when unset (versions from before the rule stay).
    references: Annotated[Reference | None, BeforeValidator(_reference)] = Field(
        None, exclude_if=lambda value: value is None
    )


class Resource(_Model):
    """One entry of the catalog list (目录清单)."""

    id: ResourceId
    title: Text
    department: DepartmentId
    source: Source
    primary_key: tuple[FieldName, ...] = Field(min_length=1)
    sharing: Sharing
    legal_basis: str | None = None
    region_field: FieldName | None = None
    update_frequency: Frequency
    fields: tuple[FieldSpec, ...] = Field(min_length=1)
    description: str = ""

    @property
    def record_name(self) -> str:
        """PascalCase of the resource's name (`market.enterprise` → `Enterprise`): its Avro record
        name, unique within its department (its subscriber topics carry the department's
        resources side by side, one registry subject per record name)."""
        local = self.id.split(".", 1)[1]
        return "".join(part[:1].upper() + part[1:] for part in local.replace("-", "_").split("_") if part)

    def field(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None


class CatalogFile(_Model):
    """catalog.yaml: departments and their resources."""

    format: Literal[1]
    departments: tuple[Any, ...] = ()
    resources: tuple[Any, ...] = ()


# --- demand list -----------------------------------------------------------------------------
class Demand(_Model):
    """One entry of the demand list (需求清单): a subscriber's request for a resource.

    `fields` omitted = every non-secret field (unconditional resources only); `clear` lists
    sensitive fields granted unmasked, effective only while the demand is approved.
    The validity window is [valid_from, valid_until).
    """

    id: DemandId
    subscriber: SubscriberRef
    resource: ResourceId
    purpose: Text
    status: DemandStatus
    fields: tuple[FieldName, ...] | None = None
    clear: tuple[FieldName, ...] = ()
    valid_from: UtcDatetime
    valid_until: UtcDatetime | None = None
    approver: str | None = None
    note: str = ""


class DemandFile(_Model):
    """demands.yaml."""

    format: Literal[1]
    demands: tuple[Any, ...] = ()


# --- responsibility list ---------------------------------------------------------------------
class Contact(_Model):
    """Who to reach about a resource; at least a phone or an e-mail."""

    name: Text
    phone: str | None = None
    email: str | None = None


class Responsibility(_Model):
    """One entry of the responsibility list (责任清单): who answers for a resource and its data."""

    resource: ResourceId
    unit: Text
    contact: Contact


class ResponsibilityFile(_Model):
    """responsibility.yaml."""

    format: Literal[1]
    responsibilities: tuple[Any, ...] = ()


# --- the whole catalog -----------------------------------------------------------------------
class SubscriberDemand(NamedTuple):
    """A demand bound to one concrete subscriber (an `all-districts` demand yields one per
    district, with id `<demand id>/<district code>`). A tuple: the city's ~100,000 are made fast."""

    id: str
    subscriber: str
    demand: Demand
    expanded: bool


class Catalog(_Model):
    """A validated city catalog: the region and the three lists, as loaded (file order)."""

    city: City
    districts: tuple[District, ...]
    subscribers: tuple[Subscriber, ...]
    departments: tuple[Department, ...]
    resources: tuple[Resource, ...]
    demands: tuple[Demand, ...]
    responsibilities: tuple[Responsibility, ...]

    def canonical(self) -> dict[str, Any]:
        """The catalog as JSON-able data in a canonical order (entries sorted by id; field
        order within a resource kept, since it is the record layout)."""
        # Entry by entry: one dump of the whole catalog is a single call of ~0.4 s at the city's
        # size that holds the GIL, and a worker computes this beside its routing thread.
        data: dict[str, Any] = {
            name: [_dumped(entry) for entry in getattr(self, name)]
            for name in (
                "districts",
                "subscribers",
                "departments",
                "resources",
                "demands",
                "responsibilities",
            )
        }
        data["city"] = self.city.model_dump(mode="json")
        data["districts"].sort(key=lambda d: d["code"])
        for name in ("subscribers", "departments", "resources", "demands"):
            data[name].sort(key=lambda e: e["id"])
        data["responsibilities"].sort(key=lambda r: r["resource"])
        return data

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy whose derived values (`version`, the resource index) are computed again: pydantic
        copies the instance dict, where `cached_property` keeps them, so a changed copy kept the
        original's version."""
        copy = super().model_copy(update=update, deep=deep)
        for derived in _DERIVED:
            copy.__dict__.pop(derived, None)
        return copy

    @cached_property
    def version(self) -> str:
        """Content version: first 16 hex of sha256 over the canonical JSON."""
        digest = hashlib.sha256()
        for part in canonical_json(self.canonical()):
            digest.update(part)
        return digest.hexdigest()[:16]

    def resource(self, resource_id: str) -> Resource | None:
        return self._resources_by_id.get(resource_id)

    @cached_property
    def _resources_by_id(self) -> dict[str, Resource]:
        return {res.id: res for res in self.resources}

    def subscriber_ids(self) -> tuple[str, ...]:
        """Every subscriber: district codes, then extra subscribers."""
        return tuple(d.code for d in self.districts) + tuple(s.id for s in self.subscribers)

    def subscriber_demands(self) -> tuple[SubscriberDemand, ...]:
        """Demands bound to concrete subscribers, `all-districts` expanded."""
        out: list[SubscriberDemand] = []
        for demand in self.demands:
            if demand.subscriber == ALL_DISTRICTS:
                out.extend(
                    SubscriberDemand(f"{demand.id}/{d.code}", d.code, demand, True) for d in self.districts
                )
            else:
                out.append(SubscriberDemand(demand.id, demand.subscriber, demand, False))
        return tuple(out)


_DERIVED = ("version", "_resources_by_id")
"""Catalog's cached_property values: derived from the lists, never copied."""


def _dumped(entry: BaseModel) -> dict[str, Any]:
    pacing.pace()
    return entry.model_dump(mode="json")


def canonical_json(data: dict[str, Any]) -> Iterator[bytes]:
    """The bytes of `orjson.dumps(data, option=OPT_SORT_KEYS)`, made entry by entry: one dump of
    the city's catalog is a single call of ~0.15 s that holds the GIL beside a routing thread."""
    yield b"{"
    for n, key in enumerate(sorted(data)):
        yield (b"," if n else b"") + orjson.dumps(key) + b":"
        value = data[key]
        if isinstance(value, list):
            yield b"["
            for i, entry in enumerate(value):
                pacing.pace()
                yield (b"," if i else b"") + orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
            yield b"]"
        else:
            yield orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    yield b"}"
