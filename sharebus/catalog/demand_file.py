"""demands.yaml written from demand models: the text of a catalog version the demand workflow
makes, and what `catalog export` gives back to a city's git."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import yaml

from sharebus.catalog.load import CatalogTexts
from sharebus.catalog.models import Demand

HEADER = (
    "# Demand list (需求清单). Validity is [valid_from, valid_until), in UTC.\n"
    "# `subscriber: all-districts` stands for one demand per district, id `<id>/<district code>`.\n"
    "# Written by sharebus from the live catalog (the demand workflow): review changes as a diff.\n"
)

FIELD_ORDER = (
    "id",
    "subscriber",
    "resource",
    "purpose",
    "status",
    "fields",
    "clear",
    "valid_from",
    "valid_until",
    "approver",
    "note",
)  # the model's fields, in the sample files' order


class _Dumper(yaml.SafeDumper):
    """Lists of names in flow style (`[a, b]`) inside block entries, as the sample files are."""


def _flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(list, _flow_list)


def demand_entry(demand: Demand) -> dict[str, Any]:
    """The entry of `demand` as demands.yaml holds it (defaults left out, times in UTC)."""
    data = demand.model_dump(mode="json", exclude_defaults=True)
    data["valid_from"] = demand.valid_from  # YAML timestamps, unquoted
    if demand.valid_until is not None:
        data["valid_until"] = demand.valid_until
    return {key: data[key] for key in FIELD_ORDER if key in data}


def render_demands(demands: Iterable[Demand]) -> str:
    """The text of demands.yaml holding `demands` in their order."""
    parts = [HEADER, "format: 1\n"]
    for demand in demands:
        if len(parts) == 2:
            parts.append("demands:\n")
        text = yaml.dump(demand_entry(demand), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
        lines = text.splitlines()
        parts.append(f"  - {lines[0]}\n" + "".join(f"    {line}\n" for line in lines[1:]))
    if len(parts) == 2:
        parts.append("demands: []\n")
    return "".join(parts)


def with_demands(texts: CatalogTexts, demands: Iterable[Demand]) -> CatalogTexts:
    """`texts` with demands.yaml holding `demands` (the other files as they were)."""
    return dataclasses.replace(texts, demands=render_demands(demands))
