"""Opening the metrics store SHAREBUS_METRICS_URL names: embedded chDB or a ClickHouse server."""

from __future__ import annotations

from sharebus.core.settings import Settings
from streams.metrics.store import MetricsStore, parse_url


def open_store(settings: Settings, *, apply_ddl: bool = True) -> MetricsStore:
    """Open the store SHAREBUS_METRICS_URL names (embedded chDB or a ClickHouse server) and, unless
    told otherwise, apply its DDL."""
    url = parse_url(settings.metrics_url)
    store: MetricsStore
    if url.embedded:
        from streams.metrics.chdb_store import ChdbStore  # loads chDB's engine: only when used

        assert url.path is not None
        store = ChdbStore(url.path)
    else:
        from streams.metrics.server_store import ServerStore

        store = ServerStore.connect(
            host=url.host,
            port=url.port,
            database=url.database,
            user=url.user or settings.metrics_user,
            password=url.password or settings.metrics_password.get_secret_value(),
        )
    if apply_ddl:
        try:
            store.apply_ddl()
        except BaseException:
            store.close()
            raise
    return store
