"""The Avro contract districts consume: schemas derived from the catalog, the Confluent wire
format encoder, and the Confluent-REST schema registry (client and server)."""

from schemas.derive import base_schema, record_fullname, share_subject, value_schema
from schemas.encoder import Encoder, SchemaBook
from schemas.errors import (
    EncodeError,
    RegistryError,
    RegistryUnreachableError,
    SchemaIncompatibleError,
)
from schemas.keys import key_bytes, key_from_bytes, parse_share_key, share_key
from schemas.registry_client import RegistryClient

__all__ = [
    "EncodeError",
    "Encoder",
    "RegistryClient",
    "RegistryError",
    "RegistryUnreachableError",
    "SchemaBook",
    "SchemaIncompatibleError",
    "base_schema",
    "key_bytes",
    "key_from_bytes",
    "parse_share_key",
    "record_fullname",
    "share_key",
    "share_subject",
    "value_schema",
]
