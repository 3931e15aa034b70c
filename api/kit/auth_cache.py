"""A short-lived, per-process cache of authorization decisions (token + organization → Tenant).

Resolving a caller costs two database reads and a thread-pool hop per request; under load
that is most of a small endpoint's cost. A decision is reused for at most ``ttl_seconds``.
Changes made through this process (role change, member removal, API key revocation) clear
the cache at once; other API processes see them within ``ttl_seconds``.

Renewed ahead of expiry: in the second half of an entry's life, one caller is told to resolve
again (``get`` answers ``None`` to it once) while every other caller keeps the still-valid
entry. Without that, all requests in flight when a busy caller's entry expired would resolve
together, each waiting for a pool thread: a latency spike every ``ttl_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

Value = TypeVar("Value")


class AuthCache(Generic[Value]):
    def __init__(self, ttl_seconds: float = 5.0, capacity: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.capacity = capacity
        # key -> (decision, expiry, whether a caller is renewing it)
        self._entries: OrderedDict[tuple, tuple[Value, float, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Value | None:
        """The cached decision, or ``None``: resolve it (and ``put`` it)."""
        if self.ttl_seconds <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, expires_at, renewing = entry
            if expires_at <= now:
                del self._entries[key]
                return None
            if not renewing and now >= expires_at - self.ttl_seconds / 2:
                self._entries[key] = (value, expires_at, True)
                return None  # this caller renews it; the others keep using it meanwhile
            return value

    def put(self, key: tuple, value: Value) -> None:
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (value, time.monotonic() + self.ttl_seconds, False)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
