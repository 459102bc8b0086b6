"""The up-flow sample (数据回流): a district's own database of social-assistance households,
captured by the district's own connector and routed to a city department like any department's
data. The catalog names it: a `district_<code>` department whose resource reads this table."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.client import ConnectClient
from connectors.register import Registration, register_postgres
from sharebus.catalog.models import Catalog, Resource
from sharebus.core.errors import ConfigError
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.dev.samples.connectors import sample_spec
from sharebus.dev.samples.database import apply_schema, connect
from sharebus.dev.samples.departments import SampleDepartment
from sharebus.dev.samples.rows import RowFactory

TABLE = "public.assistance_household"
SQL_FILE = "assistance.sql"
COLUMNS = (
    "household_id",
    "head_name",
    "head_id",
    "members",
    "assistance_type",
    "monthly_amount",
    "street",
    "district_code",
    "approved_on",
    "updated_at",
)
TYPES = ("dibao", "tekun", "linshi")
_TYPE_WEIGHTS = (70, 10, 20)
_STREETS = ("解放碑街道", "朝天门街道", "七星岗街道", "大溪沟街道", "上清寺街道", "化龙桥街道", "南纪门街道")
_DEPARTMENT_PREFIX = "district_"


@dataclass(frozen=True)
class UpflowSample:
    """Which department owns the sample table, for which district, in which database."""

    department: str
    district_code: str
    database: str

    @property
    def sample_department(self) -> SampleDepartment:
        return SampleDepartment(self.department, "区县数据上报", self.database, SQL_FILE, (TABLE,))

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> UpflowSample:
        """The catalog's up-flow resource: a `district_<code>` department reading the sample table."""
        found: Resource | None = next(
            (
                r
                for r in catalog.resources
                if r.source.table == TABLE and r.department.startswith(_DEPARTMENT_PREFIX)
            ),
            None,
        )
        code = found.department[len(_DEPARTMENT_PREFIX) :] if found is not None else ""
        if found is None or code not in {d.code for d in catalog.districts}:
            raise ConfigError(
                f"catalog of {catalog.city.id}",
                "has no up-flow sample resource",
                expected=f"a resource of department district_<district code> with source table {TABLE}",
                actual="none" if found is None else f"department {found.department}",
                fix="add one (see catalog/chongqing/catalog.yaml, district_500103.assistance_household)",
            )
        return cls(found.department, code, found.department)


class HouseholdRows:
    """Realistic rows of one district; identity numbers carry valid check digits."""

    def __init__(self, factory: RowFactory, district_code: str) -> None:
        self.factory = factory
        self.rng: random.Random = factory.rng
        self.district_code = district_code
        self.seq = 0

    def row(self, now: datetime | None = None) -> dict[str, Any]:
        self.seq += 1
        rng, now = self.rng, now or datetime.now(UTC)
        kind = rng.choices(TYPES, _TYPE_WEIGHTS)[0]
        members = 1 + rng.randrange(5)
        return {
            "household_id": f"{self.district_code}-{now:%Y}-{rng.randrange(10**8):08d}",
            "head_name": self.factory.person_name(),
            "head_id": self.factory.resident_id(self.district_code),
            "members": members,
            "assistance_type": kind,
            "monthly_amount": (Decimal(735 if kind == "dibao" else 955) * members).quantize(Decimal("0.01")),
            "street": rng.choice(_STREETS),
            "district_code": self.district_code,
            "approved_on": date(2020, 1, 1) + timedelta(days=rng.randrange(1800)),
            "updated_at": now,
        }


def init(settings: Settings, sample: UpflowSample) -> None:
    """Create the district database and its table, and grant the CDC role (idempotent)."""
    apply_schema(settings, sample.sample_department)


def insert(settings: Settings, sample: UpflowSample, rows: list[dict[str, Any]]) -> int:
    """Insert rows (existing ids are skipped); rows inserted."""
    if not rows:
        return 0
    marks = ", ".join(["%s"] * len(COLUMNS))
    stmt = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    with connect(settings, sample.database) as conn, conn.cursor() as cur:
        cur.executemany(stmt, [tuple(r[c] for c in COLUMNS) for r in rows])
        return max(cur.rowcount, 0)


def seed(settings: Settings, sample: UpflowSample, n: int, *, seed: int = 0) -> int:
    rows = HouseholdRows(RowFactory.for_settings(settings, seed=seed), sample.district_code)
    return insert(settings, sample, [rows.row() for _ in range(n)])


def register(
    settings: Settings, sample: UpflowSample, echo: Echo, *, snapshot_mode: str = "initial"
) -> Registration:
    """Register the district database's own Debezium connector (`cdc-<department>`)."""
    dept = sample.sample_department
    return register_postgres(
        ConnectClient.of(settings),
        sample_spec(dept, settings, snapshot_mode=snapshot_mode),
        settings,
        password=settings.pg_cdc_password.get_secret_value(),
        admin_dsn=settings.pg_dsn(dept.database),
        echo=echo,
    )
