"""The checked-in base schemas (`schemas/<city>.<resource>.avsc`), generated from every city's
catalog: `python -m schemas.generate` rewrites them, `--check` fails when one is stale."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from schemas.derive import base_schema, shared_resources
from sharebus.catalog.load import load_catalog
from sharebus.catalog.models import Catalog
from sharebus.core.settings import get_settings

SCHEMA_DIR = Path(__file__).resolve().parent
SUFFIX = ".avsc"
REGENERATE = "python -m schemas.generate  (or `sharebus schemas generate`)"


def avsc_text(schema: Any) -> str:
    """How a schema file is written: 2-space indented JSON, non-ASCII as is, final newline."""
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def city_catalogs(catalog_dir: Path) -> list[Catalog]:
    """Every city catalog under `catalog_dir` (folders holding a catalog.yaml), by city id."""
    folders = sorted(p.parent for p in catalog_dir.glob("*/catalog.yaml"))
    return [load_catalog(folder) for folder in folders]


def expected_files(catalogs: list[Catalog]) -> dict[str, str]:
    """File name → content of every base schema the catalogs define."""
    return {
        f"{catalog.city.id}.{resource.id}{SUFFIX}": avsc_text(base_schema(catalog.city.id, resource))
        for catalog in catalogs
        for resource in shared_resources(catalog)
    }


def stale_files(catalog_dir: Path, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, differ from the catalog, or belong to no resource."""
    expected = expected_files(city_catalogs(catalog_dir))
    present = {p.name: p.read_text(encoding="utf-8") for p in schema_dir.glob(f"*{SUFFIX}")}
    names = sorted(set(expected) | set(present))
    return [n for n in names if expected.get(n) != present.get(n)]


def write_files(catalog_dir: Path, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Rewrite the schema files from the catalogs (removing orphans); the names changed."""
    expected = expected_files(city_catalogs(catalog_dir))
    changed = stale_files(catalog_dir, schema_dir)
    for name in changed:
        path = schema_dir / name
        if name in expected:
            path.write_text(expected[name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__)
    parser.add_argument("--catalog-dir", type=Path, help="default: SHAREBUS_CATALOG_DIR")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    options = parser.parse_args(argv)
    catalog_dir = options.catalog_dir or get_settings().catalog_dir
    if options.check:
        stale = stale_files(catalog_dir)
        for name in stale:
            print(f"stale: schemas/{name}")
        if stale:
            print(f"regenerate with: {REGENERATE}")
        return 1 if stale else 0
    for name in write_files(catalog_dir):
        print(f"wrote schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
