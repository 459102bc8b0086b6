"""The audit hash chain: links made by `link` verify intact; an altered, removed, inserted or
replayed record, a deleted prefix, a cut end and a rewrite against a noted anchor are each named
at the first broken link."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sharebus.core.audit_chain import GENESIS, HASH, START, Link, digest, link, verify
from sharebus.core.errors import UnreachableError


def chain(n: int) -> list[dict[str, Any]]:
    out, tail = [], START
    for i in range(n):
        record, tail = link(
            {"action": "acl.grant", "subject": f"5001{i:02d}", "count": 1, "detail": {}}, tail
        )
        out.append(record)
    return out


def entries(records: list[Any], first: int = 0) -> list[tuple[int, bytes | None]]:
    """As read from the partition: transaction markers take an offset each, so offsets skip."""
    return [(first + 2 * i, orjson.dumps(r)) for i, r in enumerate(records)]


def test_a_chain_as_written_is_intact_and_its_head_is_the_last_link() -> None:
    records = chain(5)
    report = verify(entries(records))
    assert report.intact and report.records == 5 and report.unchained == 0
    assert report.head == Link(4, records[-1][HASH])
    assert records[0]["prev"] == GENESIS and records[1]["prev"] == records[0][HASH]


def test_the_hash_covers_every_field_but_itself_in_any_key_order() -> None:
    record = chain(1)[0]
    assert digest(dict(reversed(list(record.items())))) == record[HASH]
    assert digest({**record, "count": 2}) != record[HASH]


def test_records_written_before_the_chain_began_are_counted_not_checked() -> None:
    legacy = [{"action": "acl.grant", "subject": "x"}] * 3
    report = verify(entries([*legacy, *chain(2)]))
    assert report.intact and (report.unchained, report.records) == (3, 2)


def test_an_altered_record_is_named() -> None:
    records = chain(4)
    records[2] = {**records[2], "count": 1000}
    report = verify(entries(records))
    assert report.broken is not None and (report.broken.offset, report.broken.seq) == (4, 2)
    assert "altered" in report.broken.problem and report.records == 2


def test_an_altered_record_with_its_hash_recomputed_breaks_the_next_link() -> None:
    records = chain(4)
    forged = {k: v for k, v in records[1].items() if k != HASH} | {"subject": "someone-else"}
    records[1] = {**forged, HASH: digest(forged)}
    report = verify(entries(records))
    assert report.broken is not None and report.broken.seq == 2
    assert "prev is not the hash" in report.broken.problem


def test_a_removed_record_is_named_by_the_gap() -> None:
    records = chain(5)
    del records[2]
    report = verify(entries(records))
    assert report.broken is not None and report.broken.seq == 3
    assert report.broken.problem == "records 2–2 are missing (removed)"


def test_a_replayed_record_is_named() -> None:
    records = chain(3)
    report = verify(entries([*records, records[1]]))
    assert report.broken is not None and "inserted or replayed" in report.broken.problem


def test_an_unchained_record_after_the_chain_began_is_an_insertion() -> None:
    report = verify(entries([*chain(2), {"action": "acl.grant"}]))
    assert report.broken is not None and report.broken.offset == 4 and "inserted" in report.broken.problem


def test_a_value_that_is_not_json_breaks_the_chain() -> None:
    good = entries(chain(2))
    report = verify([*good, (9, b"{not json")])
    assert report.broken is not None and report.broken.offset == 9


def test_a_deleted_prefix_is_named_by_the_log_start() -> None:
    records = chain(5)
    report = verify(entries(records[2:], first=4), log_start=4)
    assert report.broken is not None and report.broken.problem.startswith("offsets 0–3 were deleted")


def test_a_chain_that_starts_after_seq_0_is_missing_its_first_records() -> None:
    report = verify(entries(chain(5)[2:]))
    assert report.broken is not None and report.broken.problem == "records 0–1 are missing (removed)"


def test_an_anchor_catches_a_rewrite_with_every_hash_recomputed() -> None:
    original = chain(4)
    anchor = Link(2, original[2][HASH])
    assert verify(entries(original), anchor=anchor).intact
    rewritten, tail = [], START
    for r in original:
        body = {k: v for k, v in r.items() if k not in ("seq", "prev", HASH)}
        record, tail = link({**body, "subject": "rewritten"} if r["seq"] == 1 else body, tail)
        rewritten.append(record)
    assert verify(entries(rewritten)).intact  # a consistent forgery: only an anchor tells
    report = verify(entries(rewritten), anchor=anchor)
    assert report.broken is not None and report.broken.seq == 2 and "rewritten" in report.broken.problem


def test_an_anchor_past_the_end_means_the_chain_was_cut_short() -> None:
    records = chain(5)
    report = verify(entries(records[:3]), anchor=Link(4, records[4][HASH]))
    assert report.broken is not None and "cut short" in report.broken.problem


@pytest.mark.parametrize("text", ["3", "x:" + "a" * 64, "3:" + "a" * 63, "3:" + "g" * 64, ""])
def test_a_malformed_anchor_is_refused_with_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        Link.parse(text)


def test_an_anchor_round_trips() -> None:
    link_ = Link(12, "ab" * 32)
    assert Link.parse(link_.render()) == link_


def test_an_audit_write_waits_a_kafka_outage_out_within_the_tolerance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit timing out while Kafka is away is tried again while the watch still calls it an
    outage (the watch raises past its tolerance), not given up after the write's own timeout: the
    router crashed on an audit record written while a broker restarted (test_faults)."""
    from concurrent.futures import Future

    from confluent_kafka import KafkaError, KafkaException

    from sharebus.core import audit
    from sharebus.core.settings import Settings

    failures = {"left": 3}

    class Writer:
        tail = wrote = None

        def commit(self, topic: str, batch: list[object], timeout: float) -> None:
            if failures["left"]:
                failures["left"] -= 1
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT))

    class Watch:
        suspected = True
        back_at = None

        def failed(self, exc: BaseException) -> None: ...

        def check(self) -> None: ...

    def open_writer(self: audit.AuditLog, timeout: float, watch: object = None) -> None:
        ready: Future[object] = Future()
        ready.set_result(Writer())
        self._turn.ready = ready  # type: ignore[assignment]

    monkeypatch.setattr(audit.AuditLog, "open", open_writer)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    log = audit.AuditLog(settings)
    event = audit.event(settings, audit.SECURITY_ALERT, "x", "y", catalog_version=None)
    assert log.write([event], timeout=0.0, watch=Watch()) == 1  # type: ignore[arg-type]
    failures["left"] = 1
    with pytest.raises(UnreachableError, match="not written"):
        log.write([event], timeout=0.0)  # no watch: the write's own timeout holds


def test_an_audit_write_that_hung_through_an_outage_has_its_timeout_from_kafkas_return(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit blocked while Kafka restarted, then refused as fenced (the coordinator moved the
    producer's epoch on), is tried again with a fresh producer: the write's timeout runs from
    Kafka's return, not from the write's start — the router crashed 1.5 s after a broker restart
    on the first such answer (test_faults)."""
    import time
    from concurrent.futures import Future

    from confluent_kafka import KafkaError, KafkaException

    from sharebus.core import audit
    from sharebus.core.settings import Settings

    class Watch:
        suspected = False
        back_at: float | None = None

        def failed(self, exc: BaseException) -> None: ...

        def check(self) -> None: ...

    watch = Watch()
    commits: list[int] = []

    class Writer:
        tail = wrote = None

        def commit(self, topic: str, batch: list[object], timeout: float) -> None:
            commits.append(len(batch))
            if len(commits) == 1:
                time.sleep(0.3)  # hung through the outage, past the write's timeout
                watch.back_at = time.monotonic()
                raise KafkaException(KafkaError(KafkaError._FENCED, fatal=True))

    def open_writer(self: audit.AuditLog, timeout: float, watch: object = None) -> None:
        if self._turn.ready is None:
            ready: Future[object] = Future()
            ready.set_result(Writer())
            self._turn.ready = ready  # type: ignore[assignment]

    monkeypatch.setattr(audit.AuditLog, "open", open_writer)
    settings = Settings(_env_file=None, audit_topic="sharebus.audit.hung")  # type: ignore[call-arg]
    log = audit.AuditLog(settings)
    event = audit.event(settings, audit.SECURITY_ALERT, "x", "y", catalog_version=None)
    assert log.write([event], timeout=0.2, watch=watch) == 1  # type: ignore[arg-type]
    assert commits == [1, 1]


def test_the_audit_writers_of_one_process_share_one_turn() -> None:
    """Two writers of one login share a producer (they would fence each other otherwise); another
    login, or another audit topic, has a turn of its own."""
    from pydantic import SecretStr

    from sharebus.core import audit
    from sharebus.core.kafka_clients import Role
    from sharebus.core.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert audit.AuditLog(settings, Role.ROUTER)._turn is audit.AuditLog(settings, Role.ROUTER)._turn
    assert audit.AuditLog(settings, Role.ROUTER)._turn is not audit.AuditLog(settings, Role.ADMIN)._turn
    other = settings.model_copy(update={"kafka_router_password": SecretStr("another")})
    assert audit.AuditLog(other, Role.ROUTER)._turn is not audit.AuditLog(settings, Role.ROUTER)._turn
    topic = settings.model_copy(update={"audit_topic": "sharebus.audit.other"})
    assert audit.AuditLog(topic, Role.ROUTER)._turn is not audit.AuditLog(settings, Role.ROUTER)._turn
