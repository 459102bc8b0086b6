"""Wire the worker: Avro encoders from the schema registry, then run the router."""

from __future__ import annotations

from collections.abc import Callable

from schemas.encoder import SchemaBook
from schemas.registry_client import RegistryClient
from sharebus.settings import Settings
from streams.policy.compiled import Policy
from streams.router.batch import EncoderFor
from streams.router.worker import run_worker


def avro_encoders(settings: Settings) -> Callable[[Policy], EncoderFor]:
    """For each policy version: its subscriber topics' schemas registered up front, then the
    encoder per (topic, demand) — the Confluent wire format districts read."""
    client = RegistryClient(settings.registry_url)

    def for_policy(policy: Policy) -> EncoderFor:
        book = SchemaBook(client, policy)
        book.prepare()
        return book.encoder_for

    return for_policy


def start_worker(settings: Settings, *, log_level: str = "info") -> None:
    run_worker(settings, encoder_for=avro_encoders(settings), log_level=log_level)
