"""The private MariaDB instance of MariaDB departments: own datadir, port and socket, ROW binlog."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pymysql

from connectors.dbconn import mariadb_tls
from sharebus.core.errors import ComponentError, PrerequisiteError
from sharebus.core.process import PidRecord, spawn
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.system import apt_install
from sharebus.dev.stack.tls import Authority

# mariadbd refuses to run as root unless told to; as root the stack runs it as Debian's `mysql`.
_SERVICE_USER = "mysql"
_SERVER_CANDIDATES = (Path("/usr/sbin/mariadbd"), Path("/usr/sbin/mysqld"))
_INSTALL_DB = "mariadb-install-db"
# The server's own id; Debezium's binlog client takes another (derived from the department).
SERVER_ID = 1
TLS_CERT, TLS_KEY = "tls-cert.pem", "tls-key.pem"  # in the run dir, the server's own copies
CONNECT_TIMEOUT_S = 3
# Privileges Debezium's MariaDB connector needs on every database it captures (Debezium docs):
# snapshot reads, FLUSH for the snapshot lock, the binlog stream and binlog positions.
CDC_GLOBAL_PRIVILEGES = ("SELECT", "RELOAD", "SHOW DATABASES", "REPLICATION SLAVE", "BINLOG MONITOR")


def mariadb_server_binary() -> Path | None:
    """Debian's MariaDB server binary, if installed."""
    return next((p for p in _SERVER_CANDIDATES if p.exists()), None)


def ensure_mariadb(echo: Echo) -> Path:
    """The `mariadbd` binary, installing Debian's `mariadb-server` if missing.

    Installing the package may create (and, with an init system, start) Debian's own instance on
    port 3306; the stack never touches it and runs its private instance on its own port.
    """
    server = mariadb_server_binary()
    if server is None or shutil.which(_INSTALL_DB) is None:
        apt_install(["mariadb-server"], echo)
        server = mariadb_server_binary()
    if server is None or shutil.which(_INSTALL_DB) is None:
        raise PrerequisiteError(
            "mariadb",
            "MariaDB server binaries not found",
            expected="/usr/sbin/mariadbd and mariadb-install-db",
            actual="missing",
            fix="apt-get install mariadb-server",
        )
    return server


def admin_connection(settings: Settings, database: str | None = None) -> Any:
    """A TCP connection (pymysql, untyped) as the private instance's admin user (autocommit)."""
    return pymysql.connect(
        **mariadb_tls(settings.db_ca),
        host=settings.mariadb_host,
        port=settings.mariadb_port,
        user=settings.mariadb_user,
        password=settings.mariadb_password.get_secret_value(),
        database=database,
        connect_timeout=CONNECT_TIMEOUT_S,
        autocommit=True,
        charset="utf8mb4",
    )


def _quote(value: str) -> str:
    """A single-quoted SQL string literal (for the init file, which takes no parameters)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MariaDB(Component):
    name = "mariadb"
    port_setting = "SHAREBUS_MARIADB_PORT"
    start_timeout = 60.0
    stop_signal = signal.SIGTERM

    @property
    def port(self) -> int:
        return self.settings.mariadb_port

    @property
    def endpoint(self) -> str:
        return f"mariadb://{self.settings.mariadb_user}@{self.settings.mariadb_host}:{self.port}/"

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir("mariadb")

    @property
    def run_dir(self) -> Path:
        """Socket and pid file: a folder the server's user can write."""
        return self.layout.data / "mariadb-run"

    @property
    def init_file(self) -> Path:
        """SQL run at start-up (accounts); holds passwords, so 0600 and removed once healthy."""
        return self.run_dir / "init.sql"

    @property
    def marker(self) -> str:
        return str(self.data_dir)

    def _run_as(self) -> str | None:
        return _SERVICE_USER if os.geteuid() == 0 else None

    def _own(self, path: Path) -> None:
        user = self._run_as()
        if user is not None:
            shutil.chown(path, user, user)

    def prepare(self, echo: Echo) -> None:
        ensure_mariadb(echo)
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._own(self.run_dir)
        self._write_init_file()
        self._tls(echo)
        if (self.data_dir / "mysql").is_dir():
            return
        echo(f"initialising a private MariaDB instance in {self.data_dir}…")
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, mode=0o700)
        self._own(self.data_dir)
        argv = [
            _INSTALL_DB,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
        ]
        user = self._run_as()
        if user is not None:
            argv.append(f"--user={user}")
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise ComponentError(
                self.name,
                "mariadb-install-db failed",
                fix=f"read the output below; remove {self.data_dir} and retry `sharebus stack up`",
                details=(proc.stdout + proc.stderr)[-2000:],
            )

    def _tls(self, echo: Echo) -> None:
        """With SHAREBUS_DB_TLS: the stack's `mariadb` certificate and key, copied into the run
        dir at each start (the key must belong to the server's user)."""
        if not self.settings.db_tls:
            return
        authority = Authority.of(self.settings)
        authority.ensure(self.settings, echo)
        files = authority.files(self.name)
        for source, target in ((files.cert, TLS_CERT), (files.key, TLS_KEY)):
            path = self.run_dir / target
            path.write_bytes(source.read_bytes())
            path.chmod(0o600)
            self._own(path)

    def _tls_args(self) -> list[str]:
        """TLS served, and required of every TCP login (the socket needs none)."""
        if not self.settings.db_tls:
            return []
        return [
            f"--ssl-cert={self.run_dir / TLS_CERT}",
            f"--ssl-key={self.run_dir / TLS_KEY}",
            "--tls-version=TLSv1.2,TLSv1.3",
            "--require-secure-transport=ON",
        ]

    def _write_init_file(self) -> None:
        """Accounts, created idempotently at every start: the admin (over TCP) and the CDC user."""
        s = self.settings
        admin, cdc = _quote(s.mariadb_user), _quote(s.mariadb_cdc_user)
        admin_pw, cdc_pw = (
            _quote(s.mariadb_password.get_secret_value()),
            _quote(s.mariadb_cdc_password.get_secret_value()),
        )
        lines = [
            f"CREATE USER IF NOT EXISTS {admin}@'127.0.0.1' IDENTIFIED BY {admin_pw};",
            f"ALTER USER {admin}@'127.0.0.1' IDENTIFIED BY {admin_pw};",
            f"GRANT ALL PRIVILEGES ON *.* TO {admin}@'127.0.0.1' WITH GRANT OPTION;",
            # mariadb-install-db's password-less root accounts: the socket one gets the admin
            # password, the IPv6 one goes (the instance listens on IPv4 only anyway).
            f"ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY {admin_pw};",
            "DROP USER IF EXISTS 'root'@'::1';",
            f"CREATE USER IF NOT EXISTS {cdc}@'127.0.0.1' IDENTIFIED BY {cdc_pw};",
            f"ALTER USER {cdc}@'127.0.0.1' IDENTIFIED BY {cdc_pw};",
            f"GRANT {', '.join(CDC_GLOBAL_PRIVILEGES)} ON *.* TO {cdc}@'127.0.0.1';",
        ]
        fd = os.open(self.init_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        self._own(self.init_file)

    def launch(self) -> PidRecord:
        server = ensure_mariadb(lambda line: None)
        argv = [
            str(server),
            "--no-defaults",  # never read /etc/mysql: the system instance's config is not ours
            f"--datadir={self.data_dir}",
            f"--port={self.port}",
            f"--bind-address={self.settings.mariadb_host}",
            f"--socket={self.run_dir / 'mariadb.sock'}",
            f"--pid-file={self.run_dir / 'mariadb.pid'}",
            "--skip-name-resolve",
            f"--server-id={SERVER_ID}",
            f"--log-bin={self.data_dir / 'binlog'}",
            "--binlog-format=ROW",
            "--binlog-row-image=FULL",
            "--binlog-expire-logs-seconds=86400",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=200",
            "--log-warnings=1",
            *self._tls_args(),
        ]
        if self.init_file.exists():
            argv.append(f"--init-file={self.init_file}")
        return spawn(
            argv,
            log_file=self.log_file,
            pid_file=self.layout.pid_file(self.name),
            marker=self.marker,
            user=self._run_as(),
        )

    def probe(self) -> str | None:
        try:
            with admin_connection(self.settings) as conn, conn.cursor() as cur:
                cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image")
                row = cur.fetchone()
        except pymysql.MySQLError as exc:
            return f"not accepting connections ({str(exc).strip()[:160]})"
        if row is None or (int(row[0]), row[1], row[2]) != (1, "ROW", "FULL"):
            return f"binlog is {row}, expected log_bin=1, ROW, FULL"
        return None

    def after_healthy(self, echo: Echo) -> None:
        # The accounts exist now; the passwords need not stay on disk.
        self.init_file.unlink(missing_ok=True)
