"""Keys the bus generates once and keeps in the runtime folder when no setting provides them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings


def pseudonym_key(settings: Settings) -> bytes:
    """SHAREBUS_PSEUDONYM_KEY; on a demo bus (`Settings.demo`) only, a random key created once in
    <runtime>/keys/pseudonym.key — beside the runtime, never in the secrets dir Kafka Connect reads.

    The key must stay the same for the life of a deployment and be the same for every worker:
    pseudonyms are joinable only while it does. So beyond a demo it must be set: a generated key
    differs per runtime folder (two workers, or a recreated volume, would pseudonymise the same
    person differently).
    """
    if settings.pseudonym_key is not None:
        return settings.pseudonym_key.get_secret_value().encode()
    if not settings.demo:
        raise ConfigError(
            "SHAREBUS_PSEUDONYM_KEY",
            "is required for a bus beyond loopback",
            expected="one secret of >= 16 bytes, the same for every worker, kept for the life of the bus",
            actual="unset (a key generated per runtime folder would pseudonymise a person differently"
            " in each worker)",
            fix="set SHAREBUS_PSEUDONYM_KEY=$(openssl rand -hex 32) for every worker and keep it safe",
        )
    runtime = settings.runtime_dir.resolve()
    path, earlier = runtime / "keys" / PSEUDONYM_KEY_FILE, runtime / "secrets" / PSEUDONYM_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if earlier.exists():  # where earlier versions kept it: moved, so pseudonyms stay the same
            os.replace(earlier, path)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


PSEUDONYM_KEY_FILE = "pseudonym.key"


def previous_pseudonym_keys(settings: Settings) -> tuple[bytes, ...]:
    """SHAREBUS_PSEUDONYM_PREVIOUS_KEYS, newest first (ConfigError when unset: nothing to map)."""
    raw = settings.pseudonym_previous_keys.get_secret_value() if settings.pseudonym_previous_keys else ""
    keys = tuple(k.strip().encode() for k in raw.split(",") if k.strip())
    if not keys:
        raise ConfigError(
            "SHAREBUS_PSEUDONYM_PREVIOUS_KEYS",
            "is not set: there is no earlier key whose pseudonyms could be mapped",
            expected="the key(s) SHAREBUS_PSEUDONYM_KEY replaced, comma-separated, newest first",
            fix="after a rotation, set it to the old key (and SHAREBUS_PSEUDONYM_KEY to the new one)",
        )
    return keys


def write_secret(secrets_dir: Path, name: str, value: str) -> Path:
    """Store one secret as a file readable only by its owner (Kafka's DirectoryConfigProvider)."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return path
