"""Realistic sample rows of the sample departments: every code with a valid check character."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sharebus.core.gbcodes import USCI_ALPHABET, resident_id_check_char, usci_check_char
from sharebus.core.settings import Settings
from sharebus.dev.samples.departments import (
    District,
    districts_csv,
    load_districts,
)

CITY_NAMES_ZH = {"chongqing": "重庆", "zhuzhou": "株洲"}
PROVINCE_SHORT = {"chongqing": "渝", "zhuzhou": "湘"}

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
FINDINGS = (
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
            "finding": self.rng.choice(FINDINGS),
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
