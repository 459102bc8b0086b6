"""The versioned DDL of the metrics store: numbered `.sql` files applied once each, in order."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources

from streams.metrics.errors import MetricsError

_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

VERSION_TABLE = "schema_version"


@dataclass(frozen=True, slots=True)
class Migration:
    """One DDL file: its version (the number in its name), its statements and their checksum."""

    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def check_database_name(name: str) -> str:
    """`name` if it can be spliced into SQL as a database identifier, else a MetricsError."""
    if not _IDENTIFIER.match(name):
        raise MetricsError(
            f"metrics database {name!r}",
            "is not a plain identifier",
            expected="letters, digits and '_', not starting with a digit",
            actual=name,
            fix="name the database in SHAREBUS_METRICS_URL like clickhouse://host:8123/sharebus",
        )
    return name


def split_statements(text: str) -> tuple[str, ...]:
    """The statements of a DDL file: full-line `--` comments dropped, split at a ';' that ends a
    line (statements must not hold a ';' elsewhere)."""
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        if line.rstrip().endswith(";"):
            current.append(line.rstrip()[:-1])
            statements.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    if "\n".join(current).strip():
        statements.append("\n".join(current).strip())
    return tuple(s for s in statements if s)


def load_migrations(texts: Mapping[str, str] | None = None) -> tuple[Migration, ...]:
    """The DDL files (packaged under streams/metrics/ddl/ unless `texts` maps name → text), ordered
    by version; `{db}` is left in place for `render`."""
    if texts is None:
        folder = resources.files("streams.metrics") / "ddl"
        texts = {f.name: f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith(".sql")}
    migrations: list[Migration] = []
    for name, text in texts.items():
        match = _FILE.match(name)
        if not match:
            raise MetricsError(
                f"DDL file {name}",
                "is not named <3-digit version>_<name>.sql",
                fix="rename it, e.g. 003_add_column.sql",
            )
        statements = split_statements(text)
        # Over the statements only: editing a comment is not a schema change.
        checksum = hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()[:16]
        migrations.append(Migration(int(match.group(1)), name, statements, checksum))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MetricsError(
            "streams/metrics/ddl",
            "two DDL files share a version number",
            actual=", ".join(m.name for m in migrations),
            fix="renumber one of them",
        )
    return tuple(migrations)


def render(statement: str, database: str) -> str:
    """`statement` with `{db}` replaced by the (checked) database name."""
    return statement.replace("{db}", check_database_name(database))


def bootstrap_statements(database: str) -> tuple[str, ...]:
    """Create the database and the schema-version table (both idempotent)."""
    db = check_database_name(database)
    return (
        f"CREATE DATABASE IF NOT EXISTS {db}",
        f"CREATE TABLE IF NOT EXISTS {db}.{VERSION_TABLE} (version UInt32, name String,"
        " checksum String, applied_at DateTime('UTC') DEFAULT now())"
        " ENGINE = MergeTree ORDER BY version",
    )


def applied_versions_sql(database: str) -> str:
    """Rows (version, checksum) of the migrations already applied."""
    return (
        f"SELECT version, any(checksum) AS checksum FROM {check_database_name(database)}.{VERSION_TABLE}"
        " GROUP BY version ORDER BY version"
    )


def apply_migrations(
    database: str,
    *,
    command: Callable[[str], None],
    applied: Callable[[], Mapping[int, str]],
    record: Callable[[Migration], None],
    migrations: tuple[Migration, ...] | None = None,
) -> list[str]:
    """Apply the DDL not applied yet, in order; return the names of the files applied.

    A file already applied is skipped, but must be unchanged: a changed checksum means someone
    edited history, which the store never saw; schema changes go in a new numbered file. Every
    statement is idempotent (IF NOT EXISTS), so a run interrupted between a file's statements and
    its version row is simply repeated.
    """
    for statement in bootstrap_statements(database):
        command(statement)
    done = applied()
    newly: list[str] = []
    for migration in migrations if migrations is not None else load_migrations():
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MetricsError(
                    f"DDL file {migration.name}",
                    "changed after it was applied to the metrics store",
                    expected=f"checksum {done[migration.version]} (as applied)",
                    actual=f"checksum {migration.checksum}",
                    fix="restore the file and put the change in a new numbered DDL file",
                )
            continue
        for statement in migration.statements:
            command(render(statement, database))
        record(migration)
        newly.append(migration.name)
    return newly
