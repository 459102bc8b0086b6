"""Shared CLI output: tables, `--json`, progress lines on stderr, and the one error path (secrets
scrubbed, JSON under --json, one exit code per meaning)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
import psycopg
import requests
from confluent_kafka import KafkaException

from connectors.dburl import redact
from sharebus.core.errors import AccessError, ConfigError, ExitCode, SharebusError, UnreachableError
from sharebus.core.settings import get_settings, secret_values

P = ParamSpec("P")
R = TypeVar("R")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


# Secrets this process was handed besides the settings' (a typed or URL password).
_SEEN_SECRETS: set[str] = set()


def remember_secret(value: str | None) -> None:
    """Scrub `value` from every message this process prints from now on."""
    if value:
        _SEEN_SECRETS.add(value)


def _known_secrets() -> set[str]:
    """Every secret the settings hold and every remembered one."""
    try:
        return secret_values(get_settings()) | _SEEN_SECRETS
    except SharebusError:  # unreadable settings hold no secret we could know
        return set(_SEEN_SECRETS)


def scrub(text: str) -> str:
    """`text` with URL passwords, every secret the settings hold and every remembered one masked."""
    return redact(text, _known_secrets())


def progress(message: str) -> None:
    """A progress line for humans, on stderr so stdout stays machine-readable (secrets scrubbed)."""
    click.echo(scrub(message), err=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def fail(err: SharebusError, *, as_json: bool = False) -> NoReturn:
    """Report `err` and exit with its code: the message on stderr and, with --json, the error as
    JSON on stdout (`{"ok": false, "error": …}`); secrets scrubbed from both."""
    secrets = _known_secrets()
    click.echo("error: " + redact(err.render(), secrets), err=True)
    if as_json:
        emit_json(_scrubbed({"ok": False, **err.to_dict(), "details": err.details}, secrets))
    sys.exit(err.exit_code)


def _scrubbed(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v, secrets) for v in value]
    return value


def _unreachable(exc: Exception) -> SharebusError:
    """A service's own exception that reached the CLI (no component named it): said plainly."""
    text = str(exc).strip()[:500] or type(exc).__name__
    if isinstance(exc, KafkaException):
        try:
            bootstrap = get_settings().kafka_bootstrap
        except SharebusError:
            bootstrap = "(SHAREBUS_KAFKA_BOOTSTRAP)"
        if "AUTHORIZATION" in text or "AUTHENTICATION" in text:
            return AccessError(
                f"Kafka at {bootstrap}",
                "refused the request",
                actual=text,
                fix="check the principal's password (SHAREBUS_KAFKA_*_PASSWORD) and its grants"
                " (`sharebus acl show`)",
            )
        if "MSG_SIZE_TOO_LARGE" in text:
            return ConfigError(
                f"Kafka at {bootstrap}",
                "takes the record",
                actual=text,
                fix="raise the topic's max.message.bytes (the catalog topic's: `sharebus catalog publish`"
                " as the admin) or the producer's message.max.bytes (SHAREBUS_KAFKA_PRODUCER_EXTRA)",
            )
        return UnreachableError(
            f"Kafka at {bootstrap}",
            "does not answer",
            actual=text,
            fix="start it (`sharebus stack up`, `sharebus stack status`) or correct SHAREBUS_KAFKA_BOOTSTRAP",
        )
    if isinstance(exc, psycopg.OperationalError):
        return UnreachableError(
            "a PostgreSQL database",
            "refused or lost the connection",
            actual=text,
            fix="start it (`sharebus stack up`) or correct the database URL or SHAREBUS_PG_* settings",
        )
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or "an HTTP service"
    return UnreachableError(
        str(url),
        "does not answer",
        actual=text,
        fix="start it (`sharebus stack up`) or correct SHAREBUS_CONNECT_URL / SHAREBUS_REGISTRY_URL",
    )


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """The one error path of every command: a `SharebusError` becomes its message (and JSON with
    --json) and its exit code, Ctrl-C exits 130; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SharebusError as exc:
            fail(exc, as_json=bool(kwargs.get("as_json")))
        except (KafkaException, requests.ConnectionError, requests.Timeout, psycopg.OperationalError) as exc:
            fail(_unreachable(exc), as_json=bool(kwargs.get("as_json")))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)

    return wrapper
