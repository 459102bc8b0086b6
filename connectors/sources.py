"""Opening a department database as a `Source` of its kind (PostgreSQL or MariaDB)."""

from __future__ import annotations

from connectors.dburl import DbTarget
from connectors.source import Source
from connectors.source_mariadb import MariaDbSource
from connectors.source_pg import PgSource


def open_source(target: DbTarget) -> Source:
    """The Source of `target`'s kind."""
    if target.kind == "mariadb":
        return MariaDbSource(target)
    return PgSource(target)
