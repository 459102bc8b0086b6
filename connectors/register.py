"""Register connectors idempotently: write the secret, validate, create or update, wait RUNNING."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.client import ConnectClient, ConnectorState
from connectors.publication import ensure_publication
from connectors.registered import record_target
from connectors.render import CaptureSpec, render_postgres
from sharebus.core.errors import ConnectorError
from sharebus.core.keys import write_secret
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings


@dataclass(frozen=True)
class Registration:
    name: str
    action: str  # created | updated | unchanged
    state: ConnectorState
    changed_keys: tuple[str, ...] = ()


def config_diff(current: dict[str, str], wanted: dict[str, str]) -> tuple[str, ...]:
    """Keys whose values differ (Connect adds `name` to stored configs: ignored)."""
    keys = (set(current) | set(wanted)) - {"name"}
    return tuple(sorted(k for k in keys if current.get(k) != wanted.get(k)))


def register(
    client: ConnectClient,
    name: str,
    config: dict[str, str],
    echo: Echo,
    *,
    apply_changes: bool = True,
    timeout: float = 90.0,
) -> Registration:
    """Create `name`, or update it when its config differs (if `apply_changes`), then wait until
    it and its tasks run. The same config twice changes nothing."""
    current = client.config(name)
    if current is not None:
        changed = config_diff(current, config)
        if not changed:
            return Registration(name, "unchanged", client.wait_running(name, timeout=timeout))
        if not apply_changes:
            raise ConnectorError(
                f"connector {name}",
                "is registered with a different config",
                actual="differs in: " + ", ".join(changed),
                fix=(
                    "run `sharebus topics migrate`: it moves the connector to its department's raw"
                    " topic once the router has routed its per-table topics"
                    if all(key.startswith("transforms") for key in changed)
                    else "review the diff and re-run with --yes to apply it"
                ),
            )
    errors = client.validate(config["connector.class"], {**config, "name": name})
    if errors:
        raise ConnectorError(
            f"connector {name}",
            "Kafka Connect rejected the config",
            actual="; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()),
            fix="correct the fields named above",
        )
    client.put_config(name, config)
    action = "created" if current is None else "updated"
    echo(f"  {name}: {action}, waiting for connector and tasks RUNNING…")
    try:
        state = client.wait_running(name, timeout=timeout)
    except ConnectorError:
        if current is None:  # nothing half-done: a connector this call created goes again
            client.delete(name)
        raise
    changed_keys = config_diff(current, config) if current is not None else ()
    return Registration(name, action, state, changed_keys)


def register_postgres(
    client: ConnectClient,
    spec: CaptureSpec,
    settings: Settings,
    *,
    password: str,
    admin_dsn: str,
    echo: Echo,
) -> Registration:
    """Create the publication (as the DB owner), write the CDC password to the secrets dir and
    register `spec`'s Debezium connector."""
    ensure_publication(admin_dsn, spec.publication_name, spec.tables)
    write_secret(settings.secrets_dir, spec.password_secret, password)
    record_target(settings.secrets_dir, spec)
    return register(client, spec.connector_name, render_postgres(spec, settings), echo)
