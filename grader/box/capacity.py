"""How many learners to grade at once: from the CPUs and memory this process may really use.

A container (Gradescope's, a CI job's) often sees the host's cores in `os.cpu_count()` but may use
only a share of them (a cgroup CPU quota) and a slice of its memory. Workers are sized from what
the cgroup allows: the CPU quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), the CPUs this
process may run on, and the memory limit (`memory.max`, v1 `memory.limit_in_bytes`) at about a
gigabyte per worker (a warm zygote, a step with the SDK imported, the offline API's share).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
MEMORY_PER_WORKER = 1024**3
NO_LIMIT = 1 << 60


def _own_cgroup() -> Path | None:
    """This process's cgroup v2 folder (in a container, usually the root of the cgroup namespace)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return CGROUP / line[3:].lstrip("/")
    except OSError:
        pass
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _folders(leaf: Path | None) -> list[Path]:
    """The cgroup folder and its parents up to the root: a limit anywhere above applies too."""
    out = []
    while leaf is not None and (leaf == CGROUP or CGROUP in leaf.parents):
        out.append(leaf)
        leaf = leaf.parent if leaf != CGROUP else None
    return out


def cpu_quota() -> float | None:
    """The CPUs' worth of time this process may use, when a cgroup caps it."""
    quotas = []
    for folder in _folders(_own_cgroup()):
        text = _read(folder / "cpu.max")
        if text and not text.startswith("max"):
            quota, _, period = text.partition(" ")
            quotas.append(int(quota) / int(period or 100000))
    quota_v1, period_v1 = _read(CGROUP / "cpu" / "cpu.cfs_quota_us"), _read(CGROUP / "cpu" / "cpu.cfs_period_us")
    if quota_v1 and period_v1 and int(quota_v1) > 0:
        quotas.append(int(quota_v1) / int(period_v1))
    return min(quotas) if quotas else None


def memory_limit() -> int | None:
    """The bytes this process's cgroup may use, when capped."""
    limits = []
    for folder in _folders(_own_cgroup()):
        text = _read(folder / "memory.max")
        if text and text.isdigit():
            limits.append(int(text))
    v1 = _read(CGROUP / "memory" / "memory.limit_in_bytes")
    if v1 and v1.isdigit() and int(v1) < NO_LIMIT:
        limits.append(int(v1))
    return min(limits) if limits else None


def usable_cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def default_workers() -> int:
    """One worker per usable CPU, as far as memory allows."""
    workers = usable_cpus()
    memory = memory_limit()
    if memory is not None:
        workers = min(workers, max(1, memory // MEMORY_PER_WORKER))
    return max(1, workers)
