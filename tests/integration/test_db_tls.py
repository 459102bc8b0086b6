"""The local stack's PostgreSQL and MariaDB over TLS: the bus's connections verify them (the
certificate and host name against the bus's CA), a connection in clear is refused, and so is one
that trusts only the system's roots."""

from __future__ import annotations

import psycopg
import pymysql
import pytest

from connectors.dbconn import mariadb_tls
from sharebus.core.settings import Settings

pytestmark = pytest.mark.integration


def _connect(settings: Settings, tls: str) -> psycopg.Connection[tuple[object, ...]]:
    """A superuser login with the libpq TLS options `tls` (`sslmode=… sslrootcert=…`)."""
    password = settings.pg_password.get_secret_value()
    dsn = f"host={settings.pg_host} port={settings.pg_port} user={settings.pg_user} dbname=postgres"
    return psycopg.connect(f"{dsn} password={password} {tls}", connect_timeout=5)


def test_postgresql_takes_tls_logins_only_and_is_verified(stack_settings: Settings) -> None:
    assert stack_settings.db_tls
    with psycopg.connect(stack_settings.pg_dsn(), connect_timeout=5) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None and row[0] is True and row[1] in ("TLSv1.2", "TLSv1.3")
    ca = str(stack_settings.tls_ca)
    with _connect(stack_settings, f"sslmode=verify-full sslrootcert={ca}"):
        pass
    # In clear: no pg_hba rule lets it in (hostssl only).
    with pytest.raises(psycopg.OperationalError, match=r"no encryption|pg_hba"):
        _connect(stack_settings, "sslmode=disable")
    # Without the bus's CA (the system's roots only): the certificate does not verify.
    with pytest.raises(psycopg.OperationalError, match="certificate"):
        _connect(stack_settings, "sslmode=verify-full sslrootcert=system")


def _maria(settings: Settings, **tls: object) -> object:
    """An admin login to the stack's MariaDB with pymysql TLS options `tls`."""
    return pymysql.connect(
        host=settings.mariadb_host,
        port=settings.mariadb_port,
        user=settings.mariadb_user,
        password=settings.mariadb_password.get_secret_value(),
        connect_timeout=5,
        **tls,  # type: ignore[arg-type]
    )


def test_mariadb_takes_tls_logins_only_and_is_verified(stack_settings: Settings) -> None:
    conn = _maria(stack_settings, **mariadb_tls(stack_settings.db_ca))
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        (_, version) = cur.fetchone()
    conn.close()  # type: ignore[attr-defined]
    assert version in ("TLSv1.2", "TLSv1.3")
    # In clear: refused (require_secure_transport; MariaDB 10.11 says "Access denied" to the very
    # password that logged in over TLS above).
    with pytest.raises(pymysql.err.OperationalError, match=r"insecure transport|Access denied"):
        _maria(stack_settings, ssl_disabled=True)
    # Verified against the system's roots only: the certificate does not verify.
    with pytest.raises(pymysql.err.OperationalError, match=r"(?i)certificate"):
        _maria(stack_settings, ssl_verify_cert=True, ssl_verify_identity=True, ssl={"ca": None})
