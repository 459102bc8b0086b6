"""A follower's look at the catalog in force: the topic is read again only when it grew."""

from __future__ import annotations

from typing import Any

import pytest

from sharebus.apps.district import live
from sharebus.catalog.models import Catalog
from sharebus.core.settings import Settings


def test_the_catalog_topic_is_read_again_only_when_it_grew(
    monkeypatch: pytest.MonkeyPatch, chongqing_catalog: Catalog
) -> None:
    ends = iter([5, 5, 5, 6, 6])
    reads: list[int] = []

    class Consumer:
        def __init__(self, conf: Any) -> None: ...

        def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
            return 0, next(ends)

        def close(self) -> None: ...

    def latest(settings: Settings) -> None:
        reads.append(1)
        return None  # nothing published: the local folder

    monkeypatch.setattr(live, "Consumer", Consumer)
    monkeypatch.setattr(live, "consumer_config", lambda *args: {})
    monkeypatch.setattr(live, "latest_catalog", latest)
    monkeypatch.setattr(live, "load_catalog", lambda folder: chongqing_catalog)
    policy = live.LivePolicy(Settings(_env_file=None))  # type: ignore[call-arg]
    assert policy.catalog() == (chongqing_catalog, True)
    assert policy.catalog() == (chongqing_catalog, False)
    assert policy.catalog() == (chongqing_catalog, False)
    assert len(reads) == 1  # looked at the end offset, did not read the topic
    assert policy.catalog() == (chongqing_catalog, False)  # grew: read again, the same version
    assert len(reads) == 2
    policy.catalog()
    assert len(reads) == 2
    policy.close()
