"""The roles of the bus's web API, decided once here from the settings (pure): who is the admin,
an operator, the data authority, a subscriber, a Prometheus scraper — and which paths each reads."""

from __future__ import annotations

from enum import StrEnum

from sharebus.core.settings import Settings

USER_KEY = "sharebus.web_user"
"""The request key the web guard sets: (who, WebRole) of the logged-in caller."""


class WebRole(StrEnum):
    ADMIN = "admin"  # SHAREBUS_KAFKA_ADMIN_USER: every role
    AUTHORITY = "authority"  # the data authority (SHAREBUS_WEB_AUTHORITIES): demands, quality, metrics
    OPERATOR = "operator"  # ops (SHAREBUS_WEB_OPERATORS): dashboard, ops status, metrics
    SUBSCRIBER = "subscriber"  # any other Kafka user (a district): its own demands (/api/demands)
    SERVICE = "service"  # the router's and Connect's own users: not web users
    SCRAPER = "scraper"  # the bearer of SHAREBUS_WEB_SCRAPE_TOKEN: /metrics only


def _users(listed: str) -> frozenset[str]:
    return frozenset(u.strip() for u in listed.split(",") if u.strip())


def web_role(settings: Settings, user: str) -> WebRole:
    """The role of a logged-in Kafka user (its login checked elsewhere)."""
    if user == settings.kafka_admin_user:
        return WebRole.ADMIN
    if user in (settings.kafka_router_user, settings.kafka_connect_user):
        return WebRole.SERVICE
    if user in _users(settings.web_authorities):
        return WebRole.AUTHORITY
    if user in _users(settings.web_operators):
        return WebRole.OPERATOR
    return WebRole.SUBSCRIBER


Access = tuple[tuple[str, frozenset[WebRole]], ...]
"""(path, roles allowed): a path ending in '/' covers everything under it; the longest match
decides; no match: the admin only."""


def allowed(access: Access, path: str, role: WebRole) -> bool:
    """Whether `role` may use `path` under `access` (the admin always may)."""
    if role is WebRole.ADMIN:
        return True
    matches = [
        (len(prefix), roles)
        for prefix, roles in access
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix))
    ]
    return bool(matches) and role in max(matches, key=lambda m: m[0])[1]
