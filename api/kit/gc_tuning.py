"""Garbage-collector settings for a long-running API process.

CPython's cyclic collector pauses the thread that triggers it while it walks the objects of
the generations it collects. Two settings keep those pauses short and rare in a server:

- Everything built at startup (modules, routes, models, schemas: ~150,000 objects in the API)
  is frozen, so full collections never walk it again (measured: 155 ms per full collection
  before, the event loop serving nobody meanwhile).
- The youngest generation is collected every 10,000 net allocations instead of 700. What a
  request makes is freed by reference counting when it ends, or still in use by a request in
  flight: traced with ``gc.callbacks`` under a 10-second listing load, 640 collections ran
  (4 of them full, 34-62 ms each) and nearly all found nothing to free.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 10_000


def tune_for_serving() -> None:
    """Call once, when startup is done: freeze what exists, collect the young less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
