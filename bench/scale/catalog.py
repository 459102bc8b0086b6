"""Seeds-scale catalogs: departments, resources, subscribers and a demand mix as parameters,
written as a catalog folder `sharebus catalog validate --dir` and the worker read like any other.

The default mix is the one measured for the scale issue: 79 departments; 4,154 resources — 60 %
unconditional with an `all-districts` demand, 35 % conditional with approved demands from 5
districts each, 5 % not shared; the sample city's districts and zones as subscribers.
"""

from __future__ import annotations

import copy
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sharebus.core import naming

SAMPLE_CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"


@dataclass(frozen=True)
class Scale:
    """What to generate; the defaults are the seeds' Chongqing."""

    departments: int = 79
    resources: int = 4154
    unconditional: float = 0.60  # share of resources every district receives (its own rows)
    conditional: float = 0.35  # share needing an approved demand; the rest is not shared
    conditional_subscribers: int = 5  # districts with an approved demand per conditional resource
    seed: int = 20251


# The field shapes of a resource (the sample enterprise's): codes, masks and types of every kind.
FIELDS: tuple[dict[str, object], ...] = (
    {"name": "uscc", "type": "string", "grade": "public", "code": "usci", "required": True},
    {"name": "name", "type": "string", "grade": "public", "required": True},
    {"name": "legal_rep_name", "type": "string", "grade": "sensitive", "mask": "name", "required": True},
    {
        "name": "legal_rep_id",
        "type": "string",
        "grade": "sensitive",
        "mask": "id_number",
        "code": "resident_id",
        "required": True,
    },
    {"name": "phone", "type": "string", "grade": "sensitive", "mask": "phone"},
    {"name": "address", "type": "string", "grade": "sensitive", "mask": "address"},
    {"name": "district_code", "type": "string", "grade": "public", "code": "region", "required": True},
    {"name": "reg_capital", "type": "decimal", "grade": "public"},
    {
        "name": "status",
        "type": "string",
        "grade": "public",
        "required": True,
        "values": ["active", "suspended", "revoked", "cancelled"],
    },
    {"name": "established_on", "type": "date", "grade": "public", "required": True},
    {"name": "created_at", "type": "timestamp", "grade": "internal", "required": True},
    {"name": "updated_at", "type": "timestamp", "grade": "internal", "required": True},
)
"""Every generated resource has these fields, keyed by `uscc`, partitioned by `district_code`:
the router's sample rows (RowFactory.enterprise) fit any of them."""


@dataclass(frozen=True)
class Written:
    directory: Path
    departments: int
    resources: int
    demands: int
    subscribers: int


def department_ids(scale: Scale) -> list[str]:
    return [f"d{i:03d}" for i in range(1, scale.departments + 1)]


def resource_ids(scale: Scale) -> list[str]:
    """`d007.r00042`: resources dealt round-robin over the departments."""
    depts = department_ids(scale)
    return [f"{depts[i % len(depts)]}.r{i:05d}" for i in range(scale.resources)]


def districts(city_dir: Path = SAMPLE_CITY) -> list[str]:
    lines = (city_dir / "districts.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split(",")[0] for line in lines if line.strip()]


def write(
    scale: Scale, directory: Path, *, source_city: Path = SAMPLE_CITY, with_sample: bool = False
) -> Written:
    """Write the catalog folder (catalog, demands, responsibility; the sample city's region and
    districts) into `directory`; `with_sample`: the sample city's own departments, resources and
    demands too (so `sharebus run` routes and syncs the sample districts beside the city's size)."""
    rng = random.Random(scale.seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("region.yaml", "districts.csv"):
        shutil.copyfile(source_city / name, directory / name)
    codes = districts(source_city)
    depts = department_ids(scale)
    resources, demands, duties = [], [], []
    n_uncond = round(scale.resources * scale.unconditional)
    n_cond = round(scale.resources * scale.conditional)
    for i, rid in enumerate(resource_ids(scale)):
        dept, table = rid.split(".")
        sharing = (
            "unconditional" if i < n_uncond else "conditional" if i < n_uncond + n_cond else "not_shared"
        )
        res: dict[str, object] = {
            "id": rid,
            "title": f"资源 {rid}",
            "department": dept,
            "source": {"connector": naming.raw_prefix(dept), "table": f"public.{table}"},
            "primary_key": ["uscc"],
            "sharing": sharing,
            "region_field": "district_code",
            "update_frequency": "daily",
            "fields": [dict(f) for f in FIELDS],
        }
        if sharing != "unconditional":
            res["legal_basis"] = (
                f"生成的{'有条件' if sharing == 'conditional' else '不予'}共享资源（规模测试）"
            )
        resources.append(res)
        duties.append(
            {
                "resource": rid,
                "unit": f"{dept} 数据科",
                "contact": {"name": "联系人（规模测试）", "email": f"{dept}@example.gov.cn"},
            }
        )
        if sharing == "unconditional":
            demands.append(_demand(f"S-{i:05d}", "all-districts", rid))
        elif sharing == "conditional":
            for code in rng.sample(codes, scale.conditional_subscribers):
                demands.append(
                    _demand(
                        f"S-{i:05d}-{code}",
                        code,
                        rid,
                        fields=["uscc", "name", "district_code", "status"],
                        until="2030-01-01T00:00:00+08:00",
                    )
                )
    departments: list[dict[str, str]] = [{"id": d, "name": f"部门 {d}"} for d in depts]
    if with_sample:
        sample = _load(source_city / "catalog.yaml")
        departments[:0] = sample["departments"]
        resources[:0] = sample["resources"]
        demands[:0] = _load(source_city / "demands.yaml")["demands"]
        duties[:0] = _load(source_city / "responsibility.yaml")["responsibilities"]
    _dump(directory / "catalog.yaml", {"format": 1, "departments": departments, "resources": resources})
    _dump(directory / "demands.yaml", {"format": 1, "demands": demands})
    _dump(directory / "responsibility.yaml", {"format": 1, "responsibilities": duties})
    return Written(directory, len(departments), len(resources), len(demands), len(codes))


def _demand(
    did: str, subscriber: str, resource: str, *, fields: list[str] | None = None, until: str | None = None
) -> dict[str, object]:
    demand: dict[str, object] = {
        "id": did,
        "subscriber": subscriber,
        "resource": resource,
        "purpose": "规模测试",
        "status": "approved",
        "valid_from": "2025-01-01T00:00:00+08:00",
        "approver": "数据主管部门（规模测试）",
    }
    if fields is not None:
        demand["fields"] = fields
    if until is not None:
        demand["valid_until"] = until
    return demand


def _load(path: Path) -> dict[str, list[Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml, as _dump
    loaded: dict[str, list[Any]] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    return loaded


def _unshared(value: Any) -> Any:
    """A copy of `value` whose lists, mappings and dates are all distinct objects."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value if isinstance(value, str | int | float | bool | None) else copy.copy(value)


def _dump(path: Path, data: object) -> None:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10× faster at this size
    # Shared objects (the field shapes) would be written as anchors and aliases across resources;
    # people and `catalog export` write every entry out, so a copy without shared objects.
    plain = _unshared(data)
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(plain, out, Dumper=dumper, allow_unicode=True, sort_keys=False, width=200)


def main() -> None:
    """Write a seeds-scale catalog folder: `python -m bench.scale.catalog DIR [--resources N]
    [--with-sample]`; then e.g. `sharebus run --catalog-dir DIR` (DIR holds `chongqing/`)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("directory", type=Path, help="the catalog dir to write (its chongqing/ folder)")
    parser.add_argument("--resources", type=int, default=Scale.resources)
    parser.add_argument("--departments", type=int, default=Scale.departments)
    parser.add_argument("--with-sample", action="store_true", help="the sample city's resources too")
    args = parser.parse_args()
    written = write(
        Scale(departments=args.departments, resources=args.resources),
        args.directory / "chongqing",
        with_sample=args.with_sample,
    )
    print(
        f"wrote {written.directory}: {written.departments:,} departments, {written.resources:,}"
        f" resources, {written.demands:,} demands, {written.subscribers} subscribers"
    )


if __name__ == "__main__":
    main()
