"""Masks for sensitive fields: partial masks (ID number, phone, name, address), the keyed
pseudonym (HMAC-SHA256, equal inputs give equal pseudonyms in every resource), and their lookup."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import Any

from sharebus.catalog.models import MaskKind
from sharebus.core.errors import ConfigError

MaskFn = Callable[[Any], Any]

PSEUDONYM_HEX_CHARS = 32
"""Pseudonym length: 128 bits of HMAC-SHA256, hex; collisions are negligible at city scale."""
MIN_KEY_BYTES = 16

_ADDRESS_SCAN = 12
_ADDRESS_UNIT = re.compile(f"[^区县旗]{{0,{_ADDRESS_SCAN - 1}}}[区县旗]")


def mask_id_number(value: Any) -> Any:
    """Keep only the 6-digit region code: 500101************. The birth date, sequence and
    check character are all hidden: with the region, a known birth year and the last 4 kept
    (as before), about 33 candidates remained; the region alone leaves a district's population."""
    if value is None:
        return None
    s = str(value)
    if len(s) < 15:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 6)


def mask_phone(value: Any) -> Any:
    """Keep the first 3 and last 4 characters: 138****5678."""
    if value is None:
        return None
    s = str(value)
    if len(s) < 8:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def mask_name(value: Any) -> Any:
    """Keep the first character: 张* (the length of the name is not shown)."""
    if value is None:
        return None
    s = str(value)
    if len(s) <= 1:
        return "*" * len(s)
    return s[0] + "*"


def mask_address(value: Any) -> Any:
    """Keep the administrative prefix up to the district or county (or else the city):
    重庆市渝中区解放碑… → 重庆市渝中区****; nothing recognisable → ****."""
    if value is None:
        return None
    s = str(value)
    unit = _ADDRESS_UNIT.match(s)
    if unit is not None:
        return unit.group() + "****"
    cut = s.rfind("市", 0, _ADDRESS_SCAN)
    return s[: cut + 1] + "****"


def check_pseudonym_key(key: bytes | None) -> bytes:
    """The key, or ConfigError when it is missing or too short to be a secret."""
    if key is None or len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            "pseudonym key",
            "is missing or too short" if key else "is not set",
            expected=f"at least {MIN_KEY_BYTES} bytes of secret (32 random bytes recommended)",
            actual=f"{len(key)} bytes" if key else "none",
            fix="set SHAREBUS_PSEUDONYM_KEY, e.g. to the output of `openssl rand -hex 32`",
        )
    return key


def pseudonym_key_id(key: bytes) -> str:
    """Names a pseudonym key without revealing it (an HMAC of a fixed label): on every delivered
    record with pseudonyms (header `sharebus.pseudonym.key_id`), so a district knows which key's
    pseudonyms it holds, and in `sharebus pseudonyms map`'s table after a rotation."""
    return hmac.digest(check_pseudonym_key(key), b"sharebus pseudonym key id", "sha256").hex()[:12]


def make_pseudonym(key: bytes | None) -> MaskFn:
    """HMAC-SHA256 of the trimmed, upper-cased value under `key`, first 32 hex characters.

    Normalising makes `...123x` and `...123X` one person, so districts can join resources on
    the pseudonym; without the key the original cannot be recovered or confirmed.
    """
    secret = check_pseudonym_key(key)

    def pseudonym(value: Any) -> Any:
        if value is None:
            return None
        data = str(value).strip().upper().encode("utf-8")
        return hmac.digest(secret, data, "sha256").hex()[:PSEUDONYM_HEX_CHARS]

    return pseudonym


_PARTIAL: dict[MaskKind, MaskFn] = {
    MaskKind.ID_NUMBER: mask_id_number,
    MaskKind.PHONE: mask_phone,
    MaskKind.NAME: mask_name,
    MaskKind.ADDRESS: mask_address,
}


def mask_function(kind: MaskKind, *, pseudonym: MaskFn | None) -> MaskFn | None:
    """The function applying mask `kind`; None for `redact` (the field is left out)."""
    if kind is MaskKind.REDACT:
        return None
    if kind is MaskKind.PSEUDONYM:
        return pseudonym if pseudonym is not None else make_pseudonym(check_pseudonym_key(None))
    return _PARTIAL[kind]
