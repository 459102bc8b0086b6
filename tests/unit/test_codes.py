"""Table-driven tests of the GB 32100 (USCI) and GB 11643 (resident ID) check characters."""

from __future__ import annotations

import pytest

from sharebus.core.gbcodes import (
    USCI_ALPHABET,
    is_valid_resident_id,
    is_valid_usci,
    resident_id_check_char,
    usci_check_char,
)

VALID_USCI = [
    "91350100M000100Y43",  # GB 32100 example
    "91110000802100433B",
    "9144030071526726XG",
    "91330100716105852F",
]
VALID_IDS = [
    "11010519491231002X",  # GB 11643 example, check character X
    "440524188001010014",  # GB 11643 example, check digit 4
    "110101199003074477",
]


@pytest.mark.parametrize("code", VALID_USCI)
def test_valid_usci(code: str) -> None:
    assert is_valid_usci(code)
    assert usci_check_char(code[:17]) == code[17]


@pytest.mark.parametrize(
    ("code", "wrong"),
    [(code, c) for code in VALID_USCI[:2] for c in USCI_ALPHABET if c != code[17]],
)
def test_usci_every_wrong_check_char_is_rejected(code: str, wrong: str) -> None:
    assert not is_valid_usci(code[:17] + wrong)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",  # 19 characters
        "91350100M000100Y43 ",  # trailing blank
    ],
)
def test_usci_wrong_length_is_rejected(code: str) -> None:
    assert not is_valid_usci(code)


@pytest.mark.parametrize("letter", list("IOSVZ"))
@pytest.mark.parametrize("position", [8, 16, 17])
def test_usci_forbidden_letters_are_rejected(letter: str, position: int) -> None:
    code = "91350100M000100Y43"
    assert not is_valid_usci(code[:position] + letter + code[position + 1 :])


@pytest.mark.parametrize("letter", list("IOSVZ"))
def test_usci_check_char_refuses_forbidden_letters(letter: str) -> None:
    with pytest.raises(ValueError, match="alphabet"):
        usci_check_char("91350100" + letter + "000100Y4")


@pytest.mark.parametrize("body", ["", "91350100M000100Y", "91350100M000100Y43"])
def test_usci_check_char_refuses_wrong_body_length(body: str) -> None:
    with pytest.raises(ValueError, match="17 characters"):
        usci_check_char(body)


def test_usci_is_upper_case_only() -> None:
    assert not is_valid_usci("91350100m000100Y43")


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_resident_id(number: str) -> None:
    assert is_valid_resident_id(number)
    assert resident_id_check_char(number[:17]) == number[17]


def test_resident_id_lower_case_x_is_accepted() -> None:
    assert is_valid_resident_id("11010519491231002x")


@pytest.mark.parametrize(
    ("number", "wrong"),
    [(n, c) for n in VALID_IDS[:2] for c in "0123456789X" if c != n[17]],
)
def test_resident_id_every_wrong_check_char_is_rejected(number: str, wrong: str) -> None:
    assert not is_valid_resident_id(number[:17] + wrong)


@pytest.mark.parametrize(
    "number",
    [
        "",
        "11010519491231002",  # 17 characters
        "11010519491231002X0",  # 19 characters
        "1101051949123100XX",  # letter in the body
        "11010519491231002Y",  # check character outside 0-9, X
        "110105194912310 2X",
    ],
)
def test_resident_id_malformed_is_rejected(number: str) -> None:
    assert not is_valid_resident_id(number)


@pytest.mark.parametrize("body", ["", "1101051949123100", "1101051949123100X"])
def test_resident_id_check_char_refuses_bad_body(body: str) -> None:
    with pytest.raises(ValueError, match="17 digits"):
        resident_id_check_char(body)
