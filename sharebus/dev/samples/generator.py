"""Realistic sample rows, bulk seeding, and the paced change generator that drives CDC load."""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from sharebus.core.errors import ConfigError
from sharebus.core.gbcodes import USCI_ALPHABET, resident_id_check_char, usci_check_char
from sharebus.core.settings import Settings
from sharebus.dev.samples.database import connect, copy_rows, require_tables, row_statement
from sharebus.dev.samples.departments import (
    DEPARTMENTS,
    District,
    districts_csv,
    get_department,
    load_districts,
)

CITY_NAMES_ZH = {"chongqing": "重庆", "zhuzhou": "株洲"}
PROVINCE_SHORT = {"chongqing": "渝", "zhuzhou": "湘"}
SEED_BATCH = 1000
OPS = ("insert", "update", "delete", "move")
DEFAULT_MIX: Mapping[str, float] = {"insert": 0.25, "update": 0.5, "delete": 0.1, "move": 0.15}
Progress = Callable[[int, int], None]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀兰霞平刚桂英华玉萍红娥玲文辉建国志斌鑫宇浩然欣怡子轩"
_BRANDS = (
    "华信",
    "长江",
    "金桥",
    "鼎盛",
    "宏远",
    "新天",
    "恒通",
    "瑞丰",
    "嘉禾",
    "博雅",
    "万达",
    "中联",
    "天成",
    "锦程",
    "盛世",
    "蓝海",
    "云帆",
    "汇通",
    "永鑫",
    "佳和",
    "巴渝",
    "湘江",
)
_INDUSTRIES = (
    "科技",
    "商贸",
    "建筑工程",
    "餐饮管理",
    "物流",
    "文化传媒",
    "农业开发",
    "医药",
    "机械制造",
    "环保科技",
    "信息技术",
    "房地产开发",
    "食品",
    "电子商务",
    "汽车销售",
)
_SUFFIXES = ("有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司")
_ROADS = (
    "人民路",
    "解放路",
    "建设大道",
    "滨江路",
    "中山路",
    "新华路",
    "学府大道",
    "长江路",
    "迎宾大道",
    "工业园路",
    "文化路",
    "朝阳路",
    "团结路",
    "花园路",
    "胜利路",
    "和平路",
)
_FINDINGS = (
    "未发现问题",
    "责令限期整改",
    "营业执照未公示",
    "食品经营许可证过期",
    "消防通道堵塞",
    "价格标签不规范",
    "广告用语违规",
    "账簿记录不完整",
    "已立案调查",
    "整改完成",
)
_STATUSES = ("active", "suspended", "revoked", "cancelled")
_STATUS_WEIGHTS = (85, 5, 4, 6)
_USES = ("residential", "commercial", "industrial", "office", "other")
_USE_WEIGHTS = (70, 12, 6, 8, 4)
_USE_AREA = {
    "residential": (35, 220),
    "commercial": (20, 2000),
    "industrial": (300, 50000),
    "office": (40, 3000),
    "other": (10, 800),
}
_PARCEL_FEATURES = ("GB", "GA", "JA", "JB", "JC", "GX")  # 宗地特征码 (land ownership + use)
CERT_SEQ_MAX = 9_999_999  # 第NNNNNNN号: seven digits
# Seeded inspection ids occupy the block [seed * SEED_ID_BLOCK + 1, (seed + 1) * SEED_ID_BLOCK]:
# different seeds never collide, the same seed re-inserts nothing.
SEED_ID_BLOCK = 1_000_000_000


class RowFactory:
    """Seeded factories of realistic rows; all codes carry valid check characters."""

    def __init__(
        self,
        districts: Sequence[District],
        *,
        city: str = "",
        city_name_zh: str | None = None,
        province_short: str | None = None,
        seed: int = 0,
        now: datetime | None = None,
    ) -> None:
        if not districts:
            raise ValueError("RowFactory needs at least one district")
        self.districts = tuple(districts)
        self.by_code = {d.code: d for d in self.districts}
        self.city_name_zh = CITY_NAMES_ZH.get(city, "") if city_name_zh is None else city_name_zh
        self.province_short = (
            PROVINCE_SHORT.get(city, self.city_name_zh) if province_short is None else province_short
        )
        self.rng = random.Random(seed)
        self.now = now or datetime.now(UTC)

    @classmethod
    def for_settings(cls, settings: Settings, *, seed: int = 0) -> RowFactory:
        return cls(load_districts(districts_csv(settings)), city=settings.city, seed=seed)

    # --- fields ---------------------------------------------------------------------------
    def district(self, other_than: str | None = None) -> District:
        """A random district; a different one from `other_than` when the city has two or more."""
        if other_than is None or len(self.districts) < 2:
            return self.rng.choice(self.districts)
        while (d := self.rng.choice(self.districts)).code == other_than:
            pass
        return d

    def person_name(self) -> str:
        return self.rng.choice(_SURNAMES) + "".join(
            self.rng.choices(_GIVEN, k=1 if self.rng.random() < 0.3 else 2)
        )

    def resident_id(self, district_code: str | None = None, *, born: date | None = None) -> str:
        """An 18-character GB 11643 number: district, birth date, sequence, check character."""
        code = district_code or self.district().code
        born = born or date(1950, 1, 1) + timedelta(days=self.rng.randrange(365 * 55))
        body = f"{code}{born:%Y%m%d}{self.rng.randrange(1000):03d}"
        return body + resident_id_check_char(body)

    def phone(self) -> str:
        return f"1{self.rng.choice('3456789')}{self.rng.randrange(10**9):09d}"

    def usci(self, district_code: str) -> str:
        """A GB 32100 code of an enterprise ('9' + '1') registered in `district_code`."""
        org = "".join(self.rng.choices(USCI_ALPHABET, k=9))
        body = f"91{district_code}{org}"
        return body + usci_check_char(body)

    def company_name(self) -> str:
        r = self.rng
        return f"{self.city_name_zh}{r.choice(_BRANDS)}{r.choice(_INDUSTRIES)}{r.choice(_SUFFIXES)}"

    def address(self, district: District) -> str:
        city = f"{self.city_name_zh}市" if self.city_name_zh else ""
        r = self.rng
        unit = f"{1 + r.randrange(30)}楼{1 + r.randrange(20)}号" if r.random() < 0.4 else ""
        return f"{city}{district.name}{r.choice(_ROADS)}{1 + r.randrange(999)}号{unit}"

    def reg_capital(self) -> Decimal:
        wan = self.rng.choice((1, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 5000))  # 万元
        return Decimal(wan * 10_000 + self.rng.choice((0, 0, 0, 5000))).quantize(Decimal("0.01"))

    def status(self) -> str:
        return self.rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]

    def parcel_no(self, district_code: str) -> str:
        """不动产单元号 prefix, 19 characters: district + cadastral zone (6) + feature (2) + 5."""
        r = self.rng
        zone = f"{1 + r.randrange(120):03d}{1 + r.randrange(60):03d}"
        return f"{district_code}{zone}{r.choice(_PARCEL_FEATURES)}{r.randrange(10**5):05d}"

    def cert_no(self, year: int, district: District, seq: int) -> str:
        return f"{self.province_short}({year}){district.name}不动产权第{seq:07d}号"

    def area_and_use(self) -> tuple[str, Decimal]:
        use = self.rng.choices(_USES, _USE_WEIGHTS)[0]
        lo, hi = _USE_AREA[use]
        cents = self.rng.randrange(lo * 100, hi * 100)
        return use, Decimal(cents).scaleb(-2)

    def _past(self, now: datetime, max_days: int) -> datetime:
        return now - timedelta(seconds=self.rng.randrange(max_days * 86400))

    # --- rows -----------------------------------------------------------------------------
    def enterprise(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or self.now
        d = self.district()
        created = self._past(now, 365 * 30)
        return {
            "uscc": self.usci(d.code),
            "name": self.company_name(),
            "legal_rep_name": self.person_name(),
            "legal_rep_id": self.resident_id(),
            "phone": self.phone() if self.rng.random() < 0.95 else None,
            "address": self.address(d),
            "district_code": d.code,
            "reg_capital": self.reg_capital(),
            "status": self.status(),
            "established_on": created.date(),
            "created_at": created,
            "updated_at": created + (now - created) * self.rng.random(),
        }

    def inspection(self, uscc: str, district_code: str, now: datetime | None = None) -> dict[str, Any]:
        return {
            "uscc": uscc,
            "district_code": district_code,
            "finding": self.rng.choice(_FINDINGS),
            "inspector": self.person_name(),
            "inspected_at": self._past(now or self.now, 365 * 3),
        }

    def certificate(self, seq: int, now: datetime | None = None) -> dict[str, Any]:
        now = now or self.now
        d = self.district()
        registered = self._past(now, 365 * 25)
        use, area = self.area_and_use()
        return {
            "cert_no": self.cert_no(registered.year, d, seq),
            "owner_name": self.person_name(),
            "owner_id": self.resident_id(),
            "parcel_no": self.parcel_no(d.code),
            "area_m2": area,
            "use": use,
            "district_code": d.code,
            "registered_on": registered.date(),
            "updated_at": registered + (now - registered) * self.rng.random(),
        }


ENTERPRISE_COLUMNS = (
    "uscc",
    "name",
    "legal_rep_name",
    "legal_rep_id",
    "phone",
    "address",
    "district_code",
    "reg_capital",
    "status",
    "established_on",
    "created_at",
    "updated_at",
)
INSPECTION_COLUMNS = ("uscc", "district_code", "finding", "inspector", "inspected_at")
CERTIFICATE_COLUMNS = (
    "cert_no",
    "owner_name",
    "owner_id",
    "parcel_no",
    "area_m2",
    "use",
    "district_code",
    "registered_on",
    "updated_at",
)


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
            values = {"finding": self.rng.choice(_FINDINGS)}
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
