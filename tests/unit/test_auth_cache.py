"""The per-process cache of authorization decisions: bounded life, renewed ahead by one caller."""

from __future__ import annotations

import pytest

from api.kit import auth_cache
from api.kit.auth_cache import AuthCache


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(auth_cache.time, "monotonic", lambda: now[0])
    return now


def test_one_caller_renews_in_the_second_half_while_the_others_keep_the_entry(clock):
    cache = AuthCache(ttl_seconds=4.0)
    cache.put(("token", None), "tenant")
    clock[0] += 1.0
    assert cache.get(("token", None)) == "tenant"
    clock[0] += 1.5  # past half of its life
    assert cache.get(("token", None)) is None  # this caller resolves again
    assert [cache.get(("token", None)) for _ in range(3)] == ["tenant"] * 3
    cache.put(("token", None), "renewed")
    clock[0] += 1.9
    assert cache.get(("token", None)) == "renewed"


def test_a_decision_is_never_served_past_its_life(clock):
    cache = AuthCache(ttl_seconds=4.0)
    cache.put(("token", None), "tenant")
    clock[0] += 2.5
    assert cache.get(("token", None)) is None  # the renewing caller never puts (it failed)
    assert cache.get(("token", None)) == "tenant"
    clock[0] += 1.5
    assert cache.get(("token", None)) is None
    assert cache.get(("token", None)) is None


def test_clear_and_disabled():
    cache = AuthCache(ttl_seconds=4.0)
    cache.put(("a",), 1)
    cache.clear()
    assert cache.get(("a",)) is None
    off = AuthCache(ttl_seconds=0)
    off.put(("a",), 1)
    assert off.get(("a",)) is None
