"""`sharebus catalog validate | show | diff | publish | export`: check, display, compare, publish a
city's catalog and write the live one back to a folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from sharebus.catalog.diff import diff_catalogs
from sharebus.catalog.issues import CatalogError
from sharebus.catalog.load import CATALOG_FILES, check_catalog_dir, city_dir, load_catalog, write_catalog_dir
from sharebus.catalog.models import Catalog, Grade, Resource
from sharebus.cli.output import emit_json, handle_errors, json_option, table
from sharebus.core.errors import ConfigError, ExitCode
from sharebus.core.settings import get_settings
from sharebus.core.signing import SIGNING_KEY_FILE, VERIFY_KEY_FILE, generate, load_verifier
from streams.router.live_catalog import catalog_from, latest_catalog, publish_catalog


def catalog_folder(city: str | None, directory: Path | None) -> Path:
    if directory is not None:
        return directory
    settings = get_settings()
    return city_dir(settings.catalog_dir, city or settings.city)


city_option = click.option(
    "--city", help="City of the catalog: <SHAREBUS_CATALOG_DIR>/<city> (default SHAREBUS_CITY)."
)
dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="A city catalog folder (overrides --city).",
)


@click.group("catalog")
def catalog() -> None:
    """The city catalog: region, catalog list, demand list, responsibility list."""


@catalog.command("validate")
@city_option
@dir_option
@json_option
@handle_errors
def validate(city: str | None, directory: Path | None, as_json: bool) -> None:
    """Validate a city's catalog files and report every problem found."""
    folder = catalog_folder(city, directory)
    loaded, issues = check_catalog_dir(folder)
    if loaded is None:
        raise CatalogError(str(folder), issues)
    counts = _counts(loaded)
    if as_json:
        emit_json({"ok": True, "dir": str(folder), "version": loaded.version, "counts": counts})
        return
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    click.echo(f"catalog {folder} is valid: version {loaded.version} ({summary})")


@catalog.command("publish")
@click.option("--city", default=None, help="City folder to publish (default: SHAREBUS_CITY).")
@json_option
@handle_errors
def publish(city: str | None, as_json: bool) -> None:
    """Validate the city's catalog folder and make it the live policy of every router worker.

    Approving, revoking or expiring a demand takes effect within seconds, without a restart."""
    settings = get_settings()
    published = publish_catalog(settings, city)
    if as_json:
        emit_json(
            {
                "city": published.city,
                "version": published.version,
                "topic": settings.catalog_topic,
                "offset": published.offset,
                "key_id": published.key_id,
            }
        )
        return
    click.echo(
        f"catalog {published.city} version {published.version} is live"
        f" ({settings.catalog_topic} offset {published.offset}, signed by key {published.key_id})"
    )


@catalog.command("export")
@click.option("--city", default=None, help="City whose live catalog to export (default: SHAREBUS_CITY).")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The folder to write the files into (a city folder under git, say); its files are replaced.",
)
@json_option
@handle_errors
def export(city: str | None, out: Path, as_json: bool) -> None:
    """Write the live catalog (the version in force, signed by the admin) into a folder: the demand
    workflow's decisions come back to the files a city keeps and reviews in git."""
    settings = get_settings()
    city = city or settings.city
    texts = latest_catalog(settings, city)
    if texts is None:
        raise ConfigError(
            f"live catalog of {city}",
            "was never published",
            expected=f"a version on {settings.catalog_topic}",
            fix="`sharebus catalog publish` (as the admin) makes the folder live first",
        )
    written = write_catalog_dir(texts, out)
    version = catalog_from(texts, f"{settings.catalog_topic} ({city})").version
    if as_json:
        emit_json({"city": city, "version": version, "files": [str(p) for p in written]})
        return
    click.echo(f"catalog {city} version {version} written to {out} ({len(written)} files)")


@catalog.command("keygen")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep", is_flag=True, help="A pair already in DIRECTORY is kept (and named), not an error.")
@click.option("--owner", type=int, default=None, help="Give the private key to this user id (root only).")
@json_option
@handle_errors
def keygen(directory: Path, keep: bool, owner: int | None, as_json: bool) -> None:
    """Make the admin's catalog signing key pair in DIRECTORY (never overwrites one).

    Keep catalog-signing.pem where the admin publishes (SHAREBUS_CATALOG_SIGNING_KEY); give
    catalog-signing.pub.pem to every worker and the registry (SHAREBUS_CATALOG_VERIFY_KEY): they
    refuse a catalog version it does not verify."""
    private, public = directory / SIGNING_KEY_FILE, directory / VERIFY_KEY_FILE
    if keep and private.exists() and public.exists():
        kid = load_verifier(public).key_id
    else:
        private, public, kid = generate(directory)
    if owner is not None:
        os.chown(private, owner, -1)
    if as_json:
        emit_json({"signing_key": str(private), "verify_key": str(public), "key_id": kid})
        return
    click.echo(f"key {kid}: signing key {private} (keep it with the admin), verify key {public}")


def _counts(c: Catalog) -> dict[str, int]:
    return {
        "districts": len(c.districts),
        "subscribers": len(c.subscribers),
        "departments": len(c.departments),
        "resources": len(c.resources),
        "demands": len(c.demands),
        "responsibilities": len(c.responsibilities),
    }


def _load(folder: Path) -> Catalog:
    return load_catalog(folder)


@catalog.command("show")
@city_option
@dir_option
@click.option("--resource", "resource_id", help="Show one resource with its fields.")
@json_option
@handle_errors
def show(city: str | None, directory: Path | None, resource_id: str | None, as_json: bool) -> None:
    """Show a city's catalog (or one resource) with its content version."""
    folder = catalog_folder(city, directory)
    cat = _load(folder)
    if resource_id is not None:
        res = cat.resource(resource_id)
        if res is None:
            known = ", ".join(r.id for r in cat.resources)
            raise ConfigError(
                f"resource {resource_id}",
                "is not in the catalog",
                expected=f"one of {known}",
                actual=resource_id,
                fix="pass --resource with a resource id from `sharebus catalog show`",
            )
        if as_json:
            emit_json({"version": cat.version, "resource": res.model_dump(mode="json")})
        else:
            _show_resource(cat, res)
        return
    if as_json:
        emit_json({"version": cat.version, "catalog": cat.canonical()})
        return
    _show_catalog(cat)


def _show_catalog(cat: Catalog) -> None:
    echo = click.echo
    echo(f"city {cat.city.name} ({cat.city.id}, {cat.city.code})  catalog version {cat.version}")
    echo(", ".join(f"{n} {k}" for k, n in _counts(cat).items()))
    echo("\nsubscribers besides the districts")
    echo(
        table(
            [
                (
                    s.id,
                    s.kind.value,
                    s.name,
                    "city-wide" if s.city_wide else ",".join(s.districts or ()),
                )
                for s in cat.subscribers
            ],
            ("id", "kind", "name", "rows of"),
        )
    )
    owners = {r.resource: r.unit for r in cat.responsibilities}
    echo("\nresources")
    echo(
        table(
            [
                (
                    r.id,
                    r.sharing.value,
                    r.region_field or "city-wide",
                    r.update_frequency.value,
                    f"{len(r.fields)} ({sum(f.grade is Grade.SENSITIVE for f in r.fields)})",
                    r.title,
                    owners.get(r.id, "?"),
                )
                for r in cat.resources
            ],
            ("id", "sharing", "region", "frequency", "fields (sens.)", "title", "responsible"),
        )
    )
    echo("\ndemands")
    echo(
        table(
            [
                (
                    d.id,
                    d.subscriber,
                    d.resource,
                    d.status.value,
                    d.valid_from.isoformat(),
                    d.valid_until.isoformat() if d.valid_until else "open",
                    "all" if d.fields is None else len(d.fields),
                    ",".join(d.clear),
                )
                for d in cat.demands
            ],
            ("id", "subscriber", "resource", "status", "from", "until", "fields", "clear"),
        )
    )


def _show_resource(cat: Catalog, r: Resource) -> None:
    echo = click.echo
    echo(f"{r.id}  {r.title}  (catalog version {cat.version})")
    echo(f"  department   {r.department}")
    echo(f"  source       {r.source.table} on {r.source.raw_topic}")
    echo(f"  key          {', '.join(r.primary_key)}")
    echo(f"  sharing      {r.sharing.value}" + (f" — {r.legal_basis}" if r.legal_basis else ""))
    echo(f"  region       {r.region_field or 'city-wide'}")
    echo(f"  frequency    {r.update_frequency.value}\n")
    rows: list[tuple[str, ...]] = []
    for f in r.fields:
        extra = [f"mask {f.mask.value}"] if f.mask else []
        extra += [f"code {f.code.value}"] if f.code else []
        extra += ["required"] if f.required else []
        rows.append((f.name, f.type.value, f.grade.value, ", ".join(extra), f.description))
    echo(table(rows, ("field", "type", "grade", "checks", "description")))


def _git_snapshot(ref: str, folder: Path, into: Path) -> Path:
    """Write the files of `folder` as of git `ref` into `into/<folder name>`; return that."""
    folder = folder.resolve()

    def git(*args: str) -> bytes:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, check=False, timeout=60)
        if done.returncode != 0:
            raise ConfigError(
                f"git ref {ref}",
                "cannot be read",
                expected=f"a commit of the repository holding {folder}",
                actual=done.stderr.decode(errors="replace").strip(),
                fix="pass an existing ref (e.g. HEAD, main, a tag), or compare two folders",
            )
        return done.stdout

    prefix = git("rev-parse", "--show-prefix").decode().strip()
    target = into / folder.name
    target.mkdir(parents=True)
    for name in CATALOG_FILES:
        listed = git("ls-tree", "--name-only", ref, "--", name).strip()  # relative to folder
        if listed:
            (target / name).write_bytes(git("show", f"{ref}:{prefix}{name}"))
    return target


@catalog.command("diff")
@click.argument("old", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.argument("new", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.option("--ref", help="Compare the catalog as of this git ref with the working copy.")
@city_option
@json_option
@handle_errors
@click.option("--exit-code", is_flag=True, help="Exit 1 when the catalogs differ.")
def diff(
    old: Path | None,
    new: Path | None,
    ref: str | None,
    city: str | None,
    as_json: bool,
    exit_code: bool,
) -> None:
    """Compare two catalog versions: OLD and NEW folders, or --ref REF [FOLDER]."""
    if ref is not None:
        if new is not None:
            raise click.UsageError("with --ref, give at most one folder (the working copy)")
        current = old or catalog_folder(city, None)
        with tempfile.TemporaryDirectory(prefix="sharebus-catalog-") as tmp:
            snapshot = _git_snapshot(ref, current, Path(tmp))
            before = _load(snapshot)
        after = _load(current)
    else:
        if old is None or new is None:
            raise click.UsageError("give two catalog folders OLD NEW, or --ref REF [FOLDER]")
        before, after = _load(old), _load(new)
    result = diff_catalogs(before, after)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(f"catalog {result.old_version} → {result.new_version}")
        if result.empty:
            click.echo("  no changes")
        for c in result.changes:
            mark = "  !" if c.widens else "   "
            click.echo(f"{mark} {c.change:<8} {c.kind:<14} {c.id}")
            for a in c.attributes:
                click.echo(f"        {a.name}: {a.old!r} → {a.new!r}")
        if any(c.widens for c in result.changes):
            click.echo("  (! widens what a subscriber may receive: review before publishing)")
    if exit_code and not result.empty:
        sys.exit(ExitCode.FAILED)
