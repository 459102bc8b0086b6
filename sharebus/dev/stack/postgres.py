"""The private PostgreSQL cluster of the department databases: own data dir, own port, logical WAL."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from sharebus.core.errors import ComponentError
from sharebus.core.process import PidRecord, spawn
from sharebus.core.progress import Echo
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.system import ensure_postgres
from sharebus.dev.stack.tls import Authority

# The server refuses to run as root; as root the stack runs it as Debian's `postgres` user.
_SERVICE_USER = "postgres"


class Postgres(Component):
    name = "postgres"
    port_setting = "SHAREBUS_PG_PORT"
    start_timeout = 60.0
    stop_signal = signal.SIGINT  # "fast" shutdown: does not wait for Debezium's sessions to end

    @property
    def port(self) -> int:
        return self.settings.pg_port

    @property
    def endpoint(self) -> str:
        return f"postgresql://{self.settings.pg_user}@{self.settings.pg_host}:{self.port}/"

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir("postgres")

    @property
    def marker(self) -> str:
        return str(self.data_dir)

    def _run_as(self) -> str | None:
        return _SERVICE_USER if os.geteuid() == 0 else None

    def prepare(self, echo: Echo) -> None:
        bin_dir = ensure_postgres(echo)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, echo)
        self._tls(echo)

    def _tls(self, echo: Echo) -> None:
        """With SHAREBUS_DB_TLS: the server's certificate and key (the stack's `postgres`, copied
        into the data dir at each start: the key must belong to the server's user, mode 600) and
        TLS required of every TCP login (pg_hba `hostssl`); without it, TLS is not required."""
        hba = self.data_dir / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        wanted = "hostssl" if self.settings.db_tls else "host"
        rules = [re.sub(r"^(host|hostssl)(\s)", rf"{wanted}\2", line) for line in lines]
        if rules != lines:
            hba.write_text("\n".join(rules) + "\n")
        if not self.settings.db_tls:
            return
        authority = Authority.of(self.settings)
        authority.ensure(self.settings, echo)
        files, user = authority.files(self.name), self._run_as()
        for source, target in ((files.cert, "server.crt"), (files.key, "server.key")):
            path = self.data_dir / target
            path.write_bytes(source.read_bytes())
            path.chmod(0o600)
            if user is not None:
                shutil.chown(path, user, user)

    def _initdb(self, bin_dir: Path, echo: Echo) -> None:
        echo(f"initialising a private PostgreSQL cluster in {self.data_dir}…")
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, mode=0o700)
        pwfile = self.data_dir.parent / ".pg-initdb-pw"
        pwfile.write_text(self.settings.pg_password.get_secret_value())
        user = self._run_as()
        if user is not None:
            shutil.chown(self.data_dir, user, user)
            shutil.chown(pwfile, user, user)
        try:
            proc = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.settings.pg_user,
                    f"--pwfile={pwfile}",
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                capture_output=True,
                text=True,
                user=user,
                group=user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise ComponentError(
                self.name,
                "initdb failed",
                fix="read the output below; remove the runtime folder's data/postgres and retry",
                details=proc.stdout[-1500:] + proc.stderr[-1500:],
            )

    def launch(self) -> PidRecord:
        bin_dir = ensure_postgres(lambda line: None)
        return spawn(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-c",
                f"listen_addresses={self.settings.pg_host}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "wal_level=logical",
                "-c",
                "max_replication_slots=20",
                "-c",
                "max_wal_senders=20",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=256MB",
                "-c",
                "log_min_messages=warning",
                "-c",
                "log_line_prefix=%m [%p] ",
                *(["-c", "ssl=on", "-c", "ssl_min_protocol_version=TLSv1.2"] if self.settings.db_tls else []),
            ],
            log_file=self.log_file,
            pid_file=self.layout.pid_file(self.name),
            marker=self.marker,
            user=self._run_as(),
        )

    def probe(self) -> str | None:
        try:
            with psycopg.connect(self.settings.pg_dsn(), connect_timeout=2) as conn:
                row = conn.execute("SHOW wal_level").fetchone()
        except psycopg.Error as exc:
            return f"not accepting connections ({str(exc).strip().splitlines()[0][:160]})"
        if row is None or row[0] != "logical":
            return f"wal_level is {row[0] if row else '?'}, expected logical"
        return None

    def after_healthy(self, echo: Echo) -> None:
        with psycopg.connect(self.settings.pg_dsn(), autocommit=True) as conn:
            ensure_cdc_role(conn, self.settings.pg_cdc_user, self.settings.pg_cdc_password.get_secret_value())


def ensure_cdc_role(conn: psycopg.Connection[Any], role: str, password: str) -> None:
    """Create (or re-password) the replication role Debezium connects as; `conn` in autocommit."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    # Role statements take no bind parameters: the password is a quoted literal, never logged.
    stmt = sql.SQL("{} ROLE {} WITH LOGIN REPLICATION PASSWORD {}").format(
        sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
    )
    with contextlib.suppress(psycopg.errors.DuplicateObject):  # a concurrent creator won the race
        conn.execute(stmt)
