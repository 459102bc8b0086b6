"""The naming contract: made in one module, parsed back the same way, spelled nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sharebus.core import naming

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sharebus", "streams", "connectors", "schemas", "bench")
NAMING = ROOT / "sharebus" / "core" / "naming.py"
# A string literal (plain, f-, r- or b-) that starts with a name of the public contract.
STRAY = re.compile(
    r"""(?<![\w])[rbfRBF]{0,2}["'](?:share\.(?!coordinator\.)|dlq\.|cdc[.-]|_?sharebus[.-](?:source|policy"""
    r"""|demand|op|dlq|type|mask|notifications|schema-history|schemas|catalog\b(?!-)|catalog-reader|audit\b"""
    r"""|audit-reader|connect-(?:configs|offsets|statuses)|registry|ops-reader|ops-commits|backfill|notify|run-watch)\b)"""
)


def _python_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if p != NAMING)


def test_no_contract_name_is_spelled_outside_the_naming_module() -> None:
    stray = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _python_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if STRAY.search(line) and not line.lstrip().startswith("#")
    ]
    assert not stray, "make these names with sharebus.core.naming:\n" + "\n".join(stray)


def test_the_grep_finds_what_it_must() -> None:
    found = (
        't = f"share.{s}.{r}"',
        "x = 'dlq.market'",
        'p = "cdc.market"',
        'n = "cdc-market"',
        'h = "sharebus.source.lsn"',
        'g = "sharebus-ops-reader"',
    )
    for line in found:
        assert STRAY.search(line), line
    allowed = (
        'log = logging.getLogger("sharebus.router")',
        'x = "shared"',
        'm = "sharebus_router_records"',
        '"share.coordinator.state.topic.min.isr": 1',  # Kafka's own broker setting
        'SecretStr("sharebus-connect-local")',  # a principal's default password, not a name
    )
    for line in allowed:
        assert not STRAY.search(line), line


def test_raw_names_parse_back() -> None:
    assert naming.raw_prefix("market") == "cdc.market"
    assert naming.raw_topic("cdc.market") == "cdc.market"
    assert naming.raw_table_topic("cdc.market", "public.enterprise") == "cdc.market.public.enterprise"
    assert naming.department_of_raw_topic("cdc.market") == "market"
    assert naming.department_of_raw_prefix("cdc.market") == "market"
    assert naming.department_of_raw_prefix("other.market") is None
    assert naming.department_of_raw_topic("cdc.market.public.enterprise") == "market"
    assert naming.department_of_raw_topic("weird") == "unknown"
    assert naming.connector_name("market") == "cdc-market"
    assert naming.department_of_connector("cdc-market") == "market"
    assert naming.department_of_connector("mirror-1") is None
    assert naming.connector_of_source("cdc.market") == "cdc-market"
    assert naming.connector_of_source("elsewhere") == "elsewhere"
    assert naming.slot_name("market") == naming.publication_name("market") == "sharebus_market"
    assert naming.db_password_secret("hrss") == "cdc-hrss.db-password"


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("share.500103.market", ("500103", "market")),
        ("share.civil-affairs.district_500103", ("civil-affairs", "district_500103")),
        ("share.500103.market.enterprise", None),  # the per-resource layout
        ("share.500103", None),
        ("share..x", None),
        ("dlq.market", None),
    ],
)
def test_share_topics_parse_back(topic: str, parsed: tuple[str, str] | None) -> None:
    assert naming.parse_share_topic(topic) == parsed
    if parsed is not None:
        assert naming.share_topic(*parsed) == topic
        assert topic.startswith(naming.share_prefix(parsed[0]))


def test_groups_follow_the_subscriber_rule() -> None:
    assert naming.sync_group("500103") == "500103.sync"
    assert naming.subscriber_of_group("500103.sync") == "500103"
    assert naming.subscriber_of_group("sharebus-ops-reader") is None
    assert naming.dlq_topic("market") == "dlq.market"
    assert naming.department_of_dlq("dlq.market") == "market"
    assert naming.backfills_topic("sharebus.catalog") == "sharebus.catalog.backfills"
    assert naming.value_subject("sharebus.audit") == "sharebus.audit-value"
    assert (
        naming.record_subject("sharebus.chongqing.market.Enterprise")
        == "sharebus.chongqing.market.Enterprise"
    )


def test_the_per_resource_layout_parses_back_for_migration() -> None:
    legacy = naming.parse_legacy_share_topic("share.500103.market.enterprise")
    assert legacy == ("500103", "market.enterprise")
    assert naming.parse_legacy_share_topic("share.500103.market") is None


def test_the_router_owns_its_app_prefix() -> None:
    assert naming.faust_app_id("sharebus-router") == "sharebus-router.app"
    assert naming.faust_app_id("r").startswith(naming.app_prefix("r"))
