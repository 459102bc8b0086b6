"""Garbage collection held off while a catalog is made: nested pauses, and the freeze after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sharebus.core.gcpause import collections_deferred, collections_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_only_the_outermost_pause_turns_collection_back_on() -> None:
    gc.enable()
    with collections_paused():
        with collections_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_leaves_collection_off_when_it_was_off() -> None:
    gc.disable()
    with collections_paused():
        pass
    assert not gc.isenabled()


def test_collection_comes_back_after_a_failure() -> None:
    gc.enable()
    with pytest.raises(ValueError), collections_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_deferred_freezes_what_was_made() -> None:
    gc.enable()
    with collections_deferred():
        made = [[i] for i in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() >= len(made)


def test_the_decorated_form_pauses_each_call() -> None:
    gc.enable()

    @collections_paused()
    def inside() -> bool:
        return gc.isenabled()

    assert inside() is False and inside() is False and gc.isenabled()


def test_deferred_freezes_before_collection_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Else the first collection after it walks the millions of objects of the new version."""

    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "enable", lambda: calls.append("enable"))
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    monkeypatch.setattr(gc, "isenabled", lambda: True)
    with collections_deferred():
        calls.append("work")
    assert calls == ["disable", "work", "freeze", "enable"]
