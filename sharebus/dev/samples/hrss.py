"""The MariaDB sample department `hrss` (人力资源和社会保障局): its database in the stack's private
MariaDB, the CDC grants, realistic social-insurance rows, and a small change generator."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import psycopg
import pymysql

from connectors.dbconn import mariadb_tls
from sharebus.core import naming
from sharebus.core.errors import SharebusError, UnreachableError
from sharebus.core.settings import Settings
from sharebus.dev.samples.database import connect, sql_text
from sharebus.dev.samples.departments import SampleDepartment, get_department
from sharebus.dev.samples.rows import RowFactory
from sharebus.dev.stack.mariadb import CDC_GLOBAL_PRIVILEGES

HRSS = SampleDepartment(
    id="hrss",
    name_zh="人力资源和社会保障局",
    database="dept_hrss",
    sql_file="hrss.sql",
    tables=("dept_hrss.social_insurance",),
)
TABLE = HRSS.tables[0]
COLUMNS = ("insurance_no", "person_id", "name", "employer_usci", "district_code", "insured_since", "status")
STATUSES = ("active", "suspended", "terminated")
_STATUS_WEIGHTS = (88, 7, 5)
# The CDC user writes the signal table (snapshot watermarks) and the heartbeat.
CDC_WRITABLE = (
    (naming.MARIADB_SIGNAL_TABLE, "SELECT, INSERT"),
    (naming.MARIADB_HEARTBEAT_TABLE, "SELECT, INSERT, UPDATE"),
)
# The local stack's instance is reached from 127.0.0.1; a Compose one from Connect's container.
CDC_HOSTS = ("127.0.0.1", "%")


@contextmanager
def admin(settings: Settings, database: str | None = None) -> Iterator[Any]:
    """A cursor of the private MariaDB's admin; UnreachableError naming the stack when down."""
    try:
        conn = pymysql.connect(
            **mariadb_tls(settings.db_ca),
            host=settings.mariadb_host,
            port=settings.mariadb_port,
            user=settings.mariadb_user,
            password=settings.mariadb_password.get_secret_value(),
            database=database,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=5,
        )
    except pymysql.MySQLError as exc:
        raise UnreachableError(
            f"MariaDB at {settings.mariadb_host}:{settings.mariadb_port}",
            "cannot connect as the admin user",
            expected=f"the stack's MariaDB accepting user {settings.mariadb_user!r}",
            actual=str(exc.args[-1]) if exc.args else type(exc).__name__,
            fix="start the stack: sharebus stack up (or set SHAREBUS_MARIADB_HOST/PORT/PASSWORD)",
        ) from None
    with conn, conn.cursor() as cur:
        yield cur


def statements(text: str) -> list[str]:
    """The statements of a DDL file: `;` at a line end separates, `--` lines are comments."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";\n") if s.strip().rstrip(";")]


def apply_schema(settings: Settings) -> None:
    """Create the hrss database and tables, and the CDC user with Debezium's grants; idempotent."""
    db = HRSS.database
    with admin(settings) as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{db}`")
        for stmt in statements(sql_text(HRSS.sql_file)):
            cur.execute(stmt.rstrip(";"))
        for host in CDC_HOSTS:
            cdc = f"'{settings.mariadb_cdc_user}'@'{host}'"
            # With parameters pymysql %-formats the statement: the host '%' is written '%%'.
            cur.execute(
                f"CREATE USER IF NOT EXISTS {cdc.replace('%', '%%')} IDENTIFIED BY %s",
                (settings.mariadb_cdc_password.get_secret_value(),),
            )
            cur.execute(f"GRANT {', '.join(CDC_GLOBAL_PRIVILEGES)} ON *.* TO {cdc}")
            cur.execute(f"GRANT SELECT ON `{db}`.* TO {cdc}")
            for table, privileges in CDC_WRITABLE:
                cur.execute(f"GRANT {privileges} ON `{db}`.`{table}` TO {cdc}")


UNREGISTERED_SHARE = 0.02
"""Of the sample's employers, the share no enterprise registration backs (the consistency rule
`references: market.enterprise` counts them; a real city has a few)."""


class InsuranceRows:
    """Seeded social-insurance rows over the city's districts; codes carry valid check digits; an
    employer is one of `employers` (the market department's registered enterprises) but for a few."""

    def __init__(self, factory: RowFactory, employers: Sequence[str] = ()) -> None:
        self.factory = factory
        self.rng: random.Random = factory.rng
        self.employers = list(employers)

    def row(self, district_code: str | None = None) -> dict[str, Any]:
        f = self.factory
        district = district_code or f.district().code
        since = date(2000, 1, 1) + timedelta(days=self.rng.randrange(9000))
        return {
            "insurance_no": f"{district}{self.rng.randrange(10**6):06d}",
            "person_id": f.resident_id(district),
            "name": f.person_name(),
            "employer_usci": self.employer(),
            "district_code": district,
            "insured_since": since,
            "status": self.rng.choices(STATUSES, _STATUS_WEIGHTS)[0],
        }

    def employer(self) -> str:
        if self.employers and self.rng.random() >= UNREGISTERED_SHARE:
            return self.rng.choice(self.employers)
        return self.factory.usci(self.factory.district().code)


def registered_employers(settings: Settings, limit: int = 5000) -> list[str]:
    """Codes of enterprises the sample market department registered (none when it is not there)."""
    try:
        with connect(settings, get_department("market").database) as conn:
            rows = conn.execute("SELECT uscc FROM public.enterprise ORDER BY uscc LIMIT %s", (limit,))
            return [str(r[0]) for r in rows.fetchall()]
    except (SharebusError, psycopg.Error):  # no market sample here: employers are made up
        return []


def insert_rows(settings: Settings, rows: list[dict[str, Any]]) -> int:
    """INSERT IGNORE `rows` (existing person ids are skipped); rows inserted."""
    if not rows:
        return 0
    marks = ", ".join(["%s"] * len(COLUMNS))
    stmt = f"INSERT IGNORE INTO `social_insurance` ({', '.join(COLUMNS)}) VALUES ({marks})"
    with admin(settings, HRSS.database) as cur:
        return int(cur.executemany(stmt, [tuple(r[c] for c in COLUMNS) for r in rows]) or 0)


def seed(settings: Settings, n: int, *, seed: int = 0) -> int:
    """Insert `n` realistic rows (the same seed makes the same rows); rows inserted."""
    rows = InsuranceRows(RowFactory.for_settings(settings, seed=seed), registered_employers(settings))
    return insert_rows(settings, [rows.row() for _ in range(n)])


def generate_changes(settings: Settings, n: int, *, seed: int = 0) -> Counter[str]:
    """`n` random inserts, status updates, district moves and deletes; counts per operation."""
    rows = InsuranceRows(RowFactory.for_settings(settings, seed=seed), registered_employers(settings))
    rng = rows.rng
    counts: Counter[str] = Counter()
    with admin(settings, HRSS.database) as cur:
        cur.execute("SELECT person_id, district_code FROM social_insurance ORDER BY person_id LIMIT 1000")
        keys = [(str(r[0]), str(r[1])) for r in cur.fetchall()]
        for _ in range(n):
            op = rng.choices(("insert", "update", "move", "delete"), (4, 4, 1, 1))[0] if keys else "insert"
            if op == "insert":
                row = rows.row()
                cur.execute(
                    f"INSERT IGNORE INTO social_insurance ({', '.join(COLUMNS)}) VALUES"
                    f" ({', '.join(['%s'] * len(COLUMNS))})",
                    tuple(row[c] for c in COLUMNS),
                )
                keys.append((row["person_id"], row["district_code"]))
            elif op == "update":
                key = rng.choice(keys)[0]
                cur.execute(
                    "UPDATE social_insurance SET status = %s WHERE person_id = %s",
                    (rng.choice(STATUSES), key),
                )
            elif op == "move":
                i = rng.randrange(len(keys))
                key, old = keys[i]
                new = rows.factory.district(other_than=old).code
                cur.execute("UPDATE social_insurance SET district_code = %s WHERE person_id = %s", (new, key))
                keys[i] = (key, new)
            else:
                key, _ = keys.pop(rng.randrange(len(keys)))
                cur.execute("DELETE FROM social_insurance WHERE person_id = %s", (key,))
            counts[op] += 1
    return counts
