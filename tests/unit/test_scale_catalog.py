"""The seeds-scale catalog generator writes a valid catalog with the mix it was asked for."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from ryaml._ryaml import loads

from bench.scale.catalog import Scale, districts, write
from sharebus.catalog.load import load_catalog
from sharebus.catalog.yaml_chunks import loads_chunked
from streams.policy.compiled import compile_policy


def test_a_small_scale_catalog_is_valid_and_has_the_mix(tmp_path: Path) -> None:
    scale = Scale(departments=3, resources=20, conditional_subscribers=2)
    written = write(scale, tmp_path / "chongqing")
    catalog = load_catalog(written.directory)
    sharing = Counter(r.sharing.value for r in catalog.resources)
    assert sharing == {"unconditional": 12, "conditional": 7, "not_shared": 1}
    assert len({r.department for r in catalog.resources}) == 3
    policy = compile_policy(catalog, pseudonym_key=b"0123456789abcdef0123456789abcdef")
    topics = policy.entitlements(datetime.now(UTC))
    # every district (`all-districts`) gets the unconditional resources; 2 districts each conditional one
    assert len(topics) == 12 * len(districts()) + 7 * 2


def test_with_the_sample_the_sample_resources_and_demands_come_too(tmp_path: Path) -> None:
    written = write(Scale(departments=3, resources=20), tmp_path / "chongqing", with_sample=True)
    catalog = load_catalog(written.directory)
    sample = load_catalog(Path(__file__).resolve().parents[2] / "catalog" / "chongqing")
    assert {r.id for r in sample.resources} < {r.id for r in catalog.resources}
    assert {d.id for d in sample.demands} < {d.id for d in catalog.demands}
    assert len(catalog.resources) == 20 + len(sample.resources)
    assert written.departments == 3 + len(sample.departments)


def test_its_files_are_written_out_as_people_write_them_and_parse_in_chunks(tmp_path: Path) -> None:
    written = write(Scale(departments=3, resources=20), tmp_path / "chongqing")
    for name in ("catalog.yaml", "demands.yaml", "responsibility.yaml"):
        text = (written.directory / name).read_text(encoding="utf-8")
        assert "&id" not in text  # no anchors: every entry written out
        assert loads_chunked(text, loads, 3) == loads(text)
