"""The schema registry's state and rules: schemas by id, subjects' versions, compatibility
levels; registering checks compatibility and hands new records to a durable log."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from schemas.canonical import canonical_json
from schemas.compat import parse, problems
from schemas.errors import RegistryError

DEFAULT_LEVEL = "BACKWARD"
LEVELS = frozenset(
    {"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
)


class Record(NamedTuple):
    """One entry of the registry's log. Keys are unique per fact (a schema id, a subject
    version), so a compacted log keeps every fact; only config keys are overwritten."""

    key: tuple[Any, ...]
    value: dict[str, Any]


class ApiError(RegistryError):
    """A request the registry refuses, with the HTTP status and Confluent error code to answer."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        self.status = status
        super().__init__("schema registry", message, error_code=error_code)
        self.message = message


def schema_record(schema_id: int, text: str) -> Record:
    return Record(("schema", schema_id), {"id": schema_id, "schema": text, "schemaType": "AVRO"})


def version_record(subject: str, version: int, schema_id: int) -> Record:
    return Record(("version", subject, version), {"subject": subject, "version": version, "id": schema_id})


def config_record(subject: str | None, level: str) -> Record:
    return Record(("config", subject), {"compatibilityLevel": level})


@dataclass
class RegistryState:
    """Everything the registry knows, rebuilt by applying its log in order.

    Must hold: ids are global (one id per distinct canonical schema text, in any subject) and
    never reused; versions of a subject count 1, 2, … in registration order. The log's thread
    applies records while HTTP handlers read: whatever iterates a dict holds `lock`.
    """

    schemas: dict[int, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)  # subject → ids, version = index + 1
    levels: dict[str | None, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def apply(self, record: Record) -> None:
        kind, value = record.key[0], record.value
        with self.lock:
            if kind == "schema":
                self.schemas[int(value["id"])] = str(value["schema"])
                self.ids.setdefault(str(value["schema"]), int(value["id"]))
            elif kind == "version":
                versions = self.subjects.setdefault(str(value["subject"]), [])
                if int(value["version"]) == len(versions) + 1:
                    versions.append(int(value["id"]))
            elif kind == "config":
                self.levels[record.key[1]] = str(value["compatibilityLevel"])

    # --- reads ----------------------------------------------------------------------------------
    def schema(self, schema_id: int) -> str:
        text = self.schemas.get(schema_id)
        if text is None:
            raise ApiError(404, 40403, f"Schema {schema_id} not found")
        return text

    def versions(self, subject: str) -> list[int]:
        ids = self.subjects.get(subject)
        if not ids:
            raise ApiError(404, 40401, f"Subject '{subject}' not found.")
        return list(range(1, len(ids) + 1))

    def version(self, subject: str, version: str) -> tuple[int, int]:
        """(version number, schema id); `version` is a number, 'latest' or -1."""
        count = len(self.versions(subject))
        if version in ("latest", "-1"):
            number = count
        elif version.isdigit():
            number = int(version)
        else:
            raise ApiError(422, 42202, f"The specified version '{version}' is not a valid version id.")
        if not 1 <= number <= count:
            raise ApiError(404, 40402, f"Version {version} not found.")
        return number, self.subjects[subject][number - 1]

    def subject_names(self) -> list[str]:
        with self.lock:  # the log's thread may be adding subjects
            return sorted(s for s, ids in self.subjects.items() if ids)

    def usage(self, schema_id: int) -> list[tuple[str, int]]:
        """(subject, version) pairs holding a schema id."""
        self.schema(schema_id)
        with self.lock:
            return [
                (subject, n + 1)
                for subject, ids in sorted(self.subjects.items())
                for n, sid in enumerate(ids)
                if sid == schema_id
            ]

    def level(self, subject: str | None) -> str:
        return self.levels.get(subject) or self.levels.get(None) or DEFAULT_LEVEL

    def lookup(self, subject: str, text: str) -> tuple[int, int] | None:
        """(version, id) of this canonical schema text under `subject`, or None."""
        schema_id = self.ids.get(text)
        ids = self.subjects.get(subject, [])
        if schema_id is None or schema_id not in ids:
            return None
        return ids.index(schema_id) + 1, schema_id

    # --- rules ----------------------------------------------------------------------------------
    def incompatibilities(self, subject: str, text: str, against: Sequence[int] | None = None) -> list[str]:
        """Why `text` may not follow `subject`'s versions under its level ([] when it may);
        `against` (schema ids) defaults to what the level checks: the latest, or all."""
        level = self.level(subject)
        ids = self.subjects.get(subject, [])
        if level == "NONE" or not ids:
            return []
        if against is None:
            against = ids if level.endswith("TRANSITIVE") else ids[-1:]
        new = parse(json.loads(text))
        out: list[str] = []
        for old_id in against:
            old = parse(json.loads(self.schemas[old_id]))
            if level.startswith(("BACKWARD", "FULL")):
                out += [f"reading version with id {old_id}: {p}" for p in problems(new, old)]
            if level.startswith(("FORWARD", "FULL")):
                out += [f"read by version with id {old_id}: {p}" for p in problems(old, new)]
        return out


def validate_schema(body: Any) -> str:
    """The canonical text of a request's `schema`, or ApiError 422 when it is no Avro schema."""
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise ApiError(422, 42201, "Request body must be a JSON object with a string `schema`")
    if body.get("schemaType", "AVRO") != "AVRO":
        raise ApiError(422, 42201, f"Schema type {body['schemaType']} is not supported (AVRO only)")
    if body.get("references"):
        raise ApiError(422, 42201, "Schema references are not supported")
    try:
        schema = json.loads(body["schema"])
        parse(schema)
    except ValueError as exc:
        raise ApiError(422, 42201, f"Invalid schema: {exc}") from exc
    return canonical_json(schema)


class Registry:
    """Registry operations over a state and a durable `append` (the log applies what it wrote
    to the state before returning). Writes are serialised: one registration at a time."""

    def __init__(self, state: RegistryState, append: Callable[[list[Record]], None]) -> None:
        self.state = state
        self._append = append
        self._write = threading.Lock()

    def register(self, subject: str, text: str) -> int:
        """The id of canonical `text` under `subject`, adding a version when it is new there.
        Idempotent; ApiError 409 when the subject's compatibility level refuses it."""
        with self._write:
            found = self.state.lookup(subject, text)
            if found is not None:
                return found[1]
            issues = self.state.incompatibilities(subject, text)
            if issues:
                raise ApiError(
                    409,
                    409,
                    "Schema being registered is incompatible with an earlier"
                    f' schema for subject "{subject}": {"; ".join(issues)}',
                )
            # state.lock only while computing: `append` waits for the log's thread, which applies
            # records under that lock.
            with self.state.lock:
                schema_id = self.state.ids.get(text)
                records = []
                if schema_id is None:
                    schema_id = max(self.state.schemas, default=0) + 1
                    records.append(schema_record(schema_id, text))
                version = len(self.state.subjects.get(subject, [])) + 1
                records.append(version_record(subject, version, schema_id))
            self._append(records)
            return schema_id

    def set_level(self, subject: str | None, level: str) -> str:
        if level not in LEVELS:
            raise ApiError(422, 42203, f"Invalid compatibility level {level}; one of {sorted(LEVELS)}")
        with self._write:
            self._append([config_record(subject, level)])
        return level
