"""Timing helpers shared by the benchmarks: a competing CPU-bound process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time


@contextlib.contextmanager
def competing_process():
    """One CPU-bound process running alongside (the "busy machine" of the timing targets)."""
    proc = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    time.sleep(0.2)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()
