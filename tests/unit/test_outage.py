"""Riding out a Kafka outage: suspected, confirmed by the probe, cleared, and past the tolerance an error."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException

from sharebus.core.errors import ExitCode, UnreachableError
from sharebus.core.kafka_chatter import CHATTER, LIBRDKAFKA_FORMAT, OncePerState
from sharebus.core.outage import KafkaWatch, describe, transient
from sharebus.testing.waiting import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Probe:
    def __init__(self) -> None:
        self.up = False
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if not self.up:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused"))


def watch(clock: Clock, probe: Probe, tolerance: float = 300.0) -> KafkaWatch:
    conf = {"bootstrap.servers": "127.0.0.1:1"}
    return KafkaWatch(conf, tolerance, component="router", probe=probe, probe_every=0.01, clock=clock)


def test_an_outage_is_confirmed_by_the_probe_then_cleared_when_kafka_answers() -> None:
    clock, probe = Clock(), Probe()
    w = watch(clock, probe)
    assert w.status() is None
    w.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    wait_until(lambda: w.unreachable, 5, "the probe confirms the outage", interval=0.01)
    clock.now += 12
    assert w.status() == "Kafka unreachable for 12 s (tolerance 5 min)"
    w.check()  # within the tolerance: waited out
    probe.up = True
    wait_until(lambda: not w.unreachable, 5, "the probe sees Kafka back", interval=0.01)
    assert w.outages == 1
    w.close()


def test_a_broker_closing_an_idle_connection_is_no_outage() -> None:
    clock, probe = Clock(), Probe()
    probe.up = True
    w = watch(clock, probe)
    w.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    wait_until(lambda: probe.calls >= 1, 5, "a probe", interval=0.01)
    wait_until(lambda: not w.suspected, 5, "the probe clears the suspicion", interval=0.01)
    clock.now += 3600  # an hour later, a batch arrives: no stale outage makes it fail
    w.check()
    assert w.outages == 0
    w.close()


def test_past_the_tolerance_one_clear_error_names_broker_duration_and_setting() -> None:
    clock, probe = Clock(), Probe()
    w = watch(clock, probe, tolerance=300)
    w.suspect("_TRANSPORT: Connection refused")
    wait_until(lambda: w.unreachable, 5, "the probe confirms the outage", interval=0.01)
    clock.now += 301
    with pytest.raises(UnreachableError) as caught:
        w.check()
    err = caught.value
    assert err.exit_code is ExitCode.UNREACHABLE
    assert "Kafka at 127.0.0.1:1" in str(err)
    assert "unreachable for 5 min" in str(err)
    assert "SHAREBUS_KAFKA_OUTAGE_TOLERANCE=300 s" in str(err)
    assert "Connection refused" in str(err)
    w.close()


def test_call_retries_a_transient_failure_and_raises_others_at_once() -> None:
    clock, probe = Clock(), Probe()
    w = watch(clock, probe)
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
        return "metadata"

    assert w.call(flaky, pause=0.01) == "metadata"
    assert len(attempts) == 3

    def denied() -> None:
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"))

    with pytest.raises(KafkaException):
        w.call(denied, pause=0.01)
    w.close()


def test_transient_and_describe() -> None:
    assert transient(KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN)))
    assert transient(KafkaException(KafkaError(KafkaError.NOT_COORDINATOR)))
    assert not transient(KafkaException(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED)))
    assert not transient(ValueError("x"))
    assert transient(KafkaError(KafkaError._TRANSPORT)) and not transient(
        KafkaError(KafkaError._AUTHENTICATION)
    )
    assert [describe(s) for s in (12, 119, 300, 3600, 5400)] == [
        "12 s",
        "119 s",
        "5 min",
        "1 h",
        "1 h 30 min",
    ]


def test_librdkafka_lines_come_once_per_state_and_never_above_warning() -> None:
    gate = OncePerState(quiet_for=60)

    def line(text: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(
            "x", level, __file__, 1, LIBRDKAFKA_FORMAT, ("FAIL", "rdkafka#consumer-1", text), None
        )

    refused = "sasl_plaintext://127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: Connection refused"
    first = line(refused + " (after 0ms in state CONNECT)")
    assert gate.filter(first)
    assert first.levelno == logging.WARNING
    assert not gate.filter(line(refused + " (after 1ms in state CONNECT, 4 identical error(s) suppressed)"))
    assert gate.filter(line("sasl_plaintext://127.0.0.1:9094/1: Connect to ipv4#127.0.0.1:9094 failed"))
    plain = logging.LogRecord("x", logging.ERROR, __file__, 1, "our own line", None, None)
    assert gate.filter(plain) and plain.levelno == logging.ERROR  # only librdkafka's are gated


def test_chatter_never_reaches_a_bare_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    CHATTER.log(logging.ERROR, LIBRDKAFKA_FORMAT, "FAIL", "rdkafka#producer-1", "a unique refused line")
    assert capsys.readouterr().err == ""
