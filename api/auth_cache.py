"""A short-lived, per-process cache of authorization decisions (token + organization → Tenant).

Resolving a caller costs two database reads and a thread-pool hop per request; under load
that is most of a small endpoint's cost. A decision is reused for at most ``ttl_seconds``.
Changes made through this process (role change, member removal, API key revocation) clear
the cache at once; other API processes see them within ``ttl_seconds``.
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
        self._entries: OrderedDict[tuple, tuple[Value, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Value | None:
        if self.ttl_seconds <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[0]

    def put(self, key: tuple, value: Value) -> None:
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (value, time.monotonic() + self.ttl_seconds)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
