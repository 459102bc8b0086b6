"""The local stack's private certificate authority and the server certificate of each component."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sharebus.core.errors import ConfigError
from sharebus.core.https import REGISTRY_SERVER, WEB_SERVER, server_files
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings

CA_DAYS = 3650
SERVER_DAYS = 397  # what public CAs may issue at most; `stack up` renews within RENEW_DAYS of the end
RENEW_DAYS = 30
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")

COMPONENTS = {
    "kafka": "kafka",
    REGISTRY_SERVER: "registry",
    WEB_SERVER: "sharebus",
    "postgres": "postgres",
    "mariadb": "mariadb",
}
"""The servers that get a certificate → their host name in docker-compose.yml (the worker's web
server runs in the `sharebus` service)."""


def _host(address: str) -> str:
    """The host of `host:port` (brackets of an IPv6 address removed)."""
    host = address.strip().rpartition(":")[0] or address.strip()
    return host.strip("[]")


def server_names(settings: Settings, component: str) -> list[str]:
    """The names a component's certificate is valid for: loopback, its Compose host name, and for
    Kafka the hosts districts reach it by (SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP), plus SHAREBUS_TLS_HOSTNAMES."""
    names = [*LOCAL_NAMES, COMPONENTS[component]]
    if component == "kafka":
        names += [_host(a) for a in settings.kafka_public_bootstrap.split(",") if a.strip()]
        names += [_host(a) for a in settings.kafka_bootstrap.split(",") if a.strip()]
    names += [n.strip() for n in settings.tls_hostnames.split(",")]
    return list(dict.fromkeys(n for n in names if n))


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8, unencrypted, mode 600: what Kafka's PEM keystore, PostgreSQL and MariaDB all read.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class ServerFiles:
    """One component's certificate, its key, and both in one file (Kafka's PEM keystore)."""

    cert: Path
    key: Path
    keystore: Path


class Authority:
    """The CA in `directory` (ca.pem, ca.key), made once; it issues each component's certificate
    and issues it again when it is missing, near its end, signed by another CA, or for other names."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, settings: Settings) -> Authority:
        return cls(settings.tls_home)

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    def files(self, component: str) -> ServerFiles:
        cert, key = server_files(self.directory, component)
        return ServerFiles(cert, key, self.directory / f"{component}-keystore.pem")

    def ensure_ca(self, echo: Echo, *, renew: bool = False) -> bool:
        """Make the CA unless it exists (or `renew`); True when it was made."""
        if self.ca_cert.exists() and self.ca_key.exists() and not renew:
            return False
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sharebus local CA")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.ca_key, _key_pem(key))
        _write_public(self.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
        echo(f"made the bus's certificate authority {self.ca_cert}")
        return True

    def _load_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        try:
            cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
            key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"certificate authority {self.ca_cert}",
                "cannot be read",
                actual=str(exc),
                fix="`sharebus stack tls --renew-ca` makes a new one (then restart the stack)",
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(
                f"certificate authority key {self.ca_key}",
                "is not the key this stack made",
                expected="an EC P-256 key",
                actual=type(key).__name__,
                fix="`sharebus stack tls --renew-ca` makes a new CA",
            )
        return cert, key

    def _current(self, component: str, names: list[str], ca: x509.Certificate) -> bool:
        path = self.files(component)
        if not (path.cert.exists() and path.key.exists() and path.keystore.exists()):
            return False
        try:
            cert = x509.load_pem_x509_certificate(path.cert.read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, x509.ExtensionNotFound):
            return False
        return (
            cert.issuer == ca.subject
            and cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=RENEW_DAYS)
            and set(san) == set(_san(names))
        )

    def issue(self, component: str, names: list[str], echo: Echo, *, renew: bool = False) -> ServerFiles:
        """`component`'s certificate for `names`, issued now unless a current one exists."""
        ca, ca_key = self._load_ca()
        path = self.files(component)
        if not renew and self._current(component, names, ca):
            return path
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sharebus {component}")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(min(now + timedelta(days=SERVER_DAYS), ca.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_san(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = _key_pem(key)
        _write_private(path.key, key_pem)
        _write_private(path.keystore, key_pem + cert_pem)
        _write_public(path.cert, cert_pem)
        echo(f"issued the {component} certificate for {', '.join(names)}")
        return path

    def ensure(
        self,
        settings: Settings,
        echo: Echo,
        *,
        renew: bool = False,
        renew_ca: bool = False,
        owners: Mapping[str, int] | None = None,
    ) -> dict[str, x509.Certificate]:
        """The CA and every component's certificate, current (made or issued again as needed);
        `owners` gives a component's key files to the user its server runs as (a container's)."""
        made = self.ensure_ca(echo, renew=renew_ca)
        issued: dict[str, x509.Certificate] = {}
        for component in COMPONENTS:
            files = self.issue(component, server_names(settings, component), echo, renew=renew or made)
            if owners and component in owners:
                for path in (files.key, files.keystore):
                    os.chown(path, owners[component], owners[component])
            issued[component] = x509.load_pem_x509_certificate(files.cert.read_bytes())
        return issued
