"""How many threads torch computes with on the CPU: the physical cores this process may use.

Hyper-threads share a core's vector units, so a second thread per core only adds contention; a container's CPU
set (affinity) and its cgroup quota bound what the process really gets, where torch's own default sees the whole
host. `OMP_NUM_THREADS` set by the user wins, as does the settings' `cpu_threads`.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

SYS = Path("/sys")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def available_cores(sys_root: Path = SYS, allowed: set[int] | None = None) -> int:
    """Physical cores among the CPUs this process may run on, bounded by a cgroup v2 CPU quota."""
    if allowed is None:
        try:
            allowed = set(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            allowed = set(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:  # 1. one per (package, core): hyper-threads count once
        topology = sys_root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology"
        package, core = _read(topology / "physical_package_id"), _read(topology / "core_id")
        if package is None or core is None:
            cores = {(str(c), "") for c in allowed}  # no topology (not Linux): logical CPUs
            break
        cores.add((package, core))
    count = max(1, len(cores))
    quota = _read(sys_root / "fs" / "cgroup" / "cpu.max")  # 2. "max 100000" or "200000 100000" (2 CPUs)
    if quota and not quota.startswith("max"):
        try:
            limit, period = (int(v) for v in quota.split()[:2])
            count = min(count, max(1, math.ceil(limit / period)))
        except ValueError:
            pass
    return count


def configure_threads(requested: int = 0) -> int:
    """Set torch's intra-op threads (0: available_cores); OMP_NUM_THREADS, when set, is left alone."""
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return int(torch.get_num_threads())
    wanted = requested if requested > 0 else available_cores()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
        log.info("torch computes with %d CPU threads", wanted)
    return wanted
