"""The city catalog as data: region, catalog list, demand list and responsibility list."""

from sharebus.catalog.diff import CatalogDiff, diff_catalogs
from sharebus.catalog.issues import CatalogError, CatalogIssue
from sharebus.catalog.load import check_catalog_dir, city_dir, load_catalog, parse_catalog
from sharebus.catalog.models import Catalog

__all__ = [
    "Catalog",
    "CatalogDiff",
    "CatalogError",
    "CatalogIssue",
    "check_catalog_dir",
    "city_dir",
    "diff_catalogs",
    "load_catalog",
    "parse_catalog",
]
