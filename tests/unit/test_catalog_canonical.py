"""The catalog version hashes the same bytes, its canonical JSON dumped at once or entry by entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import canonical_json

SAMPLE_CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"


def test_the_sample_catalog_dumps_the_same_bytes_entry_by_entry() -> None:
    data = load_catalog(SAMPLE_CITY).canonical()
    assert b"".join(canonical_json(data)) == orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"b": [], "a": {"z": 1, "y": [1, 2]}},
        {"列表": [{"名": "值", "a": None}, {"b": 1.5}], "city": "重庆", "x": [[1], {"k": '"q"'}]},
    ],
)
def test_any_mapping_dumps_the_same_bytes_entry_by_entry(data: dict[str, Any]) -> None:
    assert b"".join(canonical_json(data)) == orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
