"""Catalog signatures: the admin's Ed25519 key signs every catalog version it publishes, and the
workers and the registry accept a version only with a signature their public key verifies."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sharebus.core.errors import ConfigError, ExitCode, SharebusError
from sharebus.core.settings import Settings

SIGNING_KEY_FILE = "catalog-signing.pem"
VERIFY_KEY_FILE = "catalog-signing.pub.pem"
_KEYGEN_FIX = "make a key pair with `sharebus catalog keygen DIR`"


class SignatureError(SharebusError):
    """A catalog version is not signed by the key the bus trusts: unsigned, altered, or signed by
    another key. It is refused; the version in force stays."""

    exit_code = ExitCode.TAMPERED


def key_id(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key: names the key in every version."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """The admin's private key: signs what `catalog publish` writes."""

    key: Ed25519PrivateKey
    key_id: str

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.key.sign(data)).decode()


@dataclass(frozen=True)
class Verifier:
    """The public key catalog versions must be signed with."""

    key: Ed25519PublicKey
    key_id: str

    def verify(self, data: bytes, signature: str | None, signed_by: str | None, what: str) -> None:
        """Raise SignatureError naming `what` unless `signature` is this key's over `data`."""
        fix = (
            "publish the catalog again as the admin (`sharebus catalog publish`), and find out who"
            " wrote this version (only the admin may write the catalog topic)"
        )
        if signature is None:
            raise SignatureError(
                what, "is not signed: refused", expected=f"a signature by key {self.key_id}", fix=fix
            )
        if signed_by != self.key_id:
            raise SignatureError(
                what,
                "is signed by another key: refused",
                expected=f"key {self.key_id}",
                actual=f"key {signed_by}",
                fix=fix + "; if the admin's key was replaced, give the workers its public key"
                " (SHAREBUS_CATALOG_VERIFY_KEY)",
            )
        try:
            self.key.verify(base64.b64decode(signature, validate=True), data)
        except (InvalidSignature, ValueError):
            raise SignatureError(
                what,
                "does not match its signature (altered after signing): refused",
                expected=f"the content key {self.key_id} signed",
                fix=fix,
            ) from None


def generate(directory: Path) -> tuple[Path, Path, str]:
    """A new key pair in `directory`: the private key (0600), its public key, and the key's id;
    never overwrites."""
    private, public = directory / SIGNING_KEY_FILE, directory / VERIFY_KEY_FILE
    for path in (private, public):
        if path.exists():
            raise ConfigError(
                str(path),
                "already exists: a catalog key pair is never overwritten",
                fix="choose another directory, or remove the old pair once no worker trusts it",
            )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public, key_id(key.public_key())


def _demo_pair(settings: Settings) -> tuple[Path, Path]:
    """On a demo bus, the pair in <runtime>/keys (made once, beside the pseudonym key)."""
    directory = settings.runtime_dir.resolve() / "keys"
    private, public = directory / SIGNING_KEY_FILE, directory / VERIFY_KEY_FILE
    if not private.exists():
        with contextlib.suppress(ConfigError):  # made meanwhile by another process of the runtime
            generate(directory)
    return private, public


def _required(setting: str, what: str) -> ConfigError:
    return ConfigError(
        f"SHAREBUS_{setting}",
        f"is required for a bus beyond loopback ({what})",
        actual="unset (a key generated per runtime folder would not be the admin's)",
        fix=f"{_KEYGEN_FIX} where the admin works, then set SHAREBUS_CATALOG_SIGNING_KEY there and"
        " SHAREBUS_CATALOG_VERIFY_KEY (the .pub.pem) for every worker and the registry",
    )


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"SHAREBUS_{setting} {path}",
            "cannot be read",
            actual=exc.strerror or type(exc).__name__,
            fix=f"point it at the key file ({_KEYGEN_FIX} makes one)",
        ) from None


def signer(settings: Settings) -> Signer:
    """The admin's signing key: SHAREBUS_CATALOG_SIGNING_KEY (on a demo bus, the runtime's pair)."""
    path = settings.catalog_signing_key
    if path is None:
        if not settings.demo:
            raise _required("CATALOG_SIGNING_KEY", "the admin's key that signs each catalog version")
        path = _demo_pair(settings)[0]
    try:
        key = serialization.load_pem_private_key(_read(path, "CATALOG_SIGNING_KEY"), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"SHAREBUS_CATALOG_SIGNING_KEY {path}", "is not an Ed25519 private key", fix=_KEYGEN_FIX
        )
    return Signer(key, key_id(key.public_key()))


def verifier(settings: Settings) -> Verifier:
    """The key catalog versions are verified with: SHAREBUS_CATALOG_VERIFY_KEY (on a demo bus,
    the runtime's pair)."""
    path = settings.catalog_verify_key
    if path is None:
        if not settings.demo:
            raise _required("CATALOG_VERIFY_KEY", "the admin's public key catalog versions are verified with")
        path = _demo_pair(settings)[1]
    return load_verifier(path)


def load_verifier(path: Path) -> Verifier:
    """The public key in the PEM file `path` (SHAREBUS_CATALOG_VERIFY_KEY's form)."""
    try:
        public = serialization.load_pem_public_key(_read(path, "CATALOG_VERIFY_KEY"))
    except (ValueError, TypeError):
        public = None
    if not isinstance(public, Ed25519PublicKey):
        raise ConfigError(
            f"SHAREBUS_CATALOG_VERIFY_KEY {path}", "is not an Ed25519 public key", fix=_KEYGEN_FIX
        )
    return Verifier(public, key_id(public))
