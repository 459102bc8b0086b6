"""Bulk seeding of the sample departments and the paced change generator that drives CDC load."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings
from sharebus.dev.samples.database import connect, copy_rows, require_tables, row_statement
from sharebus.dev.samples.departments import (
    DEPARTMENTS,
    get_department,
)
from sharebus.dev.samples.rows import (
    CERT_SEQ_MAX,
    CERTIFICATE_COLUMNS,
    ENTERPRISE_COLUMNS,
    FINDINGS,
    INSPECTION_COLUMNS,
    SEED_ID_BLOCK,
    RowFactory,
)

SEED_BATCH = 1000
OPS = ("insert", "update", "delete", "move")
DEFAULT_MIX: Mapping[str, float] = {"insert": 0.25, "update": 0.5, "delete": 0.1, "move": 0.15}
Progress = Callable[[int, int], None]


# --- seeding -------------------------------------------------------------------------------
def seed(settings: Settings, dept_id: str, n: int, *, seed: int = 0, progress: Progress | None = None) -> int:
    """Insert `n` generated rows into each of the department's tables; returns rows inserted.

    Rows are a function of `seed` and rows whose keys exist are skipped, so re-running with
    the same seed inserts nothing. `progress(done, total)` follows every batch.
    """
    if not 0 <= n <= min(SEED_ID_BLOCK, CERT_SEQ_MAX):
        raise ConfigError(
            "--rows",
            "is out of range",
            expected=f"0 to {CERT_SEQ_MAX}",
            actual=str(n),
            fix="pass a row count in range",
        )
    if seed < 0:
        raise ConfigError(
            "--seed",
            "must not be negative",
            expected=">= 0",
            actual=str(seed),
            fix="pass a seed of 0 or more",
        )
    dept = get_department(dept_id)
    factory = RowFactory.for_settings(settings, seed=seed)
    total, done, inserted = n * len(dept.tables), 0, 0
    enterprises: list[tuple[str, str]] = []  # (uscc, district_code) the inspections refer to

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress:
            progress(done, total)

    def load(table: str, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
        values = (tuple(row[c] for c in columns) for row in rows)
        return copy_rows(conn, table, columns, values, batch_size=SEED_BATCH, tick=tick)

    with connect(settings, dept.database, autocommit=False) as conn:
        require_tables(conn, settings, dept.database, dept.tables, dept.id)
        for table in dept.tables:
            if table == "public.enterprise":
                inserted += load(table, ENTERPRISE_COLUMNS, _enterprises(factory, n, enterprises))
            elif table == "public.inspection":
                inserted += load(
                    table,
                    ("id", *INSPECTION_COLUMNS),
                    _inspections(factory, enterprises, n, seed * SEED_ID_BLOCK),
                )
                # Explicit seed ids: the serial must continue after the largest one.
                conn.execute(
                    "SELECT setval(pg_get_serial_sequence('public.inspection', 'id'),"
                    " (SELECT coalesce(max(id), 0) + 1 FROM public.inspection), false)"
                )
            elif table == "public.certificate":
                # Distinct certificate numbers within a run; seeds rarely share one.
                seqs = factory.rng.sample(range(1, CERT_SEQ_MAX + 1), n)
                inserted += load(table, CERTIFICATE_COLUMNS, map(factory.certificate, seqs))
        conn.commit()
    return inserted


def _enterprises(factory: RowFactory, n: int, keys: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """`n` enterprises with distinct codes; appends each one's (uscc, district_code) to keys."""
    seen: set[str] = set()
    while len(seen) < n:
        row = factory.enterprise()
        if row["uscc"] not in seen:
            seen.add(row["uscc"])
            keys.append((row["uscc"], row["district_code"]))
            yield row


def _inspections(
    factory: RowFactory, enterprises: Sequence[tuple[str, str]], n: int, first_id: int
) -> Iterator[dict[str, Any]]:
    for i in range(n):
        if enterprises:
            uscc, code = factory.rng.choice(enterprises)
        else:
            code = factory.district().code
            uscc = factory.usci(code)
        yield {"id": first_id + i + 1, **factory.inspection(uscc, code)}


# --- change generator ----------------------------------------------------------------------
@dataclass
class ChangeCounts:
    """Committed changes of one run: for each kind, a map of schema-qualified table → count."""

    inserts: dict[str, int] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)
    deletes: dict[str, int] = field(default_factory=dict)
    moves: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def add(self, table: str, op: str, k: int = 1) -> None:
        by_table: dict[str, int] = getattr(self, op + "s")
        by_table[table] = by_table.get(table, 0) + k

    def count(self, op: str | None = None, table: str | None = None) -> int:
        """Changes of kind `op` (all kinds if None) to `table` (all tables if None)."""
        kinds = OPS if op is None else (op,)
        return sum(k for o in kinds for t, k in getattr(self, o + "s").items() if table in (None, t))

    @property
    def total(self) -> int:
        return self.count()

    @property
    def rate(self) -> float:
        """Committed changes per second over the run."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0

    def tables(self) -> list[str]:
        return sorted({t for op in OPS for t in getattr(self, op + "s")})

    def to_dict(self) -> dict[str, Any]:
        per_table = {
            t: {op + "s": self.count(op, t) for op in OPS} | {"total": self.count(None, t)}
            for t in self.tables()
        }
        return (
            {"tables": per_table}
            | {op + "s": self.count(op) for op in OPS}
            | {"total": self.total, "elapsed_s": round(self.elapsed, 3), "rate_per_s": round(self.rate, 1)}
        )


class _KeyPool:
    """Live primary keys of one table and each row's district; O(1) add, remove and sample."""

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.pos: dict[Any, int] = {}
        self.district: dict[Any, str] = {}

    def add(self, key: Any, district_code: str) -> None:
        if key not in self.pos:
            self.pos[key] = len(self.keys)
            self.keys.append(key)
        self.district[key] = district_code

    def remove(self, key: Any) -> None:
        i = self.pos.pop(key, None)
        if i is None:
            return
        self.district.pop(key, None)
        last = self.keys.pop()
        if i < len(self.keys):
            self.keys[i] = last
            self.pos[last] = i


@dataclass
class _Table:
    name: str
    key: str
    conn: psycopg.Connection
    pool: _KeyPool = field(default_factory=_KeyPool)


_KEYS = {"public.enterprise": "uscc", "public.inspection": "id", "public.certificate": "cert_no"}
_RETRIES = 3  # attempts per token when a sampled row has vanished under another writer


class ChangeGenerator:
    """Commits inserts, updates, deletes and district moves at `rate` changes per second.

    Keys to change are sampled from an in-memory pool loaded at start and kept in step with the
    generator's own inserts and deletes, so it never targets a row it deleted. Each change is its
    own transaction unless `changes_per_txn` > 1 (then progress counts may include up to that
    many uncommitted changes per database; the final counts are all committed). `stop()` may be
    called from any thread; a stopped generator stays stopped.
    """

    def __init__(
        self,
        settings: Settings,
        dept_ids: Sequence[str],
        *,
        rate: float,
        seed: int = 0,
        mix: Mapping[str, float] | None = None,
        changes_per_txn: int = 1,
    ) -> None:
        if not rate > 0:
            raise ConfigError(
                "--rate",
                "must be positive",
                expected="changes per second > 0",
                actual=str(rate),
                fix="pass a positive rate, e.g. --rate 200",
            )
        if changes_per_txn < 1:
            raise ConfigError(
                "changes_per_txn",
                "must be at least 1",
                expected=">= 1",
                actual=str(changes_per_txn),
                fix="pass 1 or more",
            )
        mix = dict(DEFAULT_MIX if mix is None else mix)
        if set(mix) - set(OPS) or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
            raise ConfigError(
                "change mix",
                "is not a weighting of change kinds",
                expected=f"non-negative weights over {', '.join(OPS)}, sum > 0",
                actual=repr(mix),
                fix="correct the mix",
            )
        self.settings = settings
        self.depts = [get_department(d) for d in dict.fromkeys(dept_ids)] or list(DEPARTMENTS)
        self.rate = float(rate)
        self.weights = [mix.get(op, 0.0) for op in OPS]
        self.changes_per_txn = changes_per_txn
        self.factory = RowFactory.for_settings(settings, seed=seed)
        self.rng = self.factory.rng
        self._stop = threading.Event()
        self._tables: list[_Table] = []
        self._stmts: dict[tuple[str, str, tuple[str, ...]], sql.Composed] = {}
        self._uncommitted: dict[psycopg.Connection, int] = {}

    def stop(self) -> None:
        """Ask a running `run()` to finish after its current change; safe from any thread."""
        self._stop.set()

    def run(
        self,
        duration: float | None = None,
        max_changes: int | None = None,
        progress: Callable[[ChangeCounts, float], None] | None = None,
        progress_interval: float = 1.0,
    ) -> ChangeCounts:
        """Generate until `duration` seconds, `max_changes` committed changes, or `stop()`."""
        counts = ChangeCounts()
        self._uncommitted = {}
        try:
            for dept in self.depts:
                conn = connect(self.settings, dept.database, autocommit=self.changes_per_txn == 1)
                self._uncommitted[conn] = 0
                require_tables(conn, self.settings, dept.database, dept.tables, dept.id)
                for table in dept.tables:
                    self._tables.append(self._load(_Table(table, _KEYS[table], conn)))
            start = last = time.monotonic()
            tokens, burst = 1.0, max(1.0, self.rate * 0.25)
            next_report = start + progress_interval
            while not self._stop.is_set():
                now = time.monotonic()
                if duration is not None and now - start >= duration:
                    break
                if max_changes is not None and counts.total >= max_changes:
                    break
                if progress is not None and now >= next_report:
                    progress(copy.deepcopy(counts), now - start)
                    while next_report <= now:
                        next_report += progress_interval
                tokens, last = min(burst, tokens + (now - last) * self.rate), now
                if tokens < 1:
                    wait = min((1 - tokens) / self.rate, 0.05)
                    if duration is not None:
                        wait = min(wait, max(0.0, start + duration - now))
                    time.sleep(wait)
                    continue
                tokens -= 1
                self._one_change(counts)
            for conn in self._uncommitted:
                conn.commit()
            counts.elapsed = time.monotonic() - start
            return counts
        finally:
            for conn in self._uncommitted:
                conn.close()  # uncommitted changes of a failed run roll back
            self._tables = []

    # --- internals ------------------------------------------------------------------------
    def _load(self, t: _Table) -> _Table:
        stmt = sql.SQL("SELECT {}, district_code FROM {}").format(
            sql.Identifier(t.key), sql.Identifier(*t.name.split("."))
        )
        for key, code in t.conn.execute(stmt):
            t.pool.add(key, code)
        t.conn.commit()
        return t

    def _one_change(self, counts: ChangeCounts) -> None:
        t = self.rng.choice(self._tables)
        for _ in range(_RETRIES):
            op = self.rng.choices(OPS, self.weights)[0]
            if op != "insert" and not t.pool.keys:
                op = "insert"
            if op == "move" and len(self.factory.districts) < 2:
                op = "update"
            if getattr(self, "_" + op)(t, datetime.now(UTC)):
                counts.add(t.name, op)
                self._uncommitted[t.conn] += 1
                if self._uncommitted[t.conn] >= self.changes_per_txn:
                    t.conn.commit()  # no-op in autocommit
                    self._uncommitted[t.conn] = 0
                return

    def _stmt(self, kind: str, t: _Table, cols: tuple[str, ...]) -> sql.Composed:
        cache_key = (kind, t.name, cols)
        if (stmt := self._stmts.get(cache_key)) is None:
            stmt = self._stmts[cache_key] = row_statement(kind, t.name, t.key, cols)
        return stmt

    def _insert(self, t: _Table, now: datetime) -> bool:
        f = self.factory
        if t.name == "public.enterprise":
            row = f.enterprise(now) | {"established_on": now.date(), "created_at": now, "updated_at": now}
        elif t.name == "public.inspection":
            owners = next((o.pool for o in self._tables if o.name == "public.enterprise"), None)
            if owners is not None and owners.keys:
                uscc = self.rng.choice(owners.keys)
                code = owners.district[uscc]
            else:
                code = f.district().code
                uscc = f.usci(code)
            row = f.inspection(uscc, code, now) | {"inspected_at": now}
        else:
            # A random number: one already taken makes the insert a no-op, retried by the caller.
            seq = 1 + self.rng.randrange(CERT_SEQ_MAX)
            row = f.certificate(seq, now)
            district = f.by_code[row["district_code"]]
            row |= {
                "cert_no": f.cert_no(now.year, district, seq),
                "registered_on": now.date(),
                "updated_at": now,
            }
        cols = tuple(row)
        got = t.conn.execute(self._stmt("insert", t, cols), tuple(row.values())).fetchone()
        if got is None:
            return False
        t.pool.add(got[0], row["district_code"])
        return True

    def _apply(self, t: _Table, key: Any, values: Mapping[str, Any]) -> bool:
        cols = tuple(values)
        cur = t.conn.execute(self._stmt("update", t, cols), (*values.values(), key))
        if cur.rowcount != 1:
            t.pool.remove(key)  # deleted by another writer
            return False
        return True

    def _update(self, t: _Table, now: datetime) -> bool:
        f, key = self.factory, self.rng.choice(t.pool.keys)
        values: dict[str, Any]
        if t.name == "public.enterprise":
            fields = self.rng.sample(
                ("phone", "status", "address", "reg_capital"), self.rng.choice((1, 1, 2))
            )
            district = f.by_code.get(t.pool.district[key]) or f.district()
            makers: dict[str, Callable[[], Any]] = {
                "phone": f.phone,
                "status": f.status,
                "reg_capital": f.reg_capital,
                "address": lambda: f.address(district),
            }
            values = {name: makers[name]() for name in sorted(fields)} | {"updated_at": now}
        elif t.name == "public.inspection":
            values = {"finding": self.rng.choice(FINDINGS)}
        else:
            kind = self.rng.choice(("transfer", "area", "use"))
            if kind == "transfer":
                values = {"owner_name": f.person_name(), "owner_id": f.resident_id()}
            elif kind == "area":
                values = {"area_m2": f.area_and_use()[1]}
            else:
                values = {"use": f.area_and_use()[0]}
            values["updated_at"] = now
        return self._apply(t, key, values)

    def _move(self, t: _Table, now: datetime) -> bool:
        key = self.rng.choice(t.pool.keys)
        district = self.factory.district(other_than=t.pool.district[key])
        values: dict[str, Any] = {"district_code": district.code}
        if t.name == "public.enterprise":
            values["address"] = self.factory.address(district)
        if t.name != "public.inspection":
            values["updated_at"] = now
        if not self._apply(t, key, values):
            return False
        t.pool.add(key, district.code)
        return True

    def _delete(self, t: _Table, now: datetime) -> bool:
        key = self.rng.choice(t.pool.keys)
        cur = t.conn.execute(self._stmt("delete", t, ()), (key,))
        t.pool.remove(key)
        return cur.rowcount == 1
