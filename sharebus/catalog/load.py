"""Load a city's catalog folder: parse its YAML and CSV files, validate every entry, and return a
`Catalog`, or raise one `CatalogError` listing every problem found (not just the first).

Two parsers, one verdict: a catalog is parsed fast (ryaml, YAML 1.2 core schema, no line marks);
only when that finds an issue is it parsed again with PyYAML's line marks, to say where."""

from __future__ import annotations

import csv
import hashlib
import io
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ryaml._ryaml import InvalidYamlError, loads

from sharebus.catalog import models as m
from sharebus.catalog.compact import Compactor
from sharebus.catalog.consistency import check_references
from sharebus.catalog.issues import CatalogError, CatalogIssue
from sharebus.catalog.validate import (
    CATALOG_FILE,
    DEMAND_FILE,
    DISTRICTS_FILE,
    REGION_FILE,
    RESPONSIBILITY_FILE,
    Entry,
    Parsed,
    cross_check,
    line_of,
)
from sharebus.catalog.yaml_chunks import NotChunkable, loads_chunked
from sharebus.core import naming, pacing
from sharebus.core.errors import ConfigError
from sharebus.core.gcpause import collections_paused

CATALOG_FILES = (REGION_FILE, CATALOG_FILE, DEMAND_FILE, RESPONSIBILITY_FILE, DISTRICTS_FILE)
DISTRICTS_HEADER = ["code", "name", "kind"]

M = TypeVar("M", bound=BaseModel)

_PATTERNS = {
    m.REGION_CODE: "a 6-digit GB/T 2260 code, e.g. 500101",
    m.SLUG: "lower-case letters, digits and '-', starting with a letter, at most 48 characters",
    m.SUBSCRIBER_REF: f"a district code (6 digits), an extra subscriber id or {m.ALL_DISTRICTS}",
    m.DEPARTMENT_ID: "lower-case letters, digits and '-', starting with a letter, at most 32",
    m.RESOURCE_ID: "<department>.<name>: lower-case letters, digits, '-' (and '_' in the name)",
    m.CONNECTOR_NAME: f"{naming.raw_prefix('<department>')} (the Debezium topic.prefix)",
    m.TABLE_NAME: "<schema>.<table>, e.g. public.enterprise",
    m.FIELD_NAME: "a column name: letters, digits and '_', not starting with a digit",
    m.DEMAND_ID: "letters, digits, '.', '_' and '-', at most 64 characters",
}
_TIMESTAMP = "a timestamp with a UTC offset, e.g. 2025-01-01T00:00:00+08:00"


@dataclass(frozen=True, slots=True)
class CatalogTexts:
    """The raw contents of a catalog folder; None for a missing file."""

    region: str | None
    catalog: str | None
    demands: str | None
    responsibility: str | None
    districts: str | None
    unknown_files: tuple[str, ...] = ()


# --- YAML with line marks and duplicate-key detection ---------------------------------------
class _LineDict(dict[Any, Any]):
    line: int | None = None


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml if built


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[_LineDict]:
    loader.flatten_mapping(node)
    data = _LineDict()
    data.line = node.start_mark.line + 1
    yield data
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=False)
        if not isinstance(key, typing.Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        if key in data:
            loader.duplicates.append((key_node.start_mark.line + 1, str(key)))
        data[key] = loader.construct_object(value_node, deep=False)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


class _Unparsable:
    """Marks a file whose YAML did not parse (its issue is already reported)."""


_UNPARSABLE = _Unparsable()


def _parse_yaml(name: str, text: str, issues: list[CatalogIssue], marked: bool) -> Any:
    return _parse_marked(name, text, issues) if marked else _parse_fast(name, text, issues)


def _parse_fast(name: str, text: str, issues: list[CatalogIssue]) -> Any:
    """Values only (duplicate keys are an error here too): dicts without `.line`."""
    try:
        data = _parse_chunks(text) if pacing.active() else _UNPARSABLE
        if data is _UNPARSABLE:
            data = loads(text)
    except InvalidYamlError as exc:
        issues.append(CatalogIssue(name, "", "", f"not valid YAML: {exc}", "YAML", None))
        return _UNPARSABLE
    return data


def _parse_chunks(text: str) -> Any:
    """`loads_chunked` (the GIL is released between chunks); _UNPARSABLE when only a whole
    parse is sure to give the values or to name the error."""
    try:
        return loads_chunked(text, loads)
    except (NotChunkable, InvalidYamlError):
        return _UNPARSABLE


def _parse_marked(name: str, text: str, issues: list[CatalogIssue]) -> Any:
    """Values with the line of every mapping (`_LineDict.line`) and duplicate keys reported."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        issues.append(CatalogIssue(name, "", "", f"not valid YAML: {problem}", "YAML", line))
        return _UNPARSABLE
    finally:
        loader.dispose()
    issues += [
        CatalogIssue(name, "", key, f"key {key!r} appears twice in a mapping", "each key once", ln)
        for ln, key in loader.duplicates
    ]
    return data


# --- pydantic errors → issues -----------------------------------------------------------------
def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], path: tuple[str | int, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for step in path:
        if current is None:
            return None
        if isinstance(step, str):
            info = current.model_fields.get(step)
            current = _unwrap_model(info.annotation) if info is not None else None
    return current


def _render_path(loc: tuple[str | int, ...], raw: Any) -> str:
    out = ""
    node = raw
    for step in loc:
        if isinstance(step, int):
            item = node[step] if isinstance(node, list) and step < len(node) else None
            label = item.get("name") or item.get("id") if isinstance(item, dict) else None
            out += f"[{label}]" if isinstance(label, str) else f"[{step}]"
        else:
            out += f".{step}" if out else step
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _allowed(err: ErrorDetails, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if kind in ("enum", "literal_error"):
        return str(ctx.get("expected"))
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(str(ctx.get("pattern")), f"matching {ctx.get('pattern')}")
    if kind == "missing":
        return "this key is required"
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        keys = ", ".join(owner.model_fields) if owner is not None else "the documented keys"
        return f"the keys {keys}"
    if kind.startswith("datetime") or kind == "timezone_aware":
        return _TIMESTAMP
    if kind in ("too_short", "string_too_short"):
        return f"at least {ctx.get('min_length', 1)} item(s)/character(s)"
    simple = {
        "string_type": "a string",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "tuple_type": "a list",
        "list_type": "a list",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "dict_type": "a mapping",
    }
    return simple.get(kind, err["msg"])


def _issues_from(
    exc: ValidationError,
    model: type[BaseModel],
    file: str,
    label: str,
    raw: Any,
    line: int | None,
) -> list[CatalogIssue]:
    out: list[CatalogIssue] = []
    for err in exc.errors():
        loc = tuple(s for s in err["loc"] if not (isinstance(s, str) and "[" in s))
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            problem = f"unknown key {loc[-1]!r}"
        elif err["type"] == "missing":
            problem = f"missing key {loc[-1]!r}" if loc else "missing"
        elif err["type"] in ("enum", "literal_error"):
            problem = f"{value!r} is not an allowed value"
        elif err["type"] == "string_pattern_mismatch":
            problem = f"{value!r} is not well-formed"
        else:
            shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
            problem = f"{err['msg']}{shown}"
        out.append(
            CatalogIssue(
                file,
                label,
                _render_path(loc, raw),
                problem,
                _allowed(err, model, loc),
                line_of(raw, loc) or line,
            )
        )
    return out


def _validate(
    model: type[M],
    raw: Any,
    file: str,
    label: str,
    issues: list[CatalogIssue],
    line: int | None = None,
) -> M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        issues += _issues_from(exc, model, file, label, raw, line or getattr(raw, "line", None))
        return None


def _entries(
    model: type[M],
    data: Any,
    key: str,
    id_key: str,
    file: str,
    parsed: Parsed,
    issues: list[CatalogIssue],
    marked: bool,
) -> list[Entry[M]]:
    """Validate each item of list `key` on its own, so one bad entry hides no other problem.
    Unmarked (values only, no lines to point at), each item's YAML is let go once validated:
    the parsed list and its models never both sit in memory whole (the load's peak at 20,000
    resources)."""
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    out: list[Entry[M]] = []
    compactor = Compactor()
    for i, item in enumerate(items):
        pacing.pace()
        ident = item.get(id_key) if isinstance(item, dict) else None
        if isinstance(ident, str):
            parsed.declared(key).add(ident)
        label = f"{key}[{i}] {ident}" if isinstance(ident, str) else f"{key}[{i}]"
        line = getattr(item, "line", None)
        value = _validate(model, item, file, label, issues)
        if not marked:
            items[i] = item = None
        if value is not None:
            compactor.entry(value)
            out.append(Entry(value, file, label, item, line))
    return out


_Lists = tuple[tuple[str, type[BaseModel], str], ...]
"""A file's lists: (key, entry model, id key)."""
_CATALOG_LISTS: _Lists = (("departments", m.Department, "id"), ("resources", m.Resource, "id"))
_DEMAND_LISTS: _Lists = (("demands", m.Demand, "id"),)
_RESPONSIBILITY_LISTS: _Lists = (("responsibilities", m.Responsibility, "resource"),)


class _Validated(typing.NamedTuple):
    """A list file's text (its digest) and what it validated into, without issues."""

    digest: bytes
    entries: dict[str, list[Entry[Any]]]
    declared: dict[str, frozenset[str]]


_LAST_VALIDATED: dict[str, _Validated] = {}
"""Per list file, the last text validated without issues: a publish that changes the demands
neither parses nor validates the catalog list again (~1.5 s at the city's size, beside a worker's
routing thread), and no parsed YAML is kept (the entries hold the models alone)."""


def _listed(
    name: str,
    text: str | None,
    file_model: type[BaseModel],
    lists: _Lists,
    parsed: Parsed,
    issues: list[CatalogIssue],
    marked: bool,
    digest: bytes,
) -> dict[str, list[Entry[Any]]]:
    """The validated entries of each list of a file (the last ones when its text, of `digest`, did
    not change)."""
    last = _LAST_VALIDATED.get(name)
    if not marked and last is not None and last.digest == digest:
        for key, ids in last.declared.items():
            parsed.declared(key).update(ids)
        return {key: list(listed) for key, listed in last.entries.items()}
    before = {key: set(parsed.declared(key)) for key, _, _ in lists}
    found = len(issues)
    data = _load_file(name, text, file_model, parsed, issues, marked)
    entries = {
        key: _entries(model, data, key, id_key, name, parsed, issues, marked) for key, model, id_key in lists
    }
    if not marked and text is not None and len(issues) == found and name not in parsed.broken_files:
        declared = {key: frozenset(parsed.declared(key) - before[key]) for key, _, _ in lists}
        _LAST_VALIDATED[name] = _Validated(digest, entries, declared)
    return entries


def _load_file(
    name: str,
    text: str | None,
    file_model: type[BaseModel],
    parsed: Parsed,
    issues: list[CatalogIssue],
    marked: bool,
) -> Any:
    if text is None:
        parsed.broken_files.add(name)
        issues.append(CatalogIssue(name, "", "", "file is missing", f"the files {', '.join(CATALOG_FILES)}"))
        return None
    data = _parse_yaml(name, text, issues, marked)
    if not isinstance(data, dict):
        parsed.broken_files.add(name)
        if data is not _UNPARSABLE:
            issues.append(CatalogIssue(name, "", "", "the file is not a mapping", "format: 1 and the lists"))
        return None
    _validate(file_model, data, name, "", issues)
    return data


def _load_districts(text: str | None, parsed: Parsed, issues: list[CatalogIssue]) -> None:
    if text is None:
        parsed.broken_files.add(DISTRICTS_FILE)
        issues.append(CatalogIssue(DISTRICTS_FILE, "", "", "file is missing", "code,name,kind rows"))
        return
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header != DISTRICTS_HEADER:
        parsed.broken_files.add(DISTRICTS_FILE)
        issues.append(
            CatalogIssue(DISTRICTS_FILE, "header", "", f"header is {header}", ",".join(DISTRICTS_HEADER), 1)
        )
        return
    for row in reader:
        if not row:
            continue
        line = reader.line_num
        raw = dict(zip(DISTRICTS_HEADER, row, strict=False))
        label = row[0]
        parsed.declared("subscribers").add(row[0])
        if len(row) != len(DISTRICTS_HEADER):
            issues.append(CatalogIssue(DISTRICTS_FILE, label, "", f"{len(row)} columns", "3 columns", line))
            continue
        district = _validate(m.District, raw, DISTRICTS_FILE, label, issues, line)
        if district is not None:
            parsed.districts.append(Entry(district, DISTRICTS_FILE, label, None, line))


_LAST_CATALOG: dict[str | None, tuple[bytes, m.Catalog]] = {}
"""The last catalog parsed without issues, by its texts' digest (and folder): the same texts give
the same (immutable) catalog object, its version computed once. Digests, not the texts: those
are ~40 MB at 20,000 resources, kept twice. A worker reads the version it started
with again from the catalog topic; at 20,000 resources validating and hashing it a second time
cost ~10 s of CPU beside routing and a second catalog in memory (the worker's peak, 1.9 GiB)."""


def _digest(text: str | None) -> bytes:
    """What tells two texts of a file apart (None: no file)."""
    if text is None:
        return b""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()


def file_digests(texts: CatalogTexts) -> dict[str, bytes]:
    """Each list file's digest (b"" when absent)."""
    return {
        CATALOG_FILE: _digest(texts.catalog),
        DEMAND_FILE: _digest(texts.demands),
        RESPONSIBILITY_FILE: _digest(texts.responsibility),
    }


def texts_digest(texts: CatalogTexts, digests: Mapping[str, bytes]) -> bytes:
    """What tells two catalog folders' texts apart (`digests`: their `file_digests`)."""
    whole = hashlib.blake2b(digest_size=32)
    for part in (texts.region, texts.districts):
        whole.update(b"\x01" + _digest(part) if part is not None else b"\x00")
    for name in sorted(digests):
        whole.update(name.encode() + b"\x00" + digests[name])
    whole.update("\x00".join(texts.unknown_files).encode())
    return whole.digest()


def known_catalog(
    texts: CatalogTexts, folder: str | None, digests: Mapping[str, bytes] | None = None
) -> tuple[bytes, m.Catalog | None]:
    """The digest of `texts`, and the catalog last parsed without issues from the same texts (and
    folder), else None (`digests`: their `file_digests`, when already made)."""
    digest = texts_digest(texts, digests if digests is not None else file_digests(texts))
    last = _LAST_CATALOG.get(folder)
    return digest, last[1] if last is not None and last[0] == digest else None


def remember_catalog(folder: str | None, digest: bytes, catalog: m.Catalog) -> None:
    """Keep `catalog`, parsed without issues from texts of `digest`, as the last one."""
    _LAST_CATALOG.clear()
    _LAST_CATALOG[folder] = (digest, catalog)


def forget_parsed() -> None:
    """Drop what earlier parses keep (the next parse starts from the texts alone; for tests)."""
    _LAST_CATALOG.clear()
    _LAST_VALIDATED.clear()


@collections_paused()
def parse_catalog(
    texts: CatalogTexts, *, folder: str | None = None
) -> tuple[m.Catalog | None, tuple[CatalogIssue, ...]]:
    """Validate a catalog's files; the catalog when there is no issue, and every issue found.

    `folder` (the city folder's name) must equal the city id when given. Parsed fast first; a
    catalog with issues is parsed again with line marks, so each issue says where it is.
    """
    digests = file_digests(texts)
    digest, known = known_catalog(texts, folder, digests)
    if known is not None:
        return known, ()
    catalog, issues = _parse_catalog(texts, folder, digests, marked=False)
    if not issues:
        if catalog is not None:
            remember_catalog(folder, digest, catalog)
        return catalog, ()
    _, located = _parse_catalog(texts, folder, digests, marked=True)
    return None, located or issues  # the marked parse finds the same issues, with their lines


def _parse_catalog(
    texts: CatalogTexts, folder: str | None, digests: Mapping[str, bytes], *, marked: bool
) -> tuple[m.Catalog | None, tuple[CatalogIssue, ...]]:
    issues: list[CatalogIssue] = []
    p = Parsed(folder=folder)
    issues += [
        CatalogIssue(name, "", "", "unknown catalog file", ", ".join(CATALOG_FILES))
        for name in texts.unknown_files
    ]

    region = _load_file(REGION_FILE, texts.region, m.RegionFile, p, issues, marked)
    if isinstance(region, dict):
        city = _validate(m.City, region.get("city"), REGION_FILE, "city", [])
        if city is not None:
            raw = region.get("city")
            p.city = Entry(city, REGION_FILE, "city", raw, getattr(raw, "line", None))
    p.subscribers = _entries(m.Subscriber, region, "subscribers", "id", REGION_FILE, p, issues, marked)
    _load_districts(texts.districts, p, issues)

    catalog_lists = _listed(
        CATALOG_FILE, texts.catalog, m.CatalogFile, _CATALOG_LISTS, p, issues, marked, digests[CATALOG_FILE]
    )
    p.departments, p.resources = catalog_lists["departments"], catalog_lists["resources"]
    p.demands = _listed(
        DEMAND_FILE, texts.demands, m.DemandFile, _DEMAND_LISTS, p, issues, marked, digests[DEMAND_FILE]
    )["demands"]
    p.responsibilities = _listed(
        RESPONSIBILITY_FILE,
        texts.responsibility,
        m.ResponsibilityFile,
        _RESPONSIBILITY_LISTS,
        p,
        issues,
        marked,
        digests[RESPONSIBILITY_FILE],
    )["responsibilities"]

    issues += cross_check(p) + check_references(p)
    order = {name: i for i, name in enumerate(CATALOG_FILES)}
    issues.sort(key=lambda i: (order.get(i.file, -1), i.line or 0))
    if issues or p.city is None:
        return None, tuple(issues)
    catalog = m.Catalog(
        city=p.city.value,
        districts=tuple(e.value for e in p.districts),
        subscribers=tuple(e.value for e in p.subscribers),
        departments=tuple(e.value for e in p.departments),
        resources=tuple(e.value for e in p.resources),
        demands=tuple(e.value for e in p.demands),
        responsibilities=tuple(e.value for e in p.responsibilities),
    )
    return catalog, ()


def read_catalog_dir(directory: Path) -> CatalogTexts:
    """Read a city folder's files; raise ConfigError when the folder does not exist."""
    if not directory.is_dir():
        raise ConfigError(
            f"catalog folder {directory}",
            "does not exist",
            expected=f"a folder holding {', '.join(CATALOG_FILES)}",
            actual="no such directory",
            fix="pass --dir <city folder>, or set SHAREBUS_CATALOG_DIR and SHAREBUS_CITY",
        )

    def read(name: str) -> str | None:
        path = directory / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    unknown = tuple(
        sorted(
            p.name
            for p in directory.iterdir()
            if p.suffix in (".yaml", ".yml", ".csv") and p.name not in CATALOG_FILES
        )
    )
    return CatalogTexts(
        region=read(REGION_FILE),
        catalog=read(CATALOG_FILE),
        demands=read(DEMAND_FILE),
        responsibility=read(RESPONSIBILITY_FILE),
        districts=read(DISTRICTS_FILE),
        unknown_files=unknown,
    )


def write_catalog_dir(texts: CatalogTexts, directory: Path) -> list[Path]:
    """Write a catalog's files into `directory` (made when missing), replacing those there; the
    paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        REGION_FILE: texts.region,
        CATALOG_FILE: texts.catalog,
        DEMAND_FILE: texts.demands,
        RESPONSIBILITY_FILE: texts.responsibility,
        DISTRICTS_FILE: texts.districts,
    }
    written = []
    for name, text in files.items():
        if text is not None:
            (directory / name).write_text(text, encoding="utf-8")
            written.append(directory / name)
    return written


def check_catalog_dir(directory: Path) -> tuple[m.Catalog | None, tuple[CatalogIssue, ...]]:
    """Validate a city folder; the catalog when valid, and every issue found."""
    return parse_catalog(read_catalog_dir(directory), folder=directory.resolve().name)


def load_catalog(directory: Path) -> m.Catalog:
    """The validated catalog of a city folder; CatalogError lists every problem."""
    catalog, issues = check_catalog_dir(directory)
    if catalog is None:
        raise CatalogError(str(directory), issues)
    return catalog


def city_dir(catalog_dir: Path, city: str) -> Path:
    """The folder of one city's catalog: `<catalog_dir>/<city>`."""
    return catalog_dir / city
