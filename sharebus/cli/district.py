"""`sharebus district`: a district's side of the bus — sync its topics into its own database,
backfill current rows when its entitlements grow, and the up-flow (数据回流) sample."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from schemas.registry_client import RegistryClient
from sharebus.apps.district.backfill_log import backfill_status
from sharebus.apps.district.backfills import Backfiller, Outcome
from sharebus.apps.district.decode import ValueDecoder
from sharebus.apps.district.errors import BackfillError
from sharebus.apps.district.live import live_catalog
from sharebus.apps.district.naming import default_schema
from sharebus.apps.district.store import DistrictStore
from sharebus.apps.district.sync import DistrictSync, SyncOptions, group_id
from sharebus.apps.district.target import TARGET_PASSWORD_ENV, parse_target
from sharebus.cli.output import emit_json, handle_errors, json_option, progress, table
from sharebus.core import https
from sharebus.core.errors import ConfigError
from sharebus.core.kafka_clients import Role, http_login
from sharebus.core.settings import get_settings
from sharebus.dev.samples import upflow

KAFKA_PASSWORD_ENV = "SHAREBUS_DISTRICT_KAFKA_PASSWORD"


def prompt_password(text: str) -> str:
    if not sys.stdin.isatty():
        raise ConfigError(
            "--target",
            "has no password and there is no terminal to prompt on",
            fix=f"put it in ${TARGET_PASSWORD_ENV} (or the URL)",
        )
    return str(click.prompt(text, hide_input=True))


target_option = click.option(
    "--target",
    "target_url",
    required=True,
    metavar="URL",
    help=f"The district database: postgresql://user@host:5432/db (password in ${TARGET_PASSWORD_ENV},"
    " the URL, or typed at the prompt).",
)
schema_option = click.option(
    "--schema", default=None, help="Schema of the tables (default: share_<subscriber>)."
)


def _kafka_credentials(
    user: str | None, mechanism: str, protocol: str | None, bus: str, ca: Path
) -> dict[str, str]:
    """The district's own Kafka login (SASL), when given; the password only from the environment.
    The protocol defaults to the bus's own (`bus`: SHAREBUS_KAFKA_SECURITY_PROTOCOL), the one its
    listeners offer; with SASL_SSL the brokers are verified against `ca`."""
    if not user:
        return {}
    if protocol is None:
        if not bus.startswith("SASL_"):
            raise ConfigError(
                f"--kafka-user {user}",
                "needs SASL, and the bus runs without it",
                expected="SHAREBUS_KAFKA_SECURITY_PROTOCOL=SASL_SSL (the default), or --kafka-protocol",
                actual=bus,
                fix="drop --kafka-user on a bus without SASL, or pass --kafka-protocol for the district's"
                " listener",
            )
        protocol = bus
    password = os.environ.get(KAFKA_PASSWORD_ENV)
    if not password:
        raise ConfigError(
            f"--kafka-user {user}",
            "has no password",
            expected=f"${KAFKA_PASSWORD_ENV} set",
            actual="unset",
            fix=f"export {KAFKA_PASSWORD_ENV}=… and re-run",
        )
    conf = {
        "security.protocol": protocol,
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    if protocol == "SASL_SSL":
        if not ca.is_file():
            raise ConfigError(
                f"--kafka-ca {ca}",
                "does not exist",
                expected="the PEM file of the bus's certificate authority (`ssl.truststore.certificates`"
                " of the client config `sharebus subscriber add` printed)",
                actual="no such file",
                fix="save the bus's CA to a file and pass it with --kafka-ca",
            )
        conf |= {"ssl.ca.location": str(ca), "ssl.endpoint.identification.algorithm": "https"}
    return conf


@click.group("district")
def district() -> None:
    """A district's side: its topics synced into its own database, backfills, the up-flow sample."""


@district.command("sync")
@click.argument("subscriber")
@target_option
@schema_option
@click.option(
    "--until-caught-up", is_flag=True, help="Stop once everything on the topics at start is applied."
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="Only this resource's topic (repeatable; default: every share.SUBSCRIBER.* topic).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Records per database transaction, at most.",
)
@click.option(
    "--progress-every",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="Seconds between progress lines.",
)
@click.option(
    "--kafka-user",
    envvar="SHAREBUS_DISTRICT_KAFKA_USER",
    default=None,
    help=f"The district's own Kafka user (SASL); its password in ${KAFKA_PASSWORD_ENV}.",
)
@click.option("--kafka-mechanism", default="SCRAM-SHA-512", show_default=True)
@click.option(
    "--kafka-protocol",
    type=click.Choice(["SASL_PLAINTEXT", "SASL_SSL"]),
    default=None,
    help="With --kafka-user; default: the bus's own (SHAREBUS_KAFKA_SECURITY_PROTOCOL).",
)
@click.option(
    "--kafka-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The bus's CA (PEM) its brokers (SASL_SSL) and registry (https) are verified against;"
    " default: SHAREBUS_TLS_CA_FILE, else the local stack's.",
)
@json_option
@handle_errors
def sync(
    subscriber: str,
    target_url: str,
    schema: str | None,
    until_caught_up: bool,
    resources: tuple[str, ...],
    batch_size: int,
    progress_every: float,
    kafka_user: str | None,
    kafka_mechanism: str,
    kafka_protocol: str | None,
    kafka_ca: Path | None,
    as_json: bool,
) -> None:
    """Apply SUBSCRIBER's topics (share.SUBSCRIBER.*) to its database: tables created and evolved
    from the Avro schemas, upserts and deletes applied, offsets stored in the same transaction
    as the rows (a crash at any point neither loses nor repeats a change). Runs until stopped
    (SIGTERM/Ctrl-C finish the batch in hand), or with --until-caught-up until applied."""
    settings = get_settings()
    target = parse_target(target_url, prompt_password)
    schema = schema or default_schema(subscriber)
    options = SyncOptions(
        batch_size=batch_size,
        until_caught_up=until_caught_up,
        progress_every=progress_every,
        kafka=_kafka_credentials(
            kafka_user,
            kafka_mechanism,
            kafka_protocol,
            settings.kafka_security_protocol,
            kafka_ca or settings.tls_ca,
        ),
        resources=frozenset(resources),
    )
    store = DistrictStore(target, schema)
    # The registry takes the district's own login (it reads the subjects of what it receives).
    own = options.kafka.get("sasl.username")
    login = (own, options.kafka["sasl.password"]) if own else http_login(settings, Role.CLIENT)
    trust = str(kafka_ca) if kafka_ca is not None else https.verify(settings)
    registry = RegistryClient(settings.registry_url, auth=login, verify=trust)
    runner = DistrictSync(settings, subscriber, store, ValueDecoder(registry), options, progress)

    def stop(_signo: int, _frame: FrameType | None) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    progress(f"syncing {subscriber} into {target.safe_url} schema {schema} (group {group_id(subscriber)})")
    try:
        report = runner.run()
    finally:
        store.close()
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(
        f"{subscriber}: applied {report.records:,} records ({report.upserts:,} upserts, {report.deletes:,}"
        f" deletes) in {report.seconds:.1f}s ({report.rate:,.0f}/s) from {len(report.topics)} topics;"
        f" lag {report.lag:,}{' (caught up)' if report.caught_up else ''}"
    )


def _print_outcome(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        emit_json(outcome.to_dict())
    elif outcome.baseline_recorded:
        click.echo(
            f"recorded the reach of catalog {outcome.catalog_version}: later changes will be backfilled"
        )
    elif not outcome.jobs:
        click.echo(f"catalog {outcome.catalog_version}: nothing to backfill")
    else:
        rows = [
            (
                j["id"],
                j["resource"],
                ",".join(j["subscribers"]),
                j.get("where") or "(all rows)",
                j["state"],
                j.get("rows_scanned", "-"),
                _delivered(j),
            )
            for j in outcome.jobs
        ]
        click.echo(table(rows, ["job", "resource", "subscribers", "where", "state", "scanned", "delivered"]))


def _delivered(job: dict[str, object]) -> str:
    delivered = job.get("delivered")
    return ", ".join(f"{s}:{n}" for s, n in delivered.items()) if isinstance(delivered, dict) else "-"


@district.command("backfill")
@click.option("--subscriber", default=None, help="Backfill this subscriber (with --resource) now.")
@click.option("--resource", default=None, help="The resource to backfill for --subscriber.")
@click.option(
    "--follow", is_flag=True, help="Keep watching the policy; backfill each change (until stopped)."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="Seconds between looks at the policy with --follow.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Seconds given the router to put a new policy in force before the snapshot.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds a snapshot and its routing may take.",
)
@json_option
@handle_errors
def backfill(
    subscriber: str | None,
    resource: str | None,
    follow: bool,
    interval: float,
    grace: float,
    timeout: float,
    as_json: bool,
) -> None:
    """Give subscribers the current rows they became entitled to (a demand approved, a district
    added, fields added to a projection): an incremental snapshot of the source table through
    Debezium's signal channel, limited to their districts, routed under the policy in force and
    followed to delivery. Without options: compare the policy in force with the reach recorded
    last time and backfill the difference (the first run only records it)."""
    settings = get_settings()
    if (subscriber is None) != (resource is None):
        raise ConfigError("--subscriber/--resource", "go together", fix="give both, or neither")
    backfiller = Backfiller(settings, progress, grace=grace, timeout=timeout)
    try:
        if subscriber is not None and resource is not None:
            outcome = backfiller.explicit(subscriber, resource)
        elif follow:
            signal.signal(signal.SIGTERM, lambda _s, _f: backfiller.stop())
            backfiller.follow(interval)
            return
        else:
            outcome = backfiller.once()
    finally:
        backfiller.close()
    _print_outcome(outcome, as_json)
    if not outcome.ok:
        failed = [j["id"] for j in outcome.jobs if j.get("state") != "done"]
        raise BackfillError(
            "backfill",
            f"{len(failed)} job(s) did not complete: {', '.join(failed)}",
            fix="see `sharebus district backfills` and re-run `sharebus district backfill`",
        )


@district.command("backfills")
@json_option
@handle_errors
def backfills(as_json: bool) -> None:
    """Every backfill job with its state (planned, waiting_policy, snapshotting, routing, done,
    incomplete, failed), newest first."""
    jobs = backfill_status(get_settings())
    if as_json:
        emit_json({"jobs": jobs})
        return
    if not jobs:
        click.echo("no backfill has run yet")
        return
    rows = [
        (
            j["id"],
            j["resource"],
            ",".join(j.get("subscribers") or []),
            j.get("where") or "(all rows)",
            j.get("state"),
            j.get("rows_scanned", "-"),
            _delivered(j),
        )
        for j in jobs
    ]
    click.echo(table(rows, ["job", "resource", "subscribers", "where", "state", "scanned", "delivered"]))


@district.command("upflow-sample")
@click.option(
    "--rows",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Households to seed when the table is empty.",
)
@json_option
@handle_errors
def upflow_sample(rows: int, as_json: bool) -> None:
    """The up-flow sample (数据回流): create the district's own database named by the catalog's
    `district_<code>` department, seed households, and register its connector; the worker then
    routes them to the city department its demand names."""
    settings = get_settings()
    sample = upflow.UpflowSample.for_catalog(live_catalog(settings))
    upflow.init(settings, sample)
    seeded = upflow.seed(settings, sample, rows)
    reg = upflow.register(settings, sample, progress)
    data = {
        "department": sample.department,
        "district": sample.district_code,
        "database": sample.database,
        "seeded": seeded,
        "connector": reg.name,
        "action": reg.action,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(
            f"{sample.database} ({sample.district_code}): {seeded} households seeded;"
            f" connector {reg.name} {reg.action}"
        )
