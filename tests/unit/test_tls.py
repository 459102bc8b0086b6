"""The local stack's CA and server certificates: made once, issued again only when they must be."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings
from sharebus.dev.stack.tls import COMPONENTS, Authority, server_names


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, runtime_dir=tmp_path / "runtime")  # type: ignore[call-arg]


def _serial(authority: Authority, component: str) -> int:
    return x509.load_pem_x509_certificate(authority.files(component).cert.read_bytes()).serial_number


def test_the_ca_and_every_server_certificate_are_made_once(settings: Settings) -> None:
    authority, said = Authority.of(settings), []
    issued = authority.ensure(settings, said.append)
    assert set(issued) == set(COMPONENTS) and authority.ca_cert == settings.tls_ca
    assert authority.ca_key.stat().st_mode & 0o777 == 0o600
    for component in COMPONENTS:
        files = authority.files(component)
        assert files.key.stat().st_mode & 0o777 == 0o600 and files.keystore.stat().st_mode & 0o777 == 0o600
        keystore = files.keystore.read_text()
        assert keystore.startswith("-----BEGIN PRIVATE KEY-----") and "BEGIN CERTIFICATE" in keystore
    serials = {c: _serial(authority, c) for c in COMPONENTS}
    said.clear()
    authority.ensure(settings, said.append)
    assert said == [] and {c: _serial(authority, c) for c in COMPONENTS} == serials


def test_a_server_certificate_verifies_against_the_ca_for_its_names(settings: Settings) -> None:
    authority = Authority.of(settings)
    authority.ensure(settings, lambda line: None)
    names = server_names(settings, "kafka")
    assert {"localhost", "127.0.0.1", "kafka"} <= set(names)
    # What every client does: a handshake verifying the chain to the CA and the host name.
    files = authority.files("kafka")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert, files.key)
    client = ssl.create_default_context(cafile=str(authority.ca_cert))
    assert _handshake(client, server, "127.0.0.1") is None
    assert _handshake(client, server, "kafka") is None
    assert "mismatch" in str(_handshake(client, server, "elsewhere.example"))
    assert "verify failed" in str(_handshake(ssl.create_default_context(), server, "kafka"))


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, host: str) -> ssl.SSLError | None:
    """A TLS handshake in memory: None, or the client's error."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    tls_client = client.wrap_bio(c_in, c_out, server_hostname=host)
    tls_server = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (tls_client, tls_server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                if side is tls_client:
                    return exc
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if tls_client.version() is not None and tls_server.version() is not None:
            return None
    return None


def test_new_names_or_a_new_ca_issue_certificates_again(settings: Settings) -> None:
    authority = Authority.of(settings)
    authority.ensure(settings, lambda line: None)
    before = {c: _serial(authority, c) for c in COMPONENTS}
    public = settings.model_copy(update={"kafka_public_bootstrap": "bus.example.gov.cn:9094"})
    authority.ensure(public, lambda line: None)
    assert _serial(authority, "kafka") != before["kafka"] and _serial(authority, "web") == before["web"]
    assert "bus.example.gov.cn" in server_names(public, "kafka")
    ca = authority.ca_cert.read_bytes()
    authority.ensure(public, lambda line: None, renew_ca=True)
    assert authority.ca_cert.read_bytes() != ca
    assert all(_serial(authority, c) != before[c] for c in COMPONENTS if c != "kafka")


def test_an_unreadable_ca_is_a_clear_error(settings: Settings) -> None:
    authority = Authority.of(settings)
    authority.ensure_ca(lambda line: None)
    authority.ca_key.write_text("not a key")
    with pytest.raises(ConfigError, match="cannot be read") as refused:
        authority.issue("kafka", ["localhost"], lambda line: None)
    assert "--renew-ca" in str(refused.value.fix)
