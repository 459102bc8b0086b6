"""`python -m sharebus.apps.registry`: the schema registry on its Kafka log, behind the guard when
the bus logs in (SASL); `sharebus stack up` starts it, docker-compose.yml runs it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from schemas.registry_guard import GuardUnavailable
from schemas.registry_log import DEFAULT_TOPIC, KafkaSchemaLog
from schemas.registry_server import make_app, memory_registry
from schemas.registry_state import Registry, RegistryState
from sharebus.apps.registry.guard import BusGuard, SubjectIndex
from sharebus.core.audit import login_alerts
from sharebus.core.errors import SharebusError
from sharebus.core.https import REGISTRY_SERVER, server_context
from sharebus.core.kafka_clients import Replication, Role, connection
from sharebus.core.logins import KafkaLogins, RefusalWatch
from sharebus.core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _options(settings: Settings, argv: list[str] | None) -> argparse.Namespace:
    url = urlsplit(settings.registry_url)
    parser = argparse.ArgumentParser(prog="python -m sharebus.apps.registry", description=__doc__)
    parser.add_argument("--config", type=Path, help="JSON file of the options below (the local stack's)")
    parser.add_argument("--host", default=url.hostname or "127.0.0.1", help="bind address")
    parser.add_argument("--port", type=int, default=url.port or 8081)
    parser.add_argument("--prefix", default=url.path, help="path the API is served under")
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap, help="Kafka bootstrap servers")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help="compacted topic holding the schemas")
    parser.add_argument("--memory", action="store_true", help="keep schemas in memory only (no Kafka)")
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=url.scheme == "https",
        help="serve HTTPS with the `registry` certificate of SHAREBUS_TLS_DIR (default: as"
        " SHAREBUS_REGISTRY_URL's scheme says)",
    )
    options = parser.parse_args(argv)
    if options.config is not None:
        for name, value in json.loads(options.config.read_text()).items():
            setattr(options, name, value)
    return options


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s (%(name)s)")
    try:
        _serve(argv)
    except SharebusError as exc:  # a wrong setting or an unreachable Kafka: said, never a traceback
        log.error("%s", exc.render())
        sys.exit(exc.exit_code)


def _serve(argv: list[str] | None) -> None:
    settings = get_settings()
    options = _options(settings, argv)
    settings = settings.model_copy(update={"kafka_bootstrap": options.bootstrap})
    if options.memory:
        registry, close = memory_registry(), None
        log.warning("in-memory registry: schemas and ids are lost when it stops")
    else:
        kafka_log = KafkaSchemaLog(
            connection(settings).admin(), options.topic, replication=Replication.of(settings)
        )
        state = RegistryState()
        loaded = kafka_log.open(state.apply)
        log.info("loaded %d records from %s (%d schemas)", loaded, options.topic, len(state.schemas))
        registry, close = Registry(state, kafka_log.append), kafka_log.close
    guard = _guard(settings)
    app = make_app(registry, options.prefix, guard)

    async def _close(_app: web.Application) -> None:
        if close is not None:
            close()
        if guard is not None:
            guard.index.close()

    app.on_cleanup.append(_close)
    context = server_context(settings, REGISTRY_SERVER) if options.tls else None
    if context is None:
        log.warning("the registry speaks HTTP: logins and schemas cross the network in clear")
    scheme = "https" if context is not None else "http"
    log.info("schema registry on %s://%s:%d%s", scheme, options.host, options.port, options.prefix)
    web.run_app(app, host=options.host, port=options.port, print=None, access_log=None, ssl_context=context)


def _guard(settings: Settings) -> BusGuard | None:
    """The guard of a bus whose principals log in (SASL); none, said loudly, otherwise."""
    if not settings.kafka_secure:
        log.warning(
            "SHAREBUS_KAFKA_SECURITY_PROTOCOL=%s: the bus has no logins, so the registry is open to"
            " whoever reaches its port (secure the network, or turn SASL on)",
            settings.kafka_security_protocol,
        )
        return None
    index = SubjectIndex(settings)
    try:
        index.refresh()
    except GuardUnavailable as exc:  # read again at the first reader's request
        log.warning("the catalog's demands are not read yet: %s", exc)
    watch = RefusalWatch(
        settings.security_login_refusals,
        settings.security_window,
        login_alerts(settings, Role.ADMIN, "schema registry"),
    )
    return BusGuard(settings, KafkaLogins(settings, watch=watch), index)
