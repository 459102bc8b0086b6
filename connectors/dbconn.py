"""Connections to department databases (PostgreSQL, MariaDB) whose failures say exactly what is
wrong: nothing listening, a refused password, a missing database, or a host rule."""

from __future__ import annotations

from typing import Any, TypeAlias

import psycopg
import pymysql

from connectors.dburl import MARIADB, DbTarget, redact
from connectors.errors import LoginError
from sharebus.core.errors import UnreachableError

CONNECT_TIMEOUT_S = 5

MariaConnection: TypeAlias = Any  # a pymysql Connection: pymysql ships no type hints


PG_REQUIRE_AUTH = "!password"
"""libpq's require_auth: a server asking for the password in clear is refused (SCRAM and MD5
never hand the password itself over; "trust" asks for none)."""


class _NoClearText:
    """pymysql's handler of the auth plugins that send the password in clear
    (mysql_clear_password, PAM's dialog): a server asking for them is refused."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def authenticate(self, packet: Any) -> Any:
        raise pymysql.err.OperationalError(
            2059, "the server asked for the password in clear text (mysql_clear_password or dialog): refused"
        )


MARIADB_NO_CLEAR_TEXT = {"mysql_clear_password": _NoClearText, "dialog": _NoClearText}


def pg_open(target: DbTarget, *, autocommit: bool) -> psycopg.Connection[Any]:
    """A plain connection to `target` (psycopg.OperationalError on failure, for the caller to
    explain in its own terms)."""
    # TLS with the certificate and host name verified against the target's CA, when it names one.
    tls: dict[str, Any] = {"sslmode": "verify-full", "sslrootcert": target.ca} if target.ca else {}
    return psycopg.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password or "",
        dbname=target.dbname,
        connect_timeout=CONNECT_TIMEOUT_S,
        autocommit=autocommit,
        require_auth=PG_REQUIRE_AUTH,
        **tls,
    )


def pg_connect(target: DbTarget, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection to `target`; UnreachableError / LoginError naming the cause and the fix."""
    try:
        return pg_open(target, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise _pg_error(target, " ".join(str(exc).split())) from None


def _pg_error(target: DbTarget, message: str) -> UnreachableError:
    message = redact(message, [target.password])
    if "password authentication failed" in message or "no password supplied" in message:
        return LoginError(
            target.where(),
            f"PostgreSQL refused the password of user {target.user!r}",
            expected=f"the password of {target.user!r}",
            actual="password authentication failed",
            fix="check the password (in the URL, $SHAREBUS_DB_PASSWORD or at the prompt) and the user name",
        )
    if "does not exist" in message and "database" in message:
        return LoginError(
            target.where(),
            "the database does not exist",
            expected=f"a database named {target.dbname!r}",
            actual=message,
            fix="correct the database name in --db (the path of the URL)",
        )
    if "role" in message and "does not exist" in message:
        return LoginError(
            target.where(),
            f"user {target.user!r} does not exist",
            actual=message,
            fix=f'create it: CREATE ROLE "{target.user}" LOGIN PASSWORD …; or correct --db',
        )
    if "pg_hba.conf" in message:
        return LoginError(
            target.where(),
            "pg_hba.conf has no rule letting this user connect from here",
            actual=message,
            fix=f"add to pg_hba.conf: host {target.dbname} {target.user} <this host's address>/32"
            " scram-sha-256, then SELECT pg_reload_conf();",
        )
    return UnreachableError(
        target.where(),
        "PostgreSQL does not answer",
        expected=f"PostgreSQL accepting TCP connections at {target.host}:{target.port}",
        actual=message,
        fix="check the host and port in --db, that the server runs, listens there (listen_addresses)"
        " and that no firewall is in the way",
    )


def mariadb_tls(ca: str | None) -> dict[str, Any]:
    """pymysql's TLS options: the server's certificate and host name verified against `ca` (the
    MariaDB equivalent of libpq's verify-full); none without a CA."""
    return {"ssl_ca": ca, "ssl_verify_cert": True, "ssl_verify_identity": True} if ca else {}


def mariadb_connect(target: DbTarget, *, database: str | None = None) -> MariaConnection:
    """An autocommit connection to `target` (over TLS when it names a CA); UnreachableError /
    LoginError naming the cause."""
    try:
        return pymysql.connect(
            **mariadb_tls(target.ca),
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password or "",
            database=database or target.dbname,
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=True,
            charset="utf8mb4",
            auth_plugin_map=MARIADB_NO_CLEAR_TEXT,
        )
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        message = redact(str(exc.args[1]) if len(exc.args) > 1 else str(exc), [target.password])
        raise _mariadb_error(target, code, message) from None


def _mariadb_error(target: DbTarget, code: int, message: str) -> UnreachableError:
    if code == 1045:
        return LoginError(
            target.where(),
            f"MariaDB refused the password of user {target.user!r}",
            expected=f"the password of {target.user!r}@<this host>",
            actual=message,
            fix="check the password (in the URL, $SHAREBUS_DB_PASSWORD or at the prompt), the user"
            " name and the user's host part (CREATE USER 'u'@'<this host>')",
        )
    if code == 1049:
        return LoginError(
            target.where(),
            "the database does not exist",
            expected=f"a database named {target.dbname!r}",
            actual=message,
            fix="correct the database name in --db (the path of the URL)",
        )
    if code == 1044:
        return LoginError(
            target.where(),
            f"user {target.user!r} may not use the database",
            actual=message,
            fix=f"GRANT SELECT ON `{target.dbname}`.* TO '{target.user}'@'<this host>';",
        )
    if code in (1129, 1130):
        return LoginError(
            target.where(),
            "MariaDB refuses connections from this host",
            actual=message,
            fix=f"CREATE USER '{target.user}'@'<this host>' … (or FLUSH HOSTS)",
        )
    return UnreachableError(
        target.where(),
        "MariaDB does not answer",
        expected=f"MariaDB accepting TCP connections at {target.host}:{target.port}",
        actual=message,
        fix="check the host and port in --db, that the server runs, listens there (bind-address)"
        " and that no firewall is in the way",
    )


def probe(target: DbTarget) -> None:
    """Log in once and leave; raises like the connect functions."""
    if target.kind == MARIADB:
        mariadb_connect(target).close()
    else:
        pg_connect(target).close()
