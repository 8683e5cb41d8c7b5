"""How the runtime's CPU threads wait, set before PyTorch loads.

PyTorch's CPU build runs its kernels on OpenMP threads that, by default, spin while they
wait for work. On a machine that is busy with anything else (Blender's UI, a farm node's other
jobs, a second generation) the spinning threads steal the cores the working ones need: the
same 10-minute CLI run measured 12.9 s quiet and 90-290 s loaded (issue #14); 2 minutes of
dialogue here took 23-37 s spinning and 5-6 s waiting passively, with identical output.
OpenMP reads the policy once, when PyTorch's library loads, so the entry points call this
before anything imports torch. A value the user set is kept.
"""
from __future__ import annotations

import os
import sys


def prefer_passive_waiting() -> bool:
    """Ask OpenMP threads to sleep, not spin, while they wait (OMP_WAIT_POLICY=PASSIVE).
    Returns False when it is too late (PyTorch already loaded) or the user chose a policy."""
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
