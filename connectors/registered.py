"""A registered connector read back from Kafka Connect: its capture spec (department, database,
tables) and the database target, with the password from the secrets dir Connect reads."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from connectors.client import ConnectClient
from connectors.dburl import DbTarget
from connectors.render import (
    CONNECTOR_CLASSES,
    MARIADB,
    MARIADB_CA,
    MESSAGE_KEY_COLUMNS,
    TRUSTSTORE_PASSWORD,
    CaptureSpec,
    parse_key_columns,
)
from sharebus.core import naming
from sharebus.core.errors import ConfigError, ConnectorError
from sharebus.core.keys import write_secret

_PROVIDER_REF = re.compile(r"^\$\{dir:(?P<dir>[^:}]+):(?P<name>[^}]+)\}$")
_KIND_OF = {cls: kind for kind, cls in CONNECTOR_CLASSES.items()}


def not_registered(name: str) -> ConnectorError:
    """The error for a connector name Kafka Connect does not know."""
    return ConnectorError(
        f"connector {name}",
        "is not registered",
        expected="a registered connector",
        actual="no such connector in Kafka Connect",
        fix="see `sharebus connectors list`",
    )


def connector_config(client: ConnectClient, name: str) -> dict[str, str]:
    config = client.config(name)
    if config is None:
        raise not_registered(name)
    return config


def kind_of(config: Mapping[str, str]) -> str | None:
    """postgres | mariadb for the Debezium connectors sharebus renders, else None."""
    return _KIND_OF.get(config.get("connector.class", ""))


def spec_of(name: str, config: Mapping[str, str]) -> CaptureSpec:
    """The CaptureSpec a sharebus-rendered connector config came from."""
    kind = kind_of(config)
    prefix = config.get("topic.prefix", "")
    department = naming.department_of_raw_prefix(prefix)
    if kind is None or department is None:
        raise ConfigError(
            f"connector {name}",
            "was not onboarded by sharebus",
            expected="a Debezium PostgreSQL or MariaDB connector with topic.prefix "
            + naming.raw_prefix("<department>"),
            actual=f"{config.get('connector.class')} with topic.prefix {prefix or '(none)'}",
            fix="manage it with Kafka Connect's REST API directly",
        )
    db = config.get("database.include.list", "") if kind == MARIADB else config.get("database.dbname", "")
    listed = tuple(t.replace("\\", "") for t in config.get("table.include.list", "").split(",") if t)
    spec = CaptureSpec(
        department=department,
        db_name=db,
        kind=kind,
        tables=listed,
        db_host=config.get("database.hostname", ""),
        db_port=int(config.get("database.port", "0")),
        db_user=config.get("database.user", ""),
        snapshot_mode=config.get("snapshot.mode", "initial"),
        db_ca=_ca_of(config),
        key_columns=parse_key_columns(config.get(MESSAGE_KEY_COLUMNS, "")),
    )
    own = tuple(t for t in listed if t not in spec.bus_tables)
    return replace(spec, tables=own) if own else spec


def _ca_of(config: Mapping[str, str]) -> str | None:
    """The CA file a rendered config verifies its database's certificate with (None: no TLS)."""
    if config.get("database.sslmode") == "verify-full":  # PostgreSQL
        return config.get("database.sslrootcert")
    if config.get("database.ssl.mode") == "verify-full":  # MariaDB
        return config.get(MARIADB_CA)
    return None


def secret_file(config: Mapping[str, str]) -> Path | None:
    """Where the connector's password is, when it is a DirectoryConfigProvider reference (as
    Connect sees it: never read or removed from there by the bus, see `target_of`)."""
    match = _PROVIDER_REF.match(config.get("database.password", ""))
    return Path(match["dir"]) / match["name"] if match else None


def _where(spec: CaptureSpec) -> dict[str, object]:
    return {
        "kind": spec.kind,
        "host": spec.db_host,
        "port": spec.db_port,
        "user": spec.db_user,
        "database": spec.db_name,
    }


def write_truststore(secrets_dir: Path, spec: CaptureSpec) -> Path | None:
    """A MariaDB capture over TLS: its CA as the Java truststore (PKCS12) Debezium verifies the
    server with (JDBC and binlog client alike); None for other captures."""
    if spec.kind != MARIADB or not spec.db_ca:
        return None
    try:
        ca = x509.load_pem_x509_certificates(Path(spec.db_ca).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"CA file {spec.db_ca}",
            "cannot be read as PEM certificates",
            actual=str(exc),
            fix="name the CA of the database server's certificate (`?sslrootcert=FILE` in --db)",
        ) from None
    store = pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(cert, f"ca{i}".encode()) for i, cert in enumerate(ca)],
        serialization.BestAvailableEncryption(TRUSTSTORE_PASSWORD.encode()),
    )
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / naming.db_truststore_secret(spec.department)
    path.write_bytes(store)
    path.chmod(0o644)  # public certificates only
    return path


def record_target(secrets_dir: Path, spec: CaptureSpec) -> Path:
    """Record where the bus may log in with `spec`'s password (beside it in the secrets dir):
    written when a connector is registered through the bus, checked by `target_of`. A MariaDB
    capture over TLS also gets its CA as the Java truststore Debezium reads (`write_truststore`)."""
    write_truststore(secrets_dir, spec)
    return write_secret(secrets_dir, naming.db_target_record(spec.department), json.dumps(_where(spec)))


def target_of(
    spec: CaptureSpec,
    config: Mapping[str, str],
    *,
    secrets_dir: Path,
    env: Mapping[str, str] | None = None,
    password_env: str = "SHAREBUS_DB_PASSWORD",
) -> DbTarget:
    """The database the connector captures, logged in as its user. Whoever can change a config
    in Connect's REST API must not be able to aim the bus's logins: the database must be the one
    onboarding recorded (`record_target`), and the password is read only from the bus's own
    secrets dir, under the connector's own secret name (else from `password_env`)."""
    name = spec.connector_name
    record_path = secrets_dir / naming.db_target_record(spec.department)
    try:
        recorded = json.loads(record_path.read_text())
    except (OSError, ValueError):
        recorded = None
    where = _where(spec)
    if recorded is None:
        raise ConfigError(
            f"connector {name}",
            "has no record of the database the bus may log in to for it",
            expected=f"{record_path} (written when the connector is registered through the bus)",
            actual="missing or unreadable",
            fix="register it again with `sharebus connectors add` (the samples: `make run`)",
        )
    if recorded != where:
        raise ConfigError(
            f"connector {name}",
            "names a database its onboarding did not record: the bus will not log in there",
            expected=_describe(recorded),
            actual=_describe(where),
            fix="if the database really moved, onboard it again with `sharebus connectors add`; otherwise"
            " its config was changed outside the bus (check who can reach Connect's REST API)",
        )
    own = secrets_dir / spec.password_secret
    ref = secret_file(config)
    if ref is not None and ref.name != own.name:
        raise ConfigError(
            f"connector {name}",
            "takes its password from a secret that is not its own: the bus will not read it",
            expected=f"${{dir:…:{own.name}}}",
            actual=str(ref),
            fix="onboard it again with `sharebus connectors add`; its config was changed outside the bus",
        )
    password: str | None = None
    if ref is not None and own.is_file() and os.access(own, os.R_OK):
        password = own.read_text()
    env = os.environ if env is None else env
    if password is None and env.get(password_env):
        password = env[password_env]
    if password is None:
        raise ConfigError(
            f"connector {name}",
            "its database password is not readable here",
            expected=f"the secrets file {own} or ${password_env}",
            actual="neither is available on this host",
            fix=f"export {password_env}=<the password of {spec.db_user}> and re-run",
        )
    return DbTarget(spec.kind, spec.db_host, spec.db_port, spec.db_user, spec.db_name, password, spec.db_ca)


def _describe(where: Mapping[str, object]) -> str:
    kind, user, host, port, db = (where.get(k) for k in ("kind", "user", "host", "port", "database"))
    return f"{kind} {user}@{host}:{port}/{db}"
