"""Keys the bus generates once and keeps in the runtime folder when no setting provides them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sharebus.core.settings import Settings


def pseudonym_key(settings: Settings) -> bytes:
    """SHAREBUS_PSEUDONYM_KEY, or a random key created once in <runtime>/secrets/pseudonym.key.

    The key must stay the same for the life of a deployment: pseudonyms are joinable only while
    it does.
    """
    if settings.pseudonym_key is not None:
        return settings.pseudonym_key.get_secret_value().encode()
    path = settings.runtime_dir.resolve() / "secrets" / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def write_secret(secrets_dir: Path, name: str, value: str) -> Path:
    """Store one secret as a file readable only by its owner (Kafka's DirectoryConfigProvider)."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return path
