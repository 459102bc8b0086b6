"""A department database named by URL (`postgresql://user[:pass]@host:port/db`, `mariadb://…`),
its password from the URL, an environment variable or a prompt, and never echoed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, unquote, urlsplit

from sharebus.core.errors import ConfigError

POSTGRES = "postgres"
MARIADB = "mariadb"
_SCHEMES = {"postgresql": POSTGRES, "postgres": POSTGRES, "mariadb": MARIADB, "mysql": MARIADB}
_DEFAULT_PORTS = {POSTGRES: 5432, MARIADB: 3306}
_URL_EXAMPLE = "postgresql://user@host:5432/dbname or mariadb://user@host:3306/dbname"
DEFAULT_PASSWORD_ENV = "SHAREBUS_DB_PASSWORD"
MASK = "***"
# user:password@ in any URL-looking text.
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@", re.I)


@dataclass(frozen=True)
class DbTarget:
    """Where a department database is and who logs in; `password` never appears in repr or text."""

    kind: str
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False, compare=False)
    ca: str | None = None  # PostgreSQL: TLS, verify-full against this CA file; None: libpq's default

    @property
    def safe_url(self) -> str:
        """The URL without its password (for messages, logs and output)."""
        scheme = "postgresql" if self.kind == POSTGRES else "mariadb"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def where(self) -> str:
        return f'database "{self.dbname}" at {self.host}:{self.port}'

    def with_password(self, password: str | None) -> DbTarget:
        return replace(self, password=password)


def parse_db_url(url: str) -> DbTarget:
    """Parse `url`; ConfigError (naming the masked URL) when it is not a database URL we speak."""
    shown = mask_urls(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"--db {shown}",
            "is not a valid URL",
            expected=_URL_EXAMPLE,
            actual=mask_urls(str(exc)),
            fix="correct the URL",
        ) from None
    kind = _SCHEMES.get(parts.scheme.lower())
    if kind is None:
        raise ConfigError(
            f"--db {shown}",
            "names a database kind sharebus cannot capture",
            expected="scheme postgresql:// (PostgreSQL) or mariadb:// (MariaDB)",
            actual=f"scheme {parts.scheme or '(none)'!r}",
            fix=f"use a URL like {_URL_EXAMPLE}",
        )
    dbname = unquote(parts.path.lstrip("/"))
    missing = [
        name
        for name, value in (("host", parts.hostname), ("user", parts.username), ("database name", dbname))
        if not value
    ]
    if missing or "/" in dbname:
        raise ConfigError(
            f"--db {shown}",
            "is incomplete",
            expected=_URL_EXAMPLE,
            actual="missing " + ", ".join(missing) if missing else f"database name {dbname!r}",
            fix="give the user, host and database name in the URL",
        )
    assert parts.hostname is not None and parts.username is not None
    password = unquote(parts.password) if parts.password is not None else None
    ca = parse_qs(parts.query).get("sslrootcert", [None])[-1]  # the CA of the server's certificate
    return DbTarget(
        kind, parts.hostname, port or _DEFAULT_PORTS[kind], unquote(parts.username), dbname, password, ca
    )


def resolve_password(
    target: DbTarget,
    *,
    env: Mapping[str, str],
    env_name: str = DEFAULT_PASSWORD_ENV,
    prompt: Callable[[str], str] | None = None,
) -> DbTarget:
    """The target with its password: from the URL, else `env[env_name]`, else `prompt`."""
    if target.password is not None:
        return target
    if env.get(env_name):
        return target.with_password(env[env_name])
    if prompt is not None:
        return target.with_password(prompt(f"password of {target.user} for {target.safe_url}"))
    raise ConfigError(
        f"--db {target.safe_url}",
        "has no password",
        expected=f"the password in ${env_name}, the URL, or typed at the prompt",
        actual=f"${env_name} unset and no terminal to prompt on",
        fix=f"export {env_name}=… (preferred: it stays out of shell history) and re-run",
    )


def mask_urls(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` replaced by ***."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


SHORT_SECRET = 6
"""Secrets shorter than this are masked as whole words only: masking "ort" everywhere turned
"port" into "p***" and every message into a riddle, while the word itself is what a reader could
take for the password."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with URL passwords and each of `secrets` (when non-empty) replaced by ***."""
    out = mask_urls(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if len(secret) >= SHORT_SECRET:
            out = out.replace(secret, MASK)
        else:
            out = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", MASK, out)
    return out
