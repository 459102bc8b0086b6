"""Render a department's Debezium connector config from the templates in `connectors/templates/`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

from sharebus.errors import ConfigError
from sharebus.settings import Settings

# Department ids become topic prefixes, replication slot and publication names: keep them to
# what PostgreSQL slot names allow (lower-case letters, digits, underscore).
_DEPARTMENT_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")

# Captured with every department's tables: Debezium's signal channel and the heartbeat target.
BUS_TABLES = ("sharebus.debezium_signal", "sharebus.heartbeat")


@dataclass(frozen=True)
class CaptureSpec:
    """What to capture from one department database."""

    department: str
    db_name: str
    tables: tuple[str, ...]  # schema.table
    db_host: str
    db_port: int
    db_user: str
    snapshot_mode: str = "initial"

    def __post_init__(self) -> None:
        if not _DEPARTMENT_ID.match(self.department):
            raise ConfigError(
                f"department {self.department!r}",
                "is not a valid department id",
                expected="lower-case letters, digits and underscores, starting with a letter",
                actual=self.department,
                fix="choose an id like `market` or `real_estate`",
            )
        bad = [t for t in self.tables if not _TABLE.match(t)]
        if bad or not self.tables:
            raise ConfigError(
                f"tables of department {self.department}",
                "must be schema-qualified table names",
                expected="schema.table, e.g. public.enterprise",
                actual=", ".join(bad) or "(none)",
                fix="list tables as --tables public.t1,public.t2",
            )

    @property
    def connector_name(self) -> str:
        return f"cdc-{self.department}"

    @property
    def slot_name(self) -> str:
        return f"sharebus_{self.department}"

    @property
    def publication_name(self) -> str:
        return f"sharebus_{self.department}"

    @property
    def password_secret(self) -> str:
        """File name of the DB password in the secrets dir (read by Connect, never inlined)."""
        return f"{self.connector_name}.db-password"

    @property
    def topic_prefix(self) -> str:
        return f"cdc.{self.department}"

    def topic(self, table: str) -> str:
        return f"{self.topic_prefix}.{table}"


def _template(kind: str) -> dict[str, str]:
    text = (resources.files("connectors") / "templates" / f"{kind}.json").read_text()
    result: dict[str, str] = json.loads(text)
    return result


def render_postgres(spec: CaptureSpec, settings: Settings) -> dict[str, str]:
    """The Debezium PostgreSQL connector config for `spec`; the password is a config-provider
    reference to the secrets dir, never the password itself."""
    values = {
        "db_host": spec.db_host,
        "db_port": str(spec.db_port),
        "db_user": spec.db_user,
        "db_name": spec.db_name,
        "secrets_dir": str(settings.secrets_dir),
        "password_secret": spec.password_secret,
        "department": spec.department,
        "slot_name": spec.slot_name,
        "publication_name": spec.publication_name,
        "table_include_list": ",".join(_include_list(spec.tables)),
        "snapshot_mode": spec.snapshot_mode,
        "poll_interval_ms": str(settings.debezium_poll_interval_ms),
        "partitions": str(settings.kafka_partitions),
    }
    return {key: value.format(**values) for key, value in _template("postgres").items()}


def _include_list(tables: tuple[str, ...]) -> list[str]:
    # Debezium's include list is a list of regexes: escape the dots.
    return [re.escape(t) for t in dict.fromkeys((*tables, *BUS_TABLES))]
