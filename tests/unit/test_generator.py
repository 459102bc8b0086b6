"""Fast tests (no database) of the sample row factories, district loading and change counting."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sharebus.core.errors import ConfigError
from sharebus.core.gbcodes import is_valid_resident_id, is_valid_usci
from sharebus.core.settings import Settings
from sharebus.dev.samples.departments import (
    DEPARTMENTS,
    District,
    districts_csv,
    get_department,
    load_districts,
)
from sharebus.dev.samples.generator import ChangeCounts, ChangeGenerator
from sharebus.dev.samples.rows import RowFactory

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
CITIES = {"chongqing": ("重庆", "渝"), "zhuzhou": ("株洲", "湘")}
PHONE = re.compile(r"^1[3-9]\d{9}$")
PARCEL = re.compile(r"^(\d{6})\d{6}[A-Z]{2}\d{5}$")


def settings_for(city: str) -> Settings:
    return Settings(city=city, catalog_dir=CATALOG, _env_file=None)


def factory_for(city: str, seed: int = 0) -> RowFactory:
    return RowFactory(load_districts(districts_csv(settings_for(city))), city=city, seed=seed, now=NOW)


def district_codes(city: str) -> set[str]:
    return {d.code for d in load_districts(CATALOG / city / "districts.csv")}


@pytest.fixture(params=sorted(CITIES))
def city(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_districts_come_from_the_city_csv(city: str) -> None:
    districts = load_districts(districts_csv(settings_for(city)))
    assert districts and all(re.fullmatch(r"\d{6}", d.code) and d.name for d in districts)
    assert {d.code for d in districts} == district_codes(city)


def test_enterprise_rows_are_valid(city: str) -> None:
    f, codes = factory_for(city), district_codes(city)
    city_zh = CITIES[city][0]
    for _ in range(500):
        row = f.enterprise()
        assert is_valid_usci(row["uscc"]), row["uscc"]
        assert row["uscc"][:2] == "91" and row["uscc"][2:8] == row["district_code"]
        assert row["district_code"] in codes
        assert is_valid_resident_id(row["legal_rep_id"]), row["legal_rep_id"]
        assert row["legal_rep_id"][:6] in codes
        born = datetime.strptime(row["legal_rep_id"][6:14], "%Y%m%d")
        assert 1950 <= born.year <= 2005
        assert row["phone"] is None or PHONE.match(row["phone"])
        assert row["name"].startswith(city_zh) and row["name"].endswith("公司")
        assert row["address"].startswith(f"{city_zh}市{f.by_code[row['district_code']].name}")
        assert isinstance(row["reg_capital"], Decimal) and row["reg_capital"] > 0
        assert row["reg_capital"].as_tuple().exponent == -2
        assert row["status"] in {"active", "suspended", "revoked", "cancelled"}
        assert row["established_on"] <= NOW.date()
        assert row["created_at"].tzinfo is not None and row["updated_at"].tzinfo is not None
        assert row["created_at"] <= row["updated_at"] <= NOW
        assert len(row["legal_rep_name"]) in (2, 3)


def test_certificate_rows_are_valid(city: str) -> None:
    f, codes = factory_for(city), district_codes(city)
    province = CITIES[city][1]
    cert = re.compile(rf"^{province}\((\d{{4}})\)(\S+?)不动产权第(\d{{7}})号$")
    for seq in range(1, 501):
        row = f.certificate(seq)
        m = cert.match(row["cert_no"])
        assert m, row["cert_no"]
        assert int(m.group(1)) == row["registered_on"].year
        assert m.group(2) == f.by_code[row["district_code"]].name
        assert int(m.group(3)) == seq
        assert row["district_code"] in codes
        parcel = PARCEL.match(row["parcel_no"])
        assert parcel and len(row["parcel_no"]) == 19, row["parcel_no"]
        assert parcel.group(1) == row["district_code"]
        assert is_valid_resident_id(row["owner_id"]) and row["owner_id"][:6] in codes
        assert isinstance(row["area_m2"], Decimal) and row["area_m2"] > 0
        assert row["use"] in {"residential", "commercial", "industrial", "office", "other"}
        assert row["registered_on"] <= NOW.date() and row["updated_at"] <= NOW


def test_certificate_example_format() -> None:
    f = factory_for("chongqing")
    wanzhou = f.by_code["500101"]
    assert f.cert_no(2025, wanzhou, 1234) == "渝(2025)万州区不动产权第0001234号"


def test_inspection_keeps_the_enterprise_and_its_district() -> None:
    f = factory_for("chongqing")
    ent = f.enterprise()
    row = f.inspection(ent["uscc"], ent["district_code"])
    assert (row["uscc"], row["district_code"]) == (ent["uscc"], ent["district_code"])
    assert row["finding"] and row["inspector"] and row["inspected_at"] <= NOW


def test_districts_are_only_the_citys_own() -> None:
    cq, zz = district_codes("chongqing"), district_codes("zhuzhou")
    assert not cq & zz
    f = factory_for("zhuzhou")
    used = {f.enterprise()["district_code"] for _ in range(1000)}
    used |= {f.certificate(i)["district_code"] for i in range(1000)}
    assert used == zz  # every Zhuzhou district drawn, nothing else
    assert not used & cq


def test_rows_are_deterministic_for_a_seed(city: str) -> None:
    a, b, c = factory_for(city, seed=42), factory_for(city, seed=42), factory_for(city, seed=43)
    rows_a = [a.enterprise() for _ in range(50)] + [a.certificate(i) for i in range(50)]
    rows_b = [b.enterprise() for _ in range(50)] + [b.certificate(i) for i in range(50)]
    rows_c = [c.enterprise() for _ in range(50)] + [c.certificate(i) for i in range(50)]
    assert rows_a == rows_b
    assert rows_a != rows_c


def test_move_target_is_a_different_district() -> None:
    f = factory_for("zhuzhou")
    for d in f.districts:
        assert all(f.district(other_than=d.code).code != d.code for _ in range(50))
    single = RowFactory([District("430202", "荷塘区", "district")], city="zhuzhou")
    assert single.district(other_than="430202").code == "430202"


def test_unknown_city_falls_back_to_empty_names() -> None:
    f = RowFactory([District("110101", "东城区", "district")], city="beijing", now=NOW)
    assert f.city_name_zh == "" and f.province_short == ""
    assert f.enterprise()["address"].startswith("东城区")
    named = RowFactory([District("110101", "东城区", "district")], city_name_zh="北京")
    assert named.province_short == "北京"
    assert named.cert_no(2024, named.districts[0], 7) == "北京(2024)东城区不动产权第0000007号"


def test_missing_district_csv_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="district list is missing"):
        load_districts(tmp_path / "nowhere" / "districts.csv")


def test_bad_district_row_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "districts.csv"
    path.write_text("code,name,kind\n500101,万州区,district\n50010X,坏区,district\n", "utf-8")
    with pytest.raises(ConfigError, match="line 3") as info:
        load_districts(path)
    assert info.value.fix


def test_departments() -> None:
    assert [d.id for d in DEPARTMENTS] == ["market", "realestate"]
    market = get_department("market")
    assert market.database == "dept_market"
    assert market.tables == ("public.enterprise", "public.inspection")
    assert get_department("realestate").tables == ("public.certificate",)
    with pytest.raises(ConfigError) as info:
        get_department("health")
    assert "market" in str(info.value) and "realestate" in str(info.value)


def test_change_counts_sum_by_kind_and_table() -> None:
    counts = ChangeCounts()
    for table, op, k in [
        ("public.enterprise", "insert", 3),
        ("public.enterprise", "move", 2),
        ("public.certificate", "delete", 1),
        ("public.certificate", "insert", 4),
    ]:
        counts.add(table, op, k)
    assert counts.inserts == {"public.enterprise": 3, "public.certificate": 4}
    assert counts.count("insert") == 7 and counts.count(None, "public.certificate") == 5
    assert counts.total == 10
    counts.elapsed = 2.0
    d = counts.to_dict()
    assert d["total"] == 10 and d["rate_per_s"] == 5.0 and d["moves"] == 2
    assert d["tables"]["public.enterprise"] == {
        "inserts": 3,
        "updates": 0,
        "deletes": 0,
        "moves": 2,
        "total": 5,
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 0}, "--rate"),
        ({"rate": 10, "mix": {"upsert": 1.0}}, "mix"),
        ({"rate": 10, "mix": {"insert": 0.0}}, "mix"),
        ({"rate": 10, "changes_per_txn": 0}, "txn"),
    ],
)
def test_change_generator_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ChangeGenerator(settings_for("chongqing"), ["market"], **kwargs)  # type: ignore[arg-type]
