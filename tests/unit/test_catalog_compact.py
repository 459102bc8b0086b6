"""Equal parts of catalog entries are shared: the catalog's values are those of a plain parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scale.catalog import Scale, write
from sharebus.catalog import compact, load
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog, Demand

SAMPLE_CITY = Path(__file__).resolve().parents[2] / "catalog" / "chongqing"


class _Plain(compact.Compactor):
    def entry(self, model: object) -> None:
        pass


def _both(directory: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Catalog, Catalog]:
    load.forget_parsed()
    shared = load_catalog(directory)
    load.forget_parsed()
    with monkeypatch.context() as m:
        m.setattr(load, "Compactor", _Plain)
        plain = load_catalog(directory)
    load.forget_parsed()
    return shared, plain


@pytest.mark.parametrize("city", ["sample", "generated"])
def test_a_compacted_catalog_is_the_plain_one(
    city: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = (
        SAMPLE_CITY
        if city == "sample"
        else write(Scale(departments=3, resources=40), tmp_path / "chongqing").directory
    )
    shared, plain = _both(directory, monkeypatch)
    assert shared == plain
    assert shared.version == plain.version and shared.canonical() == plain.canonical()
    for a, b in zip(shared.resources, plain.resources, strict=True):
        assert a.model_dump() == b.model_dump() and a.__pydantic_fields_set__ == b.__pydantic_fields_set__


def test_equal_field_specs_are_one_object(tmp_path: Path) -> None:
    catalog = load_catalog(write(Scale(departments=3, resources=40), tmp_path / "chongqing").directory)
    specs = [f for r in catalog.resources for f in r.fields]
    assert len({id(f) for f in specs}) == len(set(specs)) < len(specs)


def test_a_copy_with_changes_leaves_the_shared_parts_alone() -> None:
    load.forget_parsed()
    catalog = load_catalog(SAMPLE_CITY)
    by_set: dict[int, list[Demand]] = {}
    for d in catalog.demands:
        by_set.setdefault(id(d.__pydantic_fields_set__), []).append(d)
    first, second = next(ds for ds in by_set.values() if len(ds) > 1)[:2]
    before = set(second.__pydantic_fields_set__)
    changed = first.model_copy(update={"note": "changed"})
    assert changed.note == "changed" and second.__pydantic_fields_set__ == before
