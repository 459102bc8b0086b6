"""Masks of sensitive fields: partial masks, the keyed pseudonym, and the mask lookup."""

from __future__ import annotations

from typing import Any

import pytest

from sharebus.catalog.models import MaskKind
from sharebus.core.errors import ConfigError
from streams.policy.masks import (
    PSEUDONYM_HEX_CHARS,
    make_pseudonym,
    mask_address,
    mask_function,
    mask_id_number,
    mask_name,
    mask_phone,
)

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("mask", "value", "expected"),
    [
        (mask_id_number, "50010119800101123X", "500101************"),
        (mask_id_number, "500101800101123", "500101*********"),  # 15-digit legacy number
        (mask_id_number, "12345", "*****"),
        (mask_id_number, None, None),
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "023-12345678", "023*****5678"),
        (mask_phone, "12345", "*****"),
        (mask_phone, 13812345678, "138****5678"),
        (mask_phone, None, None),
        (mask_name, "张三丰", "张*"),
        (mask_name, "李四", "李*"),
        (mask_name, "王", "*"),
        (mask_name, "", ""),
        (mask_name, None, None),
        (mask_address, "重庆市渝中区解放碑民族路100号", "重庆市渝中区****"),
        (mask_address, "湖南省株洲市荷塘区新华路1号", "湖南省株洲市荷塘区****"),
        (mask_address, "重庆市石柱土家族自治县南宾街道", "重庆市石柱土家族自治县****"),
        (mask_address, "株洲市醴陵市来龙门街道", "株洲市醴陵市****"),
        (mask_address, "解放碑民族路100号", "****"),
        (mask_address, None, None),
    ],
)
def test_partial_masks(mask: Any, value: Any, expected: Any) -> None:
    assert mask(value) == expected


def test_pseudonym_is_keyed_stable_and_normalised() -> None:
    p = make_pseudonym(KEY)
    other = make_pseudonym(b"o" * 32)
    a = p("50010119800101123X")
    assert len(a) == PSEUDONYM_HEX_CHARS and int(a, 16) >= 0
    assert a == p("50010119800101123X") == p(" 50010119800101123x ")
    assert a != p("500101198001011234")
    assert a != other("50010119800101123X")
    assert make_pseudonym(KEY)("50010119800101123X") == a  # same key, same pseudonym: joinable
    assert p(None) is None


@pytest.mark.parametrize("key", [None, b"", b"short"])
def test_pseudonym_key_required(key: bytes | None) -> None:
    with pytest.raises(ConfigError, match="SHAREBUS_PSEUDONYM_KEY"):
        make_pseudonym(key)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (MaskKind.ID_NUMBER, mask_id_number),
        (MaskKind.PHONE, mask_phone),
        (MaskKind.NAME, mask_name),
        (MaskKind.ADDRESS, mask_address),
        (MaskKind.REDACT, None),
    ],
)
def test_mask_function_lookup(kind: MaskKind, expected: Any) -> None:
    assert mask_function(kind, pseudonym=None) is expected


def test_mask_function_pseudonym_needs_a_key() -> None:
    p = make_pseudonym(KEY)
    assert mask_function(MaskKind.PSEUDONYM, pseudonym=p) is p
    with pytest.raises(ConfigError):
        mask_function(MaskKind.PSEUDONYM, pseudonym=None)
    assert {k for k in MaskKind} == {  # every mask kind has a row above
        MaskKind.ID_NUMBER,
        MaskKind.PHONE,
        MaskKind.NAME,
        MaskKind.ADDRESS,
        MaskKind.REDACT,
        MaskKind.PSEUDONYM,
    }
