"""A slot's cgroups (v1 or v2): memory, pids and cpu, limiting all of a step's processes together."""

from __future__ import annotations

from pathlib import Path

from .limits import LIMITS, Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")


def make_cgroups(name: str, limits: Limits = LIMITS) -> list[str]:
    """Per-slot memory, pids and cpu cgroups (v1 or v2), limiting the whole step, not each process: at most
    1.5 GB, 64 processes and one CPU's time, however many processes or sessions the step starts.
    Returns the cgroup folders made; none where the machine does not let us (limits then per process)."""
    period = 100_000
    quota = int(period * limits.cpus)
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2: one folder holds every controller
        base = CGROUP_ROOT / "course-grader"
        try:
            base.mkdir(exist_ok=True)
            for parent in (CGROUP_ROOT, base):
                try:
                    (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                except OSError:
                    pass
            folder = base / name
            folder.mkdir(exist_ok=True)
            for file, value in (("memory.max", str(limits.step_memory)), ("pids.max", str(limits.processes)),
                                ("cpu.max", f"{quota} {period}")):
                try:
                    (folder / file).write_text(value)
                except OSError:
                    continue
            return [str(folder)]
        except OSError:
            return []
    made = []
    for controller, settings in (("memory", {"memory.limit_in_bytes": str(limits.step_memory)}),
                                 ("pids", {"pids.max": str(limits.processes)}),
                                 ("cpu", {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": str(quota)})):
        folder = CGROUP_ROOT / controller / "course-grader" / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for file, value in settings.items():
                (folder / file).write_text(value)
            made.append(str(folder))
        except OSError:
            continue
    return made


def caps_memory(cgroups: list[str] | tuple[str, ...]) -> bool:
    """Whether one of the cgroup folders `cgroups` caps its processes' memory (v2's memory.max, v1's limit)."""
    for folder in cgroups:
        for name in ("memory.max", "memory.limit_in_bytes"):
            try:
                value = Path(folder, name).read_text().strip()
            except OSError:
                continue
            if value.isdigit() and int(value) < 2**62:  # "max", or v1's page-rounded 2**63: no cap
                return True
    return False


def cgroup_pids(folders: list[str] | tuple[str, ...]) -> set[int]:
    pids: set[int] = set()
    for folder in folders:
        try:
            pids.update(int(x) for x in Path(folder, "cgroup.procs").read_text().split())
        except (OSError, ValueError):
            pass
    return pids


def in_cgroups(cgroups: list[str] | tuple[str, ...], pid: str = "self") -> bool:
    """Whether process `pid` is in every one of the cgroup folders `cgroups` already (v1 or v2)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return False
    places = set()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            places.add((controller, path))
    for folder in cgroups:
        relative = Path(folder).relative_to(CGROUP_ROOT).parts
        v1 = relative and relative[0] in {c for c, _ in places if c}
        controller, path = (relative[0], "/" + "/".join(relative[1:])) if v1 else ("", "/" + "/".join(relative))
        if not any(path == p and (c == controller or (v1 and controller in c.split(","))) for c, p in places):
            return False
    return True


def join_cgroups(pid: int, cgroups: list[str] | tuple[str, ...]) -> None:
    """Put process `pid` (and its future children) into the cgroup folders `cgroups`."""
    for folder in cgroups:
        Path(folder, "cgroup.procs").write_text(str(pid))


def pids_counted(cgroups: list[str] | tuple[str, ...]) -> Path | None:
    """The pids cgroup's count of its processes, zombies included until they are reaped; None without one."""
    for folder in cgroups:
        counted = Path(folder, "pids.current")
        if counted.exists():
            return counted
    return None
