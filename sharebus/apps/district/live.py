"""The catalog in force, as the router sees it: the last version published on the catalog topic
(the local catalog folder when none was published yet), compiled with the deployment's keys."""

from __future__ import annotations

from sharebus.catalog.load import city_dir, load_catalog
from sharebus.catalog.models import Catalog
from sharebus.core.keys import pseudonym_key
from sharebus.core.settings import Settings
from streams.policy.compiled import Policy, compile_policy
from streams.router.live_catalog import catalog_from, latest_catalog


def live_catalog(settings: Settings) -> Catalog:
    texts = latest_catalog(settings)
    if texts is None:
        return load_catalog(city_dir(settings.catalog_dir, settings.city))
    return catalog_from(texts, f"topic {settings.catalog_topic}")


def compile_live(settings: Settings, catalog: Catalog) -> Policy:
    """The policy of `catalog` with the pseudonym key the workers use (so pseudonyms match)."""
    return compile_policy(catalog, pseudonym_key=pseudonym_key(settings))
