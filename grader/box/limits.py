"""What a step may use, as one record (`LIMITS`), and the one function that sets its per-process part."""

from __future__ import annotations

import resource
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """A step's limits. The per-process ones are resource limits (`apply_limits`); `step_memory`, `processes`
    and `cpus` hold for all of a step's processes together, through its slot's cgroups (`cgroups.make_cgroups`),
    and `processes` per uid where there are none."""

    memory: int = 2 * 1024**3  # address space per process: an 8 GB allocation fails, Python with the SDK fits
    # A guide's code test, where no memory cgroup caps it (the weaker boxes without cgroups): a JVM reserves its heap,
    # 1 GB of class space and its code cache up front, and fits in 4 GB. With a memory cgroup, it has no such limit:
    # the cgroup caps what its processes use (`address_space`).
    command_memory: int = 4 * 1024**3
    step_memory: int = 1536 * 1024**2  # all of a step's processes together (a memory cgroup, where there is one)
    processes: int = 64  # per sandbox uid: a fork bomb stops here
    file_size: int = 8 * 1024**2  # no file (stdout included) grows past 8 MB
    open_files: int = 256
    cpus: float = 1.0  # CPU time a step may use, in CPUs, however many processes it starts (a cpu cgroup)
    cpu_grace: int = 2  # CPU seconds past the step's own time limit before the kernel stops it


LIMITS = Limits()


def address_space(limits: Limits, *, command: bool, memory_capped: bool) -> int:
    """The address space each process may reserve: a lesson's step `limits.memory`; a guide's code test (a JVM, Node,
    Ruby: runtimes that reserve far more than they use) none where a memory cgroup caps the step
    (`memory_capped`), else `limits.command_memory`."""
    if not command:
        return limits.memory
    return resource.RLIM_INFINITY if memory_capped else limits.command_memory


def apply_limits(limits: Limits, timeout: float, *, per_uid_processes: bool, memory: int | None = None) -> None:
    """Set this process's resource limits (its children inherit them): CPU time, address space (`memory`, else
    `limits.memory`), file size, open files, no core files; and, with `per_uid_processes` (no pids cgroup), the
    uid's number of processes."""
    cpu = int(timeout) + limits.cpu_grace
    memory = limits.memory if memory is None else memory
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and (memory == resource.RLIM_INFINITY or memory > hard):
        memory = hard  # a limit set above the grader's own cannot be raised: that one holds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if per_uid_processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
