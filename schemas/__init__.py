"""The Avro contract districts consume: schemas derived from the catalog, the Confluent wire
format encoder, and the Confluent-REST schema registry (client and server)."""

from schemas.derive import base_schema, value_schema, value_subject
from schemas.encoder import Encoder, SchemaBook
from schemas.errors import (
    EncodeError,
    RegistryError,
    RegistryUnreachableError,
    SchemaIncompatibleError,
)
from schemas.keys import key_bytes, key_from_bytes
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
    "value_schema",
    "value_subject",
]
