"""`sharebus district object` (a subscriber flags a record it received as wrong) and `sharebus
quality objections | answer` (the department sees and answers them), over the worker's
`/api/objections` as SHAREBUS_KAFKA_USER."""

from __future__ import annotations

import json
from typing import Any

import click

from sharebus.apps.objections import ask
from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.errors import ConfigError
from sharebus.core.settings import get_settings
from streams.objections import ANSWERS, ObjectionState


def parse_key(text: str) -> dict[str, Any]:
    """A record's key: `uscc=9150…` (`k=v,k=v` for a key of several fields) or a JSON object."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ConfigError("KEY", f"is not JSON: {exc}", expected='{"uscc": "9150…"}') from None
        if isinstance(value, dict):
            return value
    pairs = [part.partition("=") for part in text.split(",") if part.strip()]
    if not pairs or any(not sep or not name.strip() for name, sep, _ in pairs):
        raise ConfigError("KEY", f"{text!r} is no key", expected="field=value (uscc=9150…), or a JSON object")
    return {name.strip(): value.strip() for name, _, value in pairs}


@click.command("object")
@click.argument("resource_id", metavar="RESOURCE")
@click.argument("key_text", metavar="KEY")
@click.option("--offset", type=int, required=True, help="The row's sharebus_offset in your copy.")
@click.option(
    "--field", "fields", multiple=True, required=True, help="A field whose value is wrong (repeat)."
)
@click.option("--reason", required=True, help="What is wrong with it, for the department.")
@json_option
@handle_errors
def object_command(
    resource_id: str, key_text: str, offset: int, fields: tuple[str, ...], reason: str, as_json: bool
) -> None:
    """Object to a record you received (疑义): the department responsible for it is told on its
    feedback topic and answers; a change of the field in its source corrects the objection."""
    body = {"resource": resource_id, "key": parse_key(key_text), "offset": offset, "fields": list(fields)}
    answer = ask(get_settings(), "POST", "", {**body, "reason": reason})
    objection = answer["objection"]
    if as_json:
        emit_json(objection)
        return
    click.echo(f"objection {objection['id']} raised: {resource_id} {key_text} ({', '.join(fields)}), open")


@click.command("objections")
@click.option("--state", type=click.Choice([s.value for s in ObjectionState]), help="Only these.")
@json_option
@handle_errors
def objections_command(state: str | None, as_json: bool) -> None:
    """The objections you may see: a subscriber its own, a department those about its resources,
    the data authority every one."""
    answer = ask(get_settings(), "GET", f"?state={state}" if state else "")
    rows = answer["objections"]
    if as_json:
        emit_json(rows)
        return
    lines = [
        [
            o["id"],
            o["state"],
            o["resource"],
            json.dumps(o["key"], ensure_ascii=False),
            ",".join(o["fields"]),
            o["subscriber"],
            o["raised_at"][:16],
            o["reason"][:40],
        ]
        for o in rows
    ]
    click.echo(table(lines, ["id", "state", "resource", "key", "fields", "by", "raised", "reason"]))


@click.command("answer")
@click.argument("objection_id", metavar="ID")
@click.argument("action", type=click.Choice(list(ANSWERS)))
@click.option("--reason", default="", help="Why (a rejection needs one).")
@json_option
@handle_errors
def answer_command(objection_id: str, action: str, reason: str, as_json: bool) -> None:
    """Answer an objection about your department's data: acknowledge it, say it is corrected, or
    reject it with a reason."""
    answer = ask(get_settings(), "POST", f"/{objection_id}/{action}", {"reason": reason})
    objection = answer["objection"]
    if as_json:
        emit_json(objection)
        return
    click.echo(f"objection {objection_id}: {objection['state']}")
