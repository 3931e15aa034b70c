"""The peer of bench/queue_latency.py: a bare Celery app with one no-op task."""

import os

from celery import Celery

app = Celery("peer", broker=os.environ["BENCH_BROKER"], backend=os.environ["BENCH_BROKER"])
app.conf.worker_prefetch_multiplier = 1


@app.task(name="peer.noop")
def noop() -> None:
    return None
