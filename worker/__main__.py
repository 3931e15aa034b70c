"""``python -m worker --queues gpu.any,cpu [--name gpu0]``: one worker process.

Run one per GPU (``CUDA_VISIBLE_DEVICES=N``), each on the queues of its GPU kind
(``gpu.h100``, ``gpu.any``), and CPU workers on ``cpu``. Settings come from ``HATCHERY_*``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__.splitlines()[0])
    parser.add_argument("--queues", default="gpu.any",
                        help="comma-separated queues, e.g. gpu.h100,gpu.any")
    parser.add_argument("--name", default="", help="worker name (host is appended)")
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--quiet", action="store_true",
                        help="no start-up banner, no warning about running as root (the "
                             "embedded platform on one's own machine)")
    args = parser.parse_args()
    queues = [queue.strip() for queue in args.queues.split(",") if queue.strip()]
    name = args.name or "+".join(queues)
    if "@" not in name:
        name = f"{name}@{socket.gethostname()}"
    # The settings (read once, from the environment) must see the command line.
    os.environ["HATCHERY_WORKER_QUEUES"] = json.dumps(queues)
    os.environ["HATCHERY_WORKER_NAME"] = name

    from worker.app import app

    options = ["worker", "--pool=solo", "--concurrency=1", "--prefetch-multiplier=1",
               "-Q", ",".join(queues), "-n", name, f"--loglevel={args.loglevel}",
               "--without-gossip", "--without-mingle", "-E"]
    if args.quiet:
        from celery.exceptions import SecurityWarning

        warnings.filterwarnings("ignore", category=SecurityWarning)
        options.insert(0, "--quiet")  # a global option: before the sub-command
    app.worker_main(options)


if __name__ == "__main__":
    main()
