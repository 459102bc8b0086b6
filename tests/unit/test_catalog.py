"""The catalog as data: the sample catalogs load; every validation rule reports file, entry,
field, problem and what is allowed; all problems are collected; versions, expansion, diff, CLI."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sharebus.catalog.diff import diff_catalogs
from sharebus.catalog.issues import CatalogError, CatalogIssue
from sharebus.catalog.load import CatalogTexts, load_catalog, parse_catalog, read_catalog_dir
from sharebus.catalog.models import Catalog
from sharebus.cli.catalog import catalog as catalog_cli

REPO = Path(__file__).resolve().parents[2]
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
CQ = REPO / "catalog" / "chongqing"
ZZ = REPO / "catalog" / "zhuzhou"

Raw = dict[str, Any]


def raw_sample(folder: Path = CQ) -> Raw:
    texts = read_catalog_dir(folder)
    return {
        "region": yaml.safe_load(texts.region or ""),
        "catalog": yaml.safe_load(texts.catalog or ""),
        "demands": yaml.safe_load(texts.demands or ""),
        "responsibility": yaml.safe_load(texts.responsibility or ""),
        "districts": texts.districts,
    }


_RAW = raw_sample()


def texts_of(raw: Raw, **override: Any) -> CatalogTexts:
    def dump(key: str) -> str | None:
        return None if raw[key] is None else yaml.dump(raw[key], Dumper=DUMPER, allow_unicode=True)

    base = {
        "region": dump("region"),
        "catalog": dump("catalog"),
        "demands": dump("demands"),
        "responsibility": dump("responsibility"),
        "districts": raw["districts"],
    }
    return CatalogTexts(**(base | override))


def parse(raw: Raw, **override: Any) -> tuple[Catalog | None, tuple[CatalogIssue, ...]]:
    return parse_catalog(texts_of(raw, **override), folder="chongqing")


def res(raw: Raw, rid: str) -> dict[str, Any]:
    return next(r for r in raw["catalog"]["resources"] if r["id"] == rid)


def field(raw: Raw, rid: str, name: str) -> dict[str, Any]:
    return next(f for f in res(raw, rid)["fields"] if f["name"] == name)


def dem(raw: Raw, did: str) -> dict[str, Any]:
    return next(d for d in raw["demands"]["demands"] if d["id"] == did)


def sub(raw: Raw, sid: str) -> dict[str, Any]:
    return next(s for s in raw["region"]["subscribers"] if s["id"] == sid)


ENT, INS, CERT = "market.enterprise", "market.inspection", "realestate.certificate"

# name, mutation, (file, entry contains, field contains, problem contains), number of issues
INVALID: list[tuple[str, Callable[[Raw], Any], tuple[str, str, str, str], int | None]] = [
    (
        "unknown grade",
        lambda r: field(r, INS, "finding").update(grade="secrett"),
        ("catalog.yaml", INS, "fields[finding].grade", "'secrett'"),
        1,
    ),
    (
        "unknown mask kind",
        lambda r: field(r, ENT, "phone").update(mask="blur"),
        ("catalog.yaml", ENT, "fields[phone].mask", "'blur'"),
        1,
    ),
    (
        "unknown field type",
        lambda r: field(r, ENT, "phone").update(type="text"),
        ("catalog.yaml", ENT, "fields[phone].type", "'text'"),
        1,
    ),
    (
        "unknown sharing type",
        lambda r: res(r, ENT).update(sharing="open"),
        ("catalog.yaml", ENT, "sharing", "'open'"),
        1,
    ),
    (
        "unknown key in a field",
        lambda r: field(r, ENT, "phone").update(colour="red"),
        ("catalog.yaml", ENT, "fields[phone].colour", "unknown key"),
        1,
    ),
    (
        "unknown top-level key",
        lambda r: r["catalog"].update(extra=1),
        ("catalog.yaml", "", "extra", "unknown key"),
        1,
    ),
    ("wrong format version", lambda r: r["demands"].update(format=2), ("demands.yaml", "", "format", "2"), 1),
    (
        "missing required key",
        lambda r: res(r, ENT).pop("update_frequency"),
        ("catalog.yaml", ENT, "update_frequency", "missing"),
        1,
    ),
    (
        "not_shared without legal basis",
        lambda r: res(r, INS).pop("legal_basis"),
        ("catalog.yaml", INS, "legal_basis", "legal basis"),
        1,
    ),
    (
        "conditional without legal basis",
        lambda r: res(r, CERT).update(legal_basis=" "),
        ("catalog.yaml", CERT, "legal_basis", "legal basis"),
        1,
    ),
    (
        "secret primary key",
        lambda r: field(r, INS, "id").update(grade="secret"),
        ("catalog.yaml", INS, "primary_key", "secret"),
        1,
    ),
    (
        "masked primary key",
        lambda r: field(r, INS, "id").update(grade="sensitive", mask="name"),
        ("catalog.yaml", INS, "primary_key", "sensitive"),
        1,
    ),
    (
        "resident ID as primary key",
        lambda r: field(r, INS, "id").update(type="string", code="resident_id"),
        ("catalog.yaml", INS, "primary_key", "resident ID"),
        1,
    ),
    (
        "primary key not a field",
        lambda r: res(r, INS).update(primary_key=["nope"]),
        ("catalog.yaml", INS, "primary_key", "'nope'"),
        1,
    ),
    (
        "sensitive field without mask",
        lambda r: field(r, ENT, "phone").pop("mask"),
        ("catalog.yaml", ENT, "fields[phone].mask", "needs a mask"),
        1,
    ),
    (
        "mask on a public field",
        lambda r: field(r, ENT, "name").update(mask="name"),
        ("catalog.yaml", ENT, "fields[name].mask", "takes no mask"),
        1,
    ),
    (
        "code check on a non-string",
        lambda r: field(r, ENT, "reg_capital").update(code="usci"),
        ("catalog.yaml", ENT, "fields[reg_capital].type", "string"),
        1,
    ),
    (
        "empty allowed values",
        lambda r: field(r, ENT, "status").update(values=[]),
        ("catalog.yaml", ENT, "fields[status].values", "distinct"),
        1,
    ),
    (
        "duplicate field",
        lambda r: res(r, INS)["fields"].append(field(r, INS, "finding")),
        ("catalog.yaml", INS, "fields[finding]", "duplicate"),
        2,
    ),
    (
        "region field not a field",
        lambda r: res(r, ENT).update(region_field="district"),
        ("catalog.yaml", ENT, "region_field", "'district'"),
        1,
    ),
    (
        "undeclared department",
        lambda r: r["catalog"]["departments"].pop(1),
        ("catalog.yaml", CERT, "department", "'realestate'"),
        1,
    ),
    (
        "connector of another department",
        lambda r: res(r, ENT)["source"].update(connector="cdc.x"),
        ("catalog.yaml", ENT, "source.connector", "'cdc.x'"),
        1,
    ),
    (
        "connector outside cdc.*",
        lambda r: res(r, ENT)["source"].update(connector="market"),
        ("catalog.yaml", ENT, "source.connector", "not well-formed"),
        1,
    ),
    (
        "one table, two resources",
        lambda r: res(r, INS)["source"].update(table="public.enterprise"),
        ("catalog.yaml", INS, "source", "more than one resource"),
        2,
    ),
    (
        "resource id with characters Kafka refuses",
        lambda r: res(r, INS).update(id="market.检查"),
        ("catalog.yaml", "market.检查", "id", "not well-formed"),
        3,
    ),  # + 2 dangling references
    (
        "naive timestamp",
        lambda r: dem(r, "CQ-2025-0001").update(valid_from="2025-01-01T00:00:00"),
        ("demands.yaml", "CQ-2025-0001", "valid_from", "timezone"),
        1,
    ),
    (
        "date without time",
        lambda r: dem(r, "CQ-2025-0001").update(valid_from=date(2025, 1, 1)),
        ("demands.yaml", "CQ-2025-0001", "valid_from", ""),
        1,
    ),
    (
        "unknown status",
        lambda r: dem(r, "CQ-2025-0013").update(status="accepted"),
        ("demands.yaml", "CQ-2025-0013", "status", "'accepted'"),
        1,
    ),
    (
        "unknown subscriber",
        lambda r: dem(r, "CQ-2025-0013").update(subscriber="500199"),
        ("demands.yaml", "CQ-2025-0013", "subscriber", "'500199'"),
        1,
    ),
    (
        "unknown resource",
        lambda r: dem(r, "CQ-2025-0013").update(resource="realestate.x"),
        ("demands.yaml", "CQ-2025-0013", "resource", "'realestate.x'"),
        1,
    ),
    (
        "unknown field requested",
        lambda r: dem(r, "CQ-2025-0002")["fields"].append("colour"),
        ("demands.yaml", "CQ-2025-0002", "fields[7]", "'colour'"),
        1,
    ),
    (
        "secret field requested",
        lambda r: dem(r, "CQ-2025-0020").update(fields=["finding"]),
        ("demands.yaml", "CQ-2025-0020", "fields[0]", "secret"),
        1,
    ),
    (
        "clear grant of a non-sensitive field",
        lambda r: dem(r, "CQ-2025-0010")["clear"].append("area_m2"),
        ("demands.yaml", "CQ-2025-0010", "clear[2]", "not a sensitive field"),
        1,
    ),
    (
        "clear grant of a field not requested",
        lambda r: dem(r, "CQ-2025-0012").update(clear=["owner_id"]),
        ("demands.yaml", "CQ-2025-0012", "clear[0]", "not requested"),
        1,
    ),
    (
        "conditional demand without fields",
        lambda r: dem(r, "CQ-2025-0013").pop("fields"),
        ("demands.yaml", "CQ-2025-0013", "fields", "must be listed"),
        1,
    ),
    (
        "conditional demand without end",
        lambda r: dem(r, "CQ-2025-0013").pop("valid_until"),
        ("demands.yaml", "CQ-2025-0013", "valid_until", "end of validity"),
        1,
    ),
    (
        "validity window inverted",
        lambda r: dem(r, "CQ-2025-0013").update(valid_until=dem(r, "CQ-2025-0013")["valid_from"]),
        ("demands.yaml", "CQ-2025-0013", "valid_until", "not after"),
        1,
    ),
    (
        "decision without approver",
        lambda r: dem(r, "CQ-2025-0014").pop("approver"),
        ("demands.yaml", "CQ-2025-0014", "approver", "names who decided"),
        1,
    ),
    (
        "approved demand for a not_shared resource",
        lambda r: dem(r, "CQ-2025-0020").update(status="approved"),
        ("demands.yaml", "CQ-2025-0020", "status", "not_shared"),
        1,
    ),
    (
        "duplicate demand id",
        lambda r: dem(r, "CQ-2025-0013").update(id="CQ-2025-0014"),
        ("demands.yaml", "CQ-2025-0014", "id", "duplicate"),
        2,
    ),
    (
        "zone without districts",
        lambda r: sub(r, "liangjiang").pop("districts"),
        ("region.yaml", "liangjiang", "districts", "a zone needs"),
        1,
    ),
    (
        "zone with an unknown district",
        lambda r: sub(r, "liangjiang").update(districts=["500199"]),
        ("region.yaml", "liangjiang", "districts[0]", "500199"),
        1,
    ),
    (
        "department without row filter",
        lambda r: sub(r, "civil-affairs").pop("city_wide"),
        ("region.yaml", "civil-affairs", "districts", "no implicit city-wide"),
        1,
    ),
    (
        "department with two row filters",
        lambda r: sub(r, "civil-affairs").update(districts=["500101"]),
        ("region.yaml", "civil-affairs", "districts", "exactly one"),
        1,
    ),
    (
        "reserved subscriber id",
        lambda r: sub(r, "wansheng").update(id="all-districts"),
        ("region.yaml", "all-districts", "id", "reserved"),
        1,
    ),
    (
        "subscriber id of the bus's own users",
        lambda r: sub(r, "wansheng").update(id="sharebus-router"),
        ("region.yaml", "sharebus-router", "id", "the bus's own Kafka users"),
        1,
    ),
    (
        "subscriber id with upper case",
        lambda r: sub(r, "wansheng").update(id="WanSheng"),
        ("region.yaml", "WanSheng", "id", "not well-formed"),
        1,
    ),
    (
        "city id differs from folder",
        lambda r: r["region"]["city"].update(id="shanghai"),
        ("region.yaml", "city", "id", "folder"),
        1,
    ),
    (
        "responsibility missing",
        lambda r: r["responsibility"]["responsibilities"].pop(0),
        ("catalog.yaml", ENT, "responsibility", "no responsibility entry"),
        1,
    ),
    (
        "responsibility twice",
        lambda r: r["responsibility"]["responsibilities"].append(r["responsibility"]["responsibilities"][0]),
        ("responsibility.yaml", ENT, "resource", "duplicate"),
        2,
    ),
    (
        "contact unreachable",
        lambda r: r["responsibility"]["responsibilities"][1]["contact"].pop("email"),
        ("responsibility.yaml", INS, "contact", "neither phone nor email"),
        1,
    ),
    (
        "bad district code",
        lambda r: r.update(districts=r["districts"] + "50010,X区,district\n"),
        ("districts.csv", "50010", "code", "not well-formed"),
        1,
    ),
    (
        "district outside the city",
        lambda r: r.update(districts=r["districts"] + "430299,X区,district\n"),
        ("districts.csv", "430299", "code", "outside city"),
        1,
    ),
    (
        "duplicate district",
        lambda r: r.update(districts=r["districts"] + "500101,万州区,district\n"),
        ("districts.csv", "500101", "code", "duplicate"),
        2,
    ),
    (
        "unknown district kind",
        lambda r: r.update(districts=r["districts"] + "500199,X镇,town\n"),
        ("districts.csv", "500199", "kind", "'town'"),
        1,
    ),
    (
        "districts.csv header",
        lambda r: r.update(districts="id,name\n500101,万州区\n"),
        ("districts.csv", "header", "", "header"),
        1,
    ),
    ("file missing", lambda r: r.update(responsibility=None), ("responsibility.yaml", "", "", "missing"), 1),
]


@pytest.mark.parametrize(("name", "mutate", "where", "count"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_catalog(
    name: str, mutate: Callable[[Raw], Any], where: tuple[str, str, str, str], count: int | None
) -> None:
    raw = copy.deepcopy(_RAW)
    mutate(raw)
    catalog, issues = parse(raw)
    assert catalog is None
    file, entry, fld, problem = where
    matching = [
        i for i in issues if i.file == file and entry in i.entry and fld in i.field and problem in i.problem
    ]
    assert matching, "\n".join(i.render() for i in issues)
    assert all(i.allowed for i in matching), "every issue says what is allowed"
    if count is not None:
        assert len(issues) == count, "\n".join(i.render() for i in issues)


@pytest.mark.parametrize(
    ("override", "file", "problem"),
    [
        ({"demands": "format: 1\ndemands: [\n"}, "demands.yaml", "not valid YAML"),
        (
            {"responsibility": "format: 1\nformat: 1\nresponsibilities: []\n"},
            "responsibility.yaml",
            "appears twice",
        ),
        ({"catalog": "- a list\n"}, "catalog.yaml", "not a mapping"),
        ({"catalog": "# only a comment\n"}, "catalog.yaml", "not a mapping"),
        ({"unknown_files": ("demand.yaml",)}, "demand.yaml", "unknown catalog file"),
    ],
)
def test_invalid_files(override: dict[str, Any], file: str, problem: str) -> None:
    _, issues = parse(copy.deepcopy(_RAW), **override)
    assert any(i.file == file and problem in i.problem for i in issues), [i.render() for i in issues]


def test_all_problems_are_collected_across_files() -> None:
    raw = copy.deepcopy(_RAW)
    field(raw, INS, "finding").update(grade="secrett")
    dem(raw, "CQ-2025-0002").update(valid_from="2025-02-01 00:00:00")
    sub(raw, "liangjiang").update(districts=["500199"])
    raw["responsibility"]["responsibilities"][1]["resource"] = "market.nope"
    _, issues = parse(raw)
    assert {i.file for i in issues} == {"catalog.yaml", "demands.yaml", "region.yaml", "responsibility.yaml"}
    assert len(issues) == 4  # the broken resource causes no follow-on "no responsibility" issue


def test_error_names_file_line_entry_field_and_allowed(tmp_path: Path) -> None:
    folder = tmp_path / "chongqing"
    shutil.copytree(CQ, folder)
    text = (folder / "catalog.yaml").read_text(encoding="utf-8")
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "name: finding" in ln)
    (folder / "catalog.yaml").write_text(text.replace("grade: secret,", "grade: secrett,"), "utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(folder)
    err = caught.value
    assert err.exit_code == 2 and len(err.issues) == 1
    message = str(err)
    assert f"catalog.yaml:{line}: resources[1] market.inspection › fields[finding].grade" in message
    assert "'public', 'internal', 'sensitive' or 'secret'" in message
    assert "fix:" in message
    assert err.to_dict()["issues"][0]["line"] == line


@pytest.mark.parametrize("folder", [CQ, ZZ], ids=["chongqing", "zhuzhou"])
def test_sample_catalogs_are_valid(folder: Path) -> None:
    catalog = load_catalog(folder)
    assert catalog.city.id == folder.name
    assert len(catalog.version) == 16 and int(catalog.version, 16) >= 0
    assert {r.resource for r in catalog.responsibilities} == {r.id for r in catalog.resources}


def test_version_is_content_based() -> None:
    base = parse(copy.deepcopy(_RAW))[0]
    assert base is not None
    shuffled = copy.deepcopy(_RAW)
    shuffled["catalog"]["resources"].reverse()
    shuffled["demands"]["demands"].reverse()
    dem(shuffled, "CQ-2025-0001").update(valid_from="2024-12-31T16:00:00Z")  # same instant
    same = parse(shuffled)[0]
    assert same is not None and same.version == base.version
    changed = copy.deepcopy(_RAW)
    field(changed, ENT, "phone").update(mask="redact")
    other = parse(changed)[0]
    assert other is not None and other.version != base.version


def test_all_districts_expands_with_stable_ids() -> None:
    catalog = load_catalog(CQ)
    expanded = [b for b in catalog.subscriber_demands() if b.demand.id == "CQ-2025-0001"]
    assert len(expanded) == len(catalog.districts) == 38
    assert expanded[0].id == "CQ-2025-0001/500101" and expanded[0].subscriber == "500101"
    assert all(b.expanded for b in expanded)


# --- diff ------------------------------------------------------------------------------------
DIFFS: list[tuple[str, Callable[[Raw], Any], set[tuple[str, str, str, bool]]]] = [
    ("no change", lambda r: None, set()),
    (
        "field grade lowered (widens)",
        lambda r: field(r, ENT, "phone").update(grade="public", mask=None),
        {("field", f"{ENT}.phone", "changed", True)},
    ),
    (
        "field masked harder",
        lambda r: field(r, ENT, "phone").update(mask="redact"),
        {("field", f"{ENT}.phone", "changed", False)},
    ),
    (
        "field added",
        lambda r: res(r, ENT)["fields"].append({"name": "website", "type": "string", "grade": "public"}),
        {("field", f"{ENT}.website", "added", True)},
    ),
    (
        "field removed",
        lambda r: res(r, ENT)["fields"].pop(5),
        {("field", f"{ENT}.address", "removed", False)},
    ),
    (
        "sharing loosened",
        lambda r: res(r, CERT).update(sharing="unconditional"),
        {("resource", CERT, "changed", True)},
    ),
    (
        "demand approved",
        lambda r: dem(r, "CQ-2025-0013").update(status="approved", approver="a"),
        {("demand", "CQ-2025-0013", "changed", True)},
    ),
    (
        "demand revoked",
        lambda r: dem(r, "CQ-2025-0010").update(status="revoked"),
        {("demand", "CQ-2025-0010", "changed", False)},
    ),
    (
        "demand removed",
        lambda r: r["demands"]["demands"].pop(0),
        {("demand", "CQ-2025-0001", "removed", False)},
    ),
    (
        "zone widened",
        lambda r: sub(r, "liangjiang")["districts"].append("500109"),
        {("subscriber", "liangjiang", "changed", True)},
    ),
    (
        "responsibility changed",
        lambda r: r["responsibility"]["responsibilities"][0].update(unit="x"),
        {("responsibility", ENT, "changed", False)},
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), DIFFS, ids=[c[0] for c in DIFFS])
def test_diff(name: str, mutate: Callable[[Raw], Any], expected: set[Any]) -> None:
    old = parse(copy.deepcopy(_RAW))[0]
    raw = copy.deepcopy(_RAW)
    mutate(raw)
    new, issues = parse(raw)
    assert old is not None and new is not None, [i.render() for i in issues]
    result = diff_catalogs(old, new)
    assert {(c.kind, c.id, c.change, c.widens) for c in result.changes} == expected
    assert result.empty is (not expected)
    assert (result.old_version == result.new_version) is (not expected)


# --- CLI -------------------------------------------------------------------------------------
def run(*args: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(catalog_cli, list(args), catch_exceptions=False)


def test_cli_validate_and_show() -> None:
    out = run("validate", "--dir", str(CQ), "--json")
    assert out.exit_code == 0 and json.loads(out.output)["ok"] is True
    out = run("show", "--dir", str(ZZ), "--json")
    assert json.loads(out.output)["version"] == load_catalog(ZZ).version
    out = run("show", "--dir", str(CQ), "--resource", CERT)
    assert out.exit_code == 0 and "owner_id" in out.output and "pseudonym" in out.output
    out = run("show", "--dir", str(CQ))
    assert out.exit_code == 0 and "liangjiang" in out.output


def test_cli_validate_reports_every_issue(tmp_path: Path) -> None:
    folder = tmp_path / "chongqing"
    shutil.copytree(CQ, folder)
    text = (folder / "demands.yaml").read_text("utf-8").replace('subscriber: "500106"', "subscriber: x1")
    (folder / "demands.yaml").write_text(text.replace("status: revoked", "status: gone"), "utf-8")
    out = run("validate", "--dir", str(folder), "--json")
    assert out.exit_code == 2
    issues = json.loads(out.output)["issues"]
    assert {(i["file"], i["field"]) for i in issues} == {
        ("demands.yaml", "subscriber"),
        ("demands.yaml", "status"),
    }
    out = CliRunner().invoke(catalog_cli, ["validate", "--dir", str(folder)])
    assert out.exit_code == 2


def test_cli_missing_folder(tmp_path: Path) -> None:
    out = run("validate", "--dir", str(tmp_path / "nowhere"), "--json")
    assert out.exit_code == 2 and "does not exist" in out.output and "does not exist" in out.stderr


def test_cli_diff_two_folders(tmp_path: Path) -> None:
    folder = tmp_path / "chongqing"
    shutil.copytree(CQ, folder)
    text = (folder / "demands.yaml").read_text("utf-8")
    text = text.replace("status: pending", "status: rejected\n    approver: a", 1)
    (folder / "demands.yaml").write_text(text, "utf-8")
    out = run("diff", str(CQ), str(folder), "--json")
    changes = json.loads(out.output)["changes"]
    assert [(c["kind"], c["id"], c["change"]) for c in changes] == [("demand", "CQ-2025-0002", "changed")]
    assert run("diff", str(CQ), str(CQ), "--exit-code").exit_code == 0
    assert run("diff", str(CQ), str(folder), "--exit-code").exit_code == 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_cli_diff_against_git_ref(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    folder = repo / "catalog" / "zhuzhou"
    shutil.copytree(ZZ, folder)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "catalog"], check=True)
    text = (folder / "catalog.yaml").read_text("utf-8")
    (folder / "catalog.yaml").write_text(text.replace("mask: redact", "mask: phone"), "utf-8")
    out = run("diff", "--ref", "HEAD", str(folder), "--json")
    assert out.exit_code == 0, out.output
    changes = json.loads(out.output)["changes"]
    assert [(c["id"], c["widens"]) for c in changes] == [("market.enterprise.phone", True)]
    out = run("diff", "--ref", "no-such-ref", str(folder), "--json")
    assert out.exit_code == 2


def test_two_resources_of_a_department_may_not_share_an_avro_record_name() -> None:
    raw = copy.deepcopy(_RAW)
    twin = copy.deepcopy(res(raw, "market.enterprise"))
    twin["id"] = "market.enter-prise"  # PascalCase: EnterPrise, as `enter_prise` would be
    twin["source"] = {**twin["source"], "table": "public.enter_prise"}
    twin2 = copy.deepcopy(twin)
    twin2["id"] = "market.enter_prise"
    twin2["source"] = {**twin2["source"], "table": "public.enter_prise2"}
    raw["catalog"]["resources"] += [twin, twin2]
    _, issues = parse(raw)
    clash = [i for i in issues if "record name EnterPrise" in i.problem]
    assert len(clash) == 1 and clash[0].entry.endswith("market.enter_prise"), [i.render() for i in issues]


@pytest.mark.parametrize("folder", [CQ, ZZ, "scale"], ids=["chongqing", "zhuzhou", "scale"])
def test_the_fast_parse_and_the_marked_parse_agree(folder: Path | str, tmp_path: Path) -> None:
    """A catalog is accepted by the fast parser (ryaml) alone: it must read every value as the
    marked parser (PyYAML, used to locate issues) does."""
    from bench.scale.catalog import Scale, write
    from sharebus.catalog.load import _parse_catalog, file_digests

    directory = write(Scale(resources=300), tmp_path / "chongqing").directory if folder == "scale" else folder
    assert isinstance(directory, Path)
    texts = read_catalog_dir(directory)
    digests = file_digests(texts)
    fast, fast_issues = _parse_catalog(texts, directory.name, digests, marked=False)
    marked, marked_issues = _parse_catalog(texts, directory.name, digests, marked=True)
    assert fast_issues == marked_issues == ()
    assert fast == marked and fast is not None and fast.version == marked.version


def test_an_issue_found_by_the_fast_parse_is_reported_with_its_line() -> None:
    raw = copy.deepcopy(_RAW)
    dem(raw, "CQ-2025-0002")["status"] = "maybe"
    _, issues = parse(raw)
    (issue,) = [i for i in issues if "maybe" in i.problem]
    assert issue.line is not None and issue.file == "demands.yaml"


def test_duplicate_keys_are_refused_by_both_parses() -> None:
    text = "format: 1\nformat: 1\nresponsibilities: []\n"
    _, issues = parse(copy.deepcopy(_RAW), responsibility=text)
    assert any("appears twice" in i.problem and i.line == 2 for i in issues), [i.render() for i in issues]
