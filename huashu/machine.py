"""What machine a figure was measured on: every report (base, train, eval, bench) records this."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """CPU model, core count, load average, Python and platform; torch version and threads when
    torch is already imported (never imports it: the server and bench stay light)."""
    cpu = platform.processor() or platform.machine() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15min": (
            [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def describe(info: dict[str, Any]) -> str:
    """One line for a report: ``CPU (2 cores, torch 2.13.0+cpu, 2 threads)``; a report made without
    loading torch says so instead of failing on the missing facts."""
    torch = (f"torch {info['torch']}, {info.get('torch_threads', '?')} threads" if "torch" in info
             else "torch not used")
    return f"{info.get('cpu', 'unknown CPU')} ({info.get('cores', '?')} cores, {torch})"
