"""A process that must not outlive the one that started it (Linux: PR_SET_PDEATHSIG).

Job processes call ``die_with_parent()`` first thing: when their worker dies, even by
``kill -9``, the kernel kills them too, and under torchrun the chain holds rank by rank
(each rank dies with torchrun, torchrun with the worker). Elsewhere it does nothing and the
process's own parent check (worker/channel.py) stops it at its next step.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the line above: leave now
        os._exit(1)
