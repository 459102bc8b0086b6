"""The sample departments as data (database, DDL file, captured tables) and the districts of the
deployment's city that their rows are spread over."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings


@dataclass(frozen=True)
class SampleDepartment:
    """One sample department database; `tables` are schema-qualified names of captured tables."""

    id: str
    name_zh: str
    database: str
    sql_file: str
    tables: tuple[str, ...]


DEPARTMENTS: tuple[SampleDepartment, ...] = (
    SampleDepartment(
        id="market",
        name_zh="市场监督管理局",
        database="dept_market",
        sql_file="market.sql",
        tables=("public.enterprise", "public.inspection"),
    ),
    SampleDepartment(
        id="realestate",
        name_zh="不动产登记中心",
        database="dept_realestate",
        sql_file="realestate.sql",
        tables=("public.certificate",),
    ),
)


def department_ids() -> tuple[str, ...]:
    """The ids of all sample departments, in declaration order."""
    return tuple(d.id for d in DEPARTMENTS)


def get_department(dept_id: str) -> SampleDepartment:
    """The sample department with id `dept_id`; ConfigError naming the known ids otherwise."""
    for dept in DEPARTMENTS:
        if dept.id == dept_id:
            return dept
    raise ConfigError(
        f"sample department {dept_id!r}",
        "is not a known sample department",
        expected="one of " + ", ".join(department_ids()),
        actual=repr(dept_id),
        fix="pass one of the known department ids (or none, for all)",
    )


@dataclass(frozen=True)
class District:
    """One row of catalog/<city>/districts.csv: a GB/T 2260 code, its Chinese name and kind."""

    code: str
    name: str
    kind: str


def districts_csv(settings: Settings) -> Path:
    """Where the deployment's city keeps its district list."""
    return settings.catalog_dir / settings.city / "districts.csv"


def load_districts(path: Path) -> tuple[District, ...]:
    """The districts of a city's CSV (columns code,name,kind); ConfigError if missing or bad."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            "the city's district list is missing",
            expected="a CSV with columns code,name,kind",
            actual="no such file",
            fix="set SHAREBUS_CITY / SHAREBUS_CATALOG_DIR to a city that has one",
        ) from None
    out = []
    for n, row in enumerate(rows, start=2):
        code, name = (row.get("code") or "").strip(), (row.get("name") or "").strip()
        if len(code) != 6 or not code.isdigit() or not name:
            raise ConfigError(
                f"{path} line {n}",
                "is not a valid district row",
                expected="a 6-digit GB/T 2260 code and a name",
                actual=f"code={code!r} name={name!r}",
                fix="correct the row",
            )
        out.append(District(code, name, (row.get("kind") or "").strip()))
    if not out:
        raise ConfigError(
            str(path),
            "lists no districts",
            expected="at least one district",
            actual="0 rows",
            fix="add the city's districts",
        )
    return tuple(out)
