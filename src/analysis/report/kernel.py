"""The launcher of the pack's kernels: ipykernel, killed when the process that started it
exits (see :mod:`analysis.report.processes`; used through ``kernels/python3/kernel.json``).

Like ``ipykernel_launcher`` it removes the working folder from ``sys.path`` before it
imports anything (the kernel adds it back).
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    from analysis.report.processes import die_with_parent

    die_with_parent(int(os.environ.get("JPY_PARENT_PID") or 0) or None)

    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
