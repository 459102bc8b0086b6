"""`sharebus metrics calls | summary | reasons | latency | lag | audit`: call and flow figures from
the metrics rollups, and audit counts, asked of the worker that owns the store (or of the store
itself)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import click

from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.settings import Settings, get_settings
from streams.metrics.api import fetch_report
from streams.metrics.queries import AUDIT_DIMENSIONS, DIMENSIONS, MAX_TOP

_SINCE_HELP = "Window up to now: a number and s, m, h, d or w (15m, 24h, 7d)."


@click.group("metrics")
def metrics() -> None:
    """Calls (deliveries), bytes, withheld and dead-lettered records, latency, consumer lag, and
    audit events (ACL and credential changes, withheld-data decisions).

    Every figure comes from the rollups (per minute, hour and day); a delivery shows up within
    ~1 s of the router handing it to the metrics sink. With the embedded store (chDB) the running
    worker answers over HTTP; without a worker the store is opened here.
    """


@metrics.command("calls")
@click.option(
    "--by",
    type=click.Choice(DIMENSIONS),
    default="subscriber",
    show_default=True,
    help="district = subscribers whose id is a 6-digit GB/T 2260 code.",
)
@click.option("--since", default="24h", show_default=True, help=_SINCE_HELP)
@json_option
@handle_errors
def calls(by: str, since: str, as_json: bool) -> None:
    """Delivered records (calls) and bytes, withheld and dead-lettered records, per `--by`."""
    settings = get_settings()
    report = fetch_report(settings, "calls", {"by": by, "since": since})
    if by == "district":
        names = district_names(settings)
        for row in report["rows"]:
            row["name"] = names.get(row["district"], "")
    if as_json:
        emit_json(report)
        return
    click.echo(f"calls by {by}, {report['since']} → {report['until']}")
    named = by == "district"
    headers = [by, *(["name"] if named else []), "delivered", "bytes", "withheld", "dead letters", "why not"]
    rows: list[list[object]] = []
    for row in [*report["rows"], {by: "total", "name": "", **report["totals"], "reasons": {}}]:
        figures = [row["delivered"], size(row["bytes"]), row["withheld"], row["dead_letter"]]
        name = [row["name"]] if named else []
        rows.append([row[by] or "(none)", *name, *figures, _reasons_text(row["reasons"])])
    click.echo(table(rows, headers))


@metrics.command("summary")
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="Complete days the daily average and the top resources cover.",
)
@click.option(
    "--top", default=10, show_default=True, type=click.IntRange(1, MAX_TOP), help="How many resources."
)
@click.option("--daily", is_flag=True, help="Also print one line per day.")
@json_option
@handle_errors
def summary(days: int, top: int, daily: bool, as_json: bool) -> None:
    """Daily average and cumulative calls and bytes, today so far, and the top resources."""
    report = fetch_report(get_settings(), "summary", {"days": str(days), "top": str(top)})
    if as_json:
        emit_json(report)
        return
    avg, cum, today = report["daily_average"], report["cumulative"], report["today"]
    if avg:
        click.echo(
            f"daily average ({avg['days']} complete days): {avg['calls']:,.1f} calls, {size(avg['bytes'])}"
        )
    else:
        click.echo("daily average: no complete day on record yet")
    click.echo(
        f"today ({today['day']}, until {today['partial_until']}): {today['calls']:,} calls,"
        f" {size(today['bytes'])}"
    )
    since = f" since {cum['since']}" if cum["since"] else ""
    click.echo(f"cumulative{since}: {cum['calls']:,} calls, {size(cum['bytes'])}")
    if daily:
        click.echo("")
        click.echo(
            table(
                [[d["day"], d["calls"], size(d["bytes"])] for d in report["daily"]], ["day", "calls", "bytes"]
            )
        )
    click.echo("")
    click.echo(f"top resources since {report['from']}:")
    top_rows = [
        [r["resource"], r["calls"], size(r["bytes"]), r["subscribers"]] for r in report["top_resources"]
    ]
    click.echo(table(top_rows, ["resource", "calls", "bytes", "subscribers"]))


@metrics.command("reasons")
@click.option(
    "--by",
    type=click.Choice((*DIMENSIONS, "all")),
    default="department",
    show_default=True,
    help="Attribute to the department (it answers for them), resource or subscriber.",
)
@click.option("--since", default="24h", show_default=True, help=_SINCE_HELP)
@json_option
@handle_errors
def reasons(by: str, since: str, as_json: bool) -> None:
    """Withheld and dead-lettered records by reason code."""
    report = fetch_report(get_settings(), "reasons", {"by": by, "since": since})
    if as_json:
        emit_json(report)
        return
    click.echo(
        f"withheld and dead-lettered records, {report['since']} → {report['until']}:"
        f" {report['totals'].get('withheld', 0):,} withheld,"
        f" {report['totals'].get('dead_letter', 0):,} dead letters"
    )
    key = [] if by == "all" else [by]
    click.echo(
        table(
            [
                [r["outcome"], r["reason"], *[r[by] or "(none)" for _ in key], r["records"]]
                for r in report["rows"]
            ],
            ["outcome", "reason", *key, "records"],
        )
    )


@metrics.command("latency")
@click.option("--by", type=click.Choice((*DIMENSIONS, "all")), default="all", show_default=True)
@click.option("--since", default="1h", show_default=True, help=_SINCE_HELP)
@json_option
@handle_errors
def latency(by: str, since: str, as_json: bool) -> None:
    """Source commit → delivered latency (p50, p95, p99 in ms) of delivered records."""
    report = fetch_report(get_settings(), "latency", {"by": by, "since": since})
    if as_json:
        emit_json(report)
        return
    click.echo(f"latency of delivered records, {report['since']} → {report['until']}")
    key = [] if by == "all" else [by]
    click.echo(
        table(
            [
                [*[r[by] for _ in key], r["records"], _ms(r["p50_ms"]), _ms(r["p95_ms"]), _ms(r["p99_ms"])]
                for r in report["rows"]
            ],
            [*key, "records", "p50 ms", "p95 ms", "p99 ms"],
        )
    )


@metrics.command("lag")
@click.option(
    "--since",
    default="15m",
    show_default=True,
    help="Use position samples from this window (the latest per partition).",
)
@json_option
@handle_errors
def lag(since: str, as_json: bool) -> None:
    """Subscribers' consumer groups: committed vs end offsets of their topics, lag, consumed."""
    report = fetch_report(get_settings(), "lag", {"since": since})
    if as_json:
        emit_json(report)
        return
    if not report["rows"]:
        click.echo(
            f"no consumer positions sampled since {report['since']}: is the worker's position"
            " sampler running?"
        )
        return
    headers = [
        "subscriber",
        "group",
        "topics",
        "partitions",
        "committed",
        "end",
        "lag",
        f"consumed since {report['since']}",
        "sampled at",
    ]
    keys = ["topics", "partitions", "committed", "end", "lag", "consumed", "sampled_at"]
    rows = [
        [r["subscriber"], r["group"] or "(no consumer group)", *[r[k] for k in keys]] for r in report["rows"]
    ]
    click.echo(table(rows, headers))


@metrics.command("audit")
@click.option(
    "--by",
    type=click.Choice(AUDIT_DIMENSIONS),
    default="action",
    show_default=True,
    help="subject: the subscriber or principal concerned; target: topic or resource.",
)
@click.option("--since", default="24h", show_default=True, help=_SINCE_HELP)
@json_option
@handle_errors
def audit(by: str, since: str, as_json: bool) -> None:
    """Audit events counted by the worker: their counts summed (records withheld; 1 per ACL grant
    or revoke and per credential change) and the number of audit records, per `--by`."""
    report = fetch_report(get_settings(), "audit", {"by": by, "since": since})
    if as_json:
        emit_json(report)
        return
    totals = report["totals"]
    click.echo(
        f"audit events by {by}, {report['since']} → {report['until']}: {totals['count']:,} counted"
        f" in {totals['events']:,} audit records"
    )
    if not report["rows"]:
        return
    split = by != "action"  # per subject or target: which actions make up its count
    rows: list[list[object]] = []
    for r in report["rows"]:
        row: list[object] = [r[by] or "(none)", r["count"], r["events"]]
        rows.append([*row, _counts_text(r["actions"])] if split else row)
    total: list[object] = ["total", totals["count"], totals["events"]]
    rows.append([*total, ""] if split else total)
    click.echo(table(rows, [by, "count", "records", *(["actions"] if split else [])]))


def district_names(settings: Settings) -> dict[str, str]:
    """code → name from the city's districts.csv ({} when the catalog folder is absent)."""
    path = Path(settings.catalog_dir) / settings.city / "districts.csv"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return {row["code"]: row["name"] for row in csv.DictReader(handle) if row.get("code")}
    except (OSError, KeyError):
        return {}


def size(count: Any) -> str:
    """Bytes for humans: 1.2 MB (powers of 1000)."""
    value = float(count or 0)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _counts_text(counts: dict[str, int]) -> str:
    """'acl.grant 3, acl.revoke 1': most first, ties by name."""
    return ", ".join(f"{k} {counts[k]}" for k in sorted(counts, key=lambda k: (-counts[k], k)))


def _reasons_text(reasons: dict[str, dict[str, int]]) -> str:
    """Withheld, then dead-letter reasons, most records first; ties by name (the reports' dicts
    come in whatever order ClickHouse returned their rows)."""
    parts = []
    for outcome in ("withheld", "dead_letter"):
        counts = reasons.get(outcome, {})
        parts += [f"{reason} {counts[reason]}" for reason in sorted(counts, key=lambda r: (-counts[r], r))]
    return ", ".join(parts)
