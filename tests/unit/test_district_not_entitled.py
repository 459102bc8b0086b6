"""A district sync behind a withdrawal: a value whose schema the registry refuses because the
resource is no longer the district's is skipped and said once; any other refusal still stops it."""

from __future__ import annotations

from typing import Any, cast

import pytest
from confluent_kafka import Message

from schemas.errors import RegistryAccessError
from schemas.keys import share_key
from schemas.registry_client import NOT_ENTITLED, RegistryClient
from sharebus.apps.district.decode import ValueDecoder
from sharebus.apps.district.sync import DistrictSync, SyncOptions, SyncReport

RESOURCE = "realestate.certificate"
VALUE = b"\x00\x00\x00\x00\x07body"  # Confluent wire format, schema id 7


class Refusing:
    """A registry client refusing every schema with `code`."""

    def __init__(self, code: int) -> None:
        self.code = code

    def schema(self, schema_id: int) -> str:
        raise RegistryAccessError(
            "schema registry at https://r", f"refused GET /schemas/ids/{schema_id}", error_code=self.code
        )


class Record:
    def __init__(self, value: bytes | None) -> None:
        self._key = share_key(RESOURCE, {"cert_no": "C1"})
        self._value = value

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return []


def sync_with(code: int, said: list[str]) -> DistrictSync:
    """A sync's record handling alone (no Kafka, no database): what `_change` reads."""
    sync = object.__new__(DistrictSync)
    sync.subscriber = "500103"
    sync.options = SyncOptions()
    sync.decoder = ValueDecoder(cast(RegistryClient, Refusing(code)))
    sync.echo = said.append
    sync.report = SyncReport("500103", "share_500103")
    sync._said_not_entitled = set()
    return sync


def change(sync: DistrictSync, value: bytes | None, offset: int) -> Any:
    return sync._change(cast(Message, Record(value)), "share.500103.realestate", 0, offset)


def test_values_of_a_withdrawn_resource_are_skipped_and_said_once() -> None:
    said: list[str] = []
    sync = sync_with(NOT_ENTITLED, said)
    assert change(sync, VALUE, 1) is None and change(sync, VALUE, 2) is None
    assert sync.report.not_entitled == 2
    [line] = said
    assert RESOURCE in line and "tombstones" in line
    tombstone = change(sync, None, 3)  # the withdrawal's tombstone still deletes the row
    assert tombstone is not None and tombstone[1].record is None


def test_a_refused_login_still_stops_the_sync() -> None:
    sync = sync_with(40100, [])
    with pytest.raises(RegistryAccessError):
        change(sync, VALUE, 1)
