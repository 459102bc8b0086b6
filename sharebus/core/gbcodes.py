"""Check characters of Chinese government codes: GB 32100 unified social credit codes (USCI) and
GB 11643 resident identity numbers."""

from __future__ import annotations

from operator import getitem, mul

# GB 32100-2015: 31 characters, I O S V Z excluded.
USCI_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCI_VALUE = {c: i for i, c in enumerate(USCI_ALPHABET)}
_USCI_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Per position: character → value × weight, so a weighted sum is 17 C-level lookups.
_USCI_TERMS = tuple({c: v * w for c, v in _USCI_VALUE.items()} for w in _USCI_WEIGHTS)

# GB 11643-1999: weights 2^(17-i) mod 11, check digit table for sum mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_DIGIT = {str(d): d for d in range(10)}
_ID_TERMS = tuple({str(d): d * w for d in range(10)} for w in _ID_WEIGHTS)


def usci_check_char(first17: str) -> str:
    """The 18th character of a USCI whose first 17 characters are `first17`."""
    if len(first17) != 17:
        raise ValueError(f"USCI body must be 17 characters, got {len(first17)}")
    try:
        total = sum(map(mul, map(_USCI_VALUE.__getitem__, first17), _USCI_WEIGHTS))
    except KeyError as exc:
        raise ValueError(f"USCI body has a character outside GB 32100's alphabet: {exc}") from None
    return USCI_ALPHABET[(31 - total % 31) % 31]


def is_valid_usci(code: str) -> bool:
    """True when `code` is 18 characters of GB 32100's alphabet with a correct check character."""
    if len(code) != 18:
        return False
    try:
        total = sum(map(getitem, _USCI_TERMS, code))  # stops after the 17 body characters
    except KeyError:
        return False
    return code[17] in _USCI_VALUE and USCI_ALPHABET[(31 - total % 31) % 31] == code[17]


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a resident ID number whose first 17 digits are `first17`."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("resident ID body must be 17 digits")
    total = sum(map(mul, map(_DIGIT.__getitem__, first17), _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def is_valid_resident_id(number: str) -> bool:
    """True when `number` is 17 digits plus a correct GB 11643 check character (digit or X)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    return _ID_CHECK[sum(map(getitem, _ID_TERMS, number)) % 11] == number[17].upper()
