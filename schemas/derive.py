"""Derive the Avro value schema of a subscriber topic from the catalog: the record of one
projection of a resource, and the resource's base (full-field) schema."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sharebus.catalog.models import Catalog, FieldSpec, FieldType, Grade, Resource, Sharing
from sharebus.core import naming
from sharebus.core.errors import ConfigError

# Catalog type → Avro type, for values as the encoder writes them (it converts from Debezium JSON):
# - decimal: string, exactly the digits Debezium sends (decimal.handling.mode=string). The catalog
#   declares no precision/scale, and an Avro decimal needs a fixed scale; a string never rounds.
# - date: int days since 1970-01-01 (logicalType date), as Debezium sends it.
# - timestamp (timestamptz): long microseconds since the epoch, UTC (logicalType timestamp-micros);
#   the encoder parses Debezium's ISO-8601 text. ClickHouse reads it as DateTime64(6), Connect's
#   AvroConverter as Timestamp, confluent-kafka's AvroDeserializer as an aware datetime.
AVRO_TYPES: dict[FieldType, Any] = {
    FieldType.STRING: "string",
    FieldType.INTEGER: "long",
    FieldType.DECIMAL: "string",
    FieldType.FLOAT: "double",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATE: {"type": "int", "logicalType": "date"},
    FieldType.TIMESTAMP: {"type": "long", "logicalType": "timestamp-micros"},
}

NAMESPACE_ROOT = "sharebus"
TYPE_PROPERTY = naming.AVRO_TYPE_PROPERTY  # the catalog type of a field (e.g. "decimal" behind a string)
MASK_PROPERTY = naming.AVRO_MASK_PROPERTY  # present when the field carries a masked value: the mask kind


def record_fullname(city: str, resource: Resource) -> str:
    """`sharebus.<city>.<department>.<Resource>`: the full name of a resource's value record."""
    return f"{namespace(city, resource)}.{record_name(resource)}"


def share_subject(city: str, resource: Resource) -> str:
    """Registry subject of a resource's values on every subscriber topic (RecordNameStrategy):
    `sharebus.<city>.<department>.<Resource>`. Its projections are its versions: every non-key
    field is nullable with default null and a field keeps its type in every projection, so any
    two are BACKWARD compatible."""
    return naming.record_subject(record_fullname(city, resource))


def namespace(city: str, resource: Resource) -> str:
    """`sharebus.<city>.<department>`, with '-' turned into '_' (Avro names allow no '-')."""
    return f"{NAMESPACE_ROOT}.{city}.{resource.department}".replace("-", "_")


def record_name(resource: Resource) -> str:
    """PascalCase of the resource's name: `market.enterprise` → `Enterprise` (unique within a
    department: the catalog's validation says so).

    One name per resource, not per subscriber: every projection of a resource is the same kind
    of record, and subscribers with identical projections share one schema (and one id).
    """
    return resource.record_name


def field_type(spec: FieldSpec) -> Any:
    """The Avro type of a field's values.

    A sensitive field is a string whether it is masked, pseudonymised or granted in clear, so a
    demand granting or withdrawing clear access never changes the field's type (that would break
    the topic's consumers).
    """
    if spec.grade is Grade.SENSITIVE:
        return "string"
    return AVRO_TYPES[spec.type]


def _field(spec: FieldSpec, *, in_key: bool, masked: bool) -> dict[str, Any]:
    avro = field_type(spec)
    # Must hold: every non-key field is nullable with default null, so adding a field is
    # BACKWARD compatible (new readers of old data get null) and old readers skip it.
    out: dict[str, Any] = {"name": spec.name}
    if in_key:
        out["type"] = avro
    else:
        out["type"] = ["null", avro]
        out["default"] = None
    if spec.description:
        out["doc"] = spec.description
    out[TYPE_PROPERTY] = spec.type.value
    if masked and spec.mask is not None:
        out[MASK_PROPERTY] = spec.mask.value
    return out


def _record_doc(resource: Resource) -> str:
    return f"{resource.title}: {resource.description}" if resource.description else resource.title


def value_schema(
    city: str,
    resource: Resource,
    fields: Sequence[str] | None = None,
    masked: Collection[str] = (),
) -> dict[str, Any]:
    """The value record of one projection: `fields` (default: every non-secret field) in catalog
    order, `masked` naming the fields delivered masked.

    The schema depends only on the catalog and the projection, never on the demand's id or
    dates: a renewed demand with the same projection keeps the same schema id.
    """
    chosen = set(fields) if fields is not None else None
    unknown = sorted((chosen or set()) - {f.name for f in resource.fields})
    if unknown:
        raise ConfigError(
            f"projection of {resource.id}",
            "names fields the catalog does not have",
            expected=", ".join(f.name for f in resource.fields),
            actual=", ".join(unknown),
            fix="derive schemas from the policy compiled from this same catalog",
        )
    out = []
    for spec in resource.fields:
        if chosen is not None and spec.name not in chosen:
            continue
        if spec.grade is Grade.SECRET:
            if chosen is None:
                continue
            raise ConfigError(
                f"projection of {resource.id}",
                f"includes the secret field {spec.name}",
                expected="secret fields are never delivered, so never in a schema",
                fix="derive schemas from the compiled policy's entitlements",
            )
        out.append(_field(spec, in_key=spec.name in resource.primary_key, masked=spec.name in masked))
    return {
        "type": "record",
        "name": record_name(resource),
        "namespace": namespace(city, resource),
        "doc": _record_doc(resource),
        "fields": out,
    }


def base_schema(city: str, resource: Resource) -> dict[str, Any]:
    """The resource's full schema: every non-secret field, in clear (the checked-in .avsc)."""
    return value_schema(city, resource)


def shared_resources(catalog: Catalog) -> tuple[Resource, ...]:
    """Resources that can reach a subscriber topic (not `not_shared`), in catalog order."""
    return tuple(r for r in catalog.resources if r.sharing is not Sharing.NOT_SHARED)
