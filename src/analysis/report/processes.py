"""Processes of a pack die with the report process.

The report process starts worker processes, the prepare and panel processes, a render
process and (through papermill, from a worker) one kernel per notebook. When the report
process is killed (``kill -9``, an out-of-memory kill, a scheduler's timeout), nothing
of this tree may go on running. Each child asks Linux for a parent-death signal
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``): when the process that started it exits, the
kernel kills it. Workers and the prepare, panel and render processes call
:func:`die_with_parent` first thing (the executors' initializer); kernels do so through
the pack's own kernel spec (``jupyter/kernels/python3``, found through ``JUPYTER_PATH``), whose
launcher :mod:`analysis.report.kernel` calls it before ipykernel starts. So a kill of the
report process takes the workers with it, and each worker's death takes its kernel.
multiprocessing's resource tracker then sees the last holder of its pipe close and exits.

Linux sends the signal when the *thread* that started the child exits: the pack starts its
processes from the main thread of the report process and of each worker (papermill starts
a kernel from the thread that runs the notebook), never from a short-lived thread.

Elsewhere than Linux there is no parent-death signal; ipykernel's own parent poller (it
exits within a second or so of its parent) is then the only safeguard for kernels.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
#: holds ``kernels/python3/kernel.json``, whose launcher dies with its parent; it shadows
#: the default ``python3`` kernel for the processes of a pack (notebooks keep saying python3)
KERNELS_DIR = Path(__file__).resolve().parent / "jupyter"


def die_with_parent(parent: int | None = None) -> None:
    """Have this process killed when its parent exits; exit now if ``parent`` (the pid
    that started this process) is already gone, since the signal would never come."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if parent is not None and os.getppid() != parent:
        os._exit(1)


@contextlib.contextmanager
def pack_kernels():
    """Kernels started from this process, and from the processes it starts meanwhile, use
    the pack's kernel spec (``JUPYTER_PATH`` is set while the context lasts)."""
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(KERNELS_DIR), saved) if p)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def child_initializer(parent: int, then: Callable[..., Any] | None = None,
                      *args: Any) -> None:
    """Initializer of a pack's executor processes: die with ``parent``, then ``then(*args)``."""
    die_with_parent(parent)
    if then is not None:
        then(*args)
