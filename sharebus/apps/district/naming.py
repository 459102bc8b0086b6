"""Names on the district side: subscriber topics, the target schema and table of each resource."""

from __future__ import annotations

import hashlib
import re

from sharebus.core import naming

MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1
_UNSAFE = re.compile(r"[^a-z0-9_]")
OFFSETS_TABLE = naming.DISTRICT_OFFSETS_TABLE
META_PREFIX = naming.DISTRICT_META_PREFIX


def topic_prefix(subscriber: str) -> str:
    """`share.<subscriber>.`: every topic of a subscriber starts with it (its prefix ACL)."""
    return naming.share_prefix(subscriber)


def department_of(topic: str, subscriber: str) -> str | None:
    """`share.<subscriber>.<department>` → `<department>`; None for another subscriber's topic
    (or one of the per-resource layout, which `sharebus topics migrate` replaces)."""
    parsed = naming.parse_share_topic(topic)
    return parsed[1] if parsed is not None and parsed[0] == subscriber else None


def safe_identifier(text: str) -> str:
    """Lower-case letters, digits and `_`, starting with a letter, at most 63 characters (a
    long name keeps a hash of the whole so two long names never meet)."""
    name = _UNSAFE.sub("_", text.lower())
    if not name or not name[0].isalpha():
        name = f"t_{name}"
    if len(name) > MAX_IDENTIFIER:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        name = f"{name[: MAX_IDENTIFIER - 9]}_{digest}"
    return name


def default_schema(subscriber: str) -> str:
    """The schema a subscriber's tables live in by default: `share_<subscriber>`."""
    return safe_identifier(naming.district_schema(subscriber))


def table_name(resource: str) -> str:
    """The table of a resource: `market.enterprise` → `market_enterprise`."""
    return safe_identifier(resource.replace(".", "_"))
