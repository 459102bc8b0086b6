"""The district database a subscriber keeps its copy in: `--target postgresql://user@host/db`,
its password from the URL, $SHAREBUS_DISTRICT_DB_PASSWORD or a prompt, never echoed."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import psycopg

from connectors.dbconn import pg_open
from connectors.dburl import POSTGRES, DbTarget, parse_db_url, redact, resolve_password
from sharebus.core.errors import ConfigError, UnreachableError

TARGET_PASSWORD_ENV = "SHAREBUS_DISTRICT_DB_PASSWORD"


def parse_target(url: str, prompt: Callable[[str], str] | None = None) -> DbTarget:
    """The district database of `url`, with its password; ConfigError naming --target."""
    try:
        target = parse_db_url(url)
    except ConfigError as exc:
        raise _as_target_error(exc) from None
    if target.kind != POSTGRES:
        raise ConfigError(
            f"--target {target.safe_url}",
            "is not a PostgreSQL database",
            expected="postgresql://user@host:5432/dbname",
            actual=target.kind,
            fix="district data pools are PostgreSQL databases; give one",
        )
    try:
        return resolve_password(target, env=os.environ, env_name=TARGET_PASSWORD_ENV, prompt=prompt)
    except ConfigError as exc:
        raise _as_target_error(exc) from None


def _as_target_error(exc: ConfigError) -> ConfigError:
    """The URL parser's error (which names `--db`), told about `--target`."""
    return ConfigError(
        exc.subject.replace("--db", "--target"),
        exc.problem,
        expected=exc.expected,
        actual=exc.actual,
        fix=exc.fix,
    )


def connect_target(target: DbTarget, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection to the district database; UnreachableError naming it and the fix."""
    try:
        return pg_open(target, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        message = redact(" ".join(str(exc).split()), [target.password])
        raise UnreachableError(
            f"district database {target.safe_url}",
            "cannot connect",
            expected=f"PostgreSQL accepting user {target.user!r} on database {target.dbname!r}",
            actual=message,
            fix=f"check --target (password in the URL or ${TARGET_PASSWORD_ENV}) and the database name",
        ) from None
