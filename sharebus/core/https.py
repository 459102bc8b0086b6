"""HTTPS of the bus's own web services (the schema registry, the worker's web server): their
certificates in SHAREBUS_TLS_DIR, the CA their clients verify them with, the worker's URL."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import requests

from sharebus.core.errors import AccessError, ConfigError, UnreachableError
from sharebus.core.kafka_clients import Role, http_login
from sharebus.core.settings import Settings

WEB_SERVER = "web"
REGISTRY_SERVER = "registry"


def server_files(folder: Path, server: str) -> tuple[Path, Path]:
    """(certificate, key) of `server` in the TLS folder: `<server>.pem`, `<server>.key`."""
    return folder / f"{server}.pem", folder / f"{server}.key"


def server_context(settings: Settings, server: str) -> ssl.SSLContext:
    """The TLS context `server` serves with (TLS 1.2 at least), from its files in SHAREBUS_TLS_DIR."""
    cert, key = server_files(settings.tls_home, server)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"TLS certificate {cert}",
            f"cannot be loaded for the {server} server",
            expected=f"{cert.name} and {key.name} (PEM) in {cert.parent}",
            actual=f"{type(exc).__name__}: {exc}",
            fix="`sharebus stack tls` makes them; or set SHAREBUS_TLS_DIR to the folder holding them",
        ) from None
    return context


def verify(settings: Settings) -> str | bool:
    """What an HTTPS client of the bus verifies the server with: the bus's CA file, or the
    system's CAs when there is none (a registry behind a public certificate)."""
    ca = settings.tls_ca
    return str(ca) if ca.is_file() else True


def web_url(settings: Settings, path: str = "") -> str:
    """The worker's web server (a wildcard bind address is asked on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.web_host, settings.web_host)
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.web_tls else "http"
    return f"{scheme}://{host}:{settings.web_port}{path}"


def web_session(settings: Settings, role: Role = Role.CLIENT) -> requests.Session:
    """A session to the worker's web server: logged in as `role`, verifying its certificate, and
    never through an HTTP(S)_PROXY (the worker is the bus's own)."""
    session = requests.Session()
    session.trust_env = False
    session.auth = http_login(settings, role)
    session.verify = verify(settings)
    return session


def untrusted(url: str, settings: Settings, exc: requests.exceptions.SSLError, plain_fix: str) -> AccessError:
    """The error of a server whose TLS fails (never taken for a dead server): its certificate does
    not verify, or it speaks HTTP (`plain_fix` says how to ask it over HTTP)."""
    text = str(exc.args[0] if exc.args else exc)
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return AccessError(url, "answers HTTP, not HTTPS", actual=text[:300], fix=plain_fix)
    return AccessError(
        url,
        "its TLS certificate is not trusted",
        expected=f"a certificate signed by the bus's CA {settings.tls_ca}, for this host name",
        actual=text[:300],
        fix="set SHAREBUS_TLS_CA_FILE to the CA that signed it, or ask for the server by a name its"
        " certificate holds (SHAREBUS_TLS_HOSTNAMES, then `sharebus stack tls`)",
    )


WEB_PLAIN_FIX = "a worker serving HTTP (SHAREBUS_WEB_TLS=false there) is asked with SHAREBUS_WEB_TLS=false"


def web_request(
    settings: Settings, method: str, path: str, *, timeout: float = 60.0, **kwargs: Any
) -> requests.Response:
    """`method path` on the worker's web API as SHAREBUS_KAFKA_USER (`kwargs` go to requests: params,
    json), waiting `timeout` s for the answer: the response, or the error of a server that does
    not answer or whose TLS fails."""
    url = web_url(settings, path)
    try:
        with web_session(settings, Role.CLIENT) as session:
            return session.request(method, url, timeout=(2.0, timeout), **kwargs)
    except requests.exceptions.SSLError as exc:
        raise untrusted(url, settings, exc, WEB_PLAIN_FIX) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise UnreachableError(
            f"worker web API at {url}",
            "does not answer",
            actual=type(exc).__name__,
            fix="start the worker (`sharebus worker`, or `sharebus run`), or point SHAREBUS_WEB_HOST /"
            " SHAREBUS_WEB_PORT at one",
        ) from None
