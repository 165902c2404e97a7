"""Building the box around a freshly forked child, before any learner code: `enter(job)`, which ends in the step
itself, ready for `runpy` (the warm engine) or `execv` of a new interpreter (plain).

With root (the usual grading machine, and CI):
- new mount, network, IPC, UTS and PID namespaces (the PID and network ones made once per worker slot
  by its namespace host, `host`, nothing of a step outliving it); the child `chroot`s into a root holding only the
  system folders and Python (read-only), the `course` package without its lessons, checks and questions
  (read-only), a private /tmp, and its own fresh copy of the submission (the one writable place): `mounts`;
  a guide's code test also gets a /proc of its own PID namespace (`mounts.mount_proc`), which runtimes need;
- its network namespace has only loopback, where a forwarder reaches the offline API through a Unix
  socket: no other address, loopback services included, can be reached (`relay`);
- resource limits (memory, processes, file size, CPU, open files: `limits`) and a uid of its own per worker
  slot, so it can signal none of the grader's processes and a fork bomb stops at the limit.
Without root, only the limits, a process group and the fresh copy apply (see docs/instructors/the-box.md), with Landlock where the
kernel has it (`weak_box`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from . import syscalls
from .cgroups import caps_memory, in_cgroups, join_cgroups
from .job import Job
from .kernel import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUTS, check, libc
from .limits import LIMITS, address_space, apply_limits
from .mounts import apply_mounts, box_mounts, mount_proc
from .pid_namespace import enter_pid_namespace
from .privileges import become_uid, join_fresh_keyring, no_new_privs, undumpable
from .relay import forward, listen_on_loopback, loopback_up
from .weak_box import step_rules

SETUP_FAILED = 97  # the exit status of a step whose box could not be built; its stderr says why


def enter(job: Job, *, hosted: bool = False, in_session: bool = False) -> bool:
    """Put this (forked, not yet exec'd) process into the box described by `job`, and return in the process
    that runs the step, as the step's uid, under its limits, keyring and syscall filter.

    With the full box, the step runs in a PID namespace where it sees only itself, its children and pid 1
    (root, which it cannot signal), and True is returned (in the step), which may exec. `hosted`: this process
    comes from the slot's namespace host (`host`), which is that pid 1 and relays the loopback of the network
    namespace it made: this process adds mount, IPC and UTS namespaces. Otherwise this process makes them all,
    and its grandchild is the step: it stays behind to forward the loopback and wait, and its child is the
    namespace's init. Without a box or a PID namespace, False: the loopback forwarder, if any, is a thread of
    the returning process, which must not exec.

    `in_session`: this process is already in a session of its own, whose leader copies its output
    (`streams.open_streams`), and stays there.

    Never returns on failure: a box that cannot be built must not run learner code, so it exits with 97."""
    try:
        if not in_session:
            os.setsid()
        box = job.confinement
        try:  # a step out of memory is stopped before the zygote it shares its cgroup with (see engine.py)
            Path("/proc/self/oom_score_adj").write_text("1000")
        except OSError:
            pass
        if box.cgroups and not in_cgroups(box.cgroups):  # before anything else, so every process of the step is in it
            join_cgroups(os.getpid(), box.cgroups)  # (a zygote that joined its slot's cgroups forks into them)
        rules = syscalls.prepare() if box.seccomp else None  # built before the chroot hides the binding; loaded last
        # Read before the chroot hides the cgroups: a guide's code test has no address-space limit under a memory cap.
        capped = bool(job.command) and caps_memory(box.cgroups)
        memory = address_space(LIMITS, command=bool(job.command), memory_capped=capped)
        listener = None
        if box.isolate:
            check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (0 if hosted else CLONE_NEWNET)), "unshare")
            apply_mounts(box_mounts(job), job.root)
            os.chroot(job.root)
            if not hosted:
                loopback_up()
                listener = listen_on_loopback(job.port)
        os.chdir(job.work)
        if listener is not None:  # this process forwards the step's loopback to its channel
            threading.Thread(target=forward, args=(listener, job.uds), daemon=True).start()
        in_pid_namespace = hosted
        if box.isolate and box.pid_namespace and not hosted:
            enter_pid_namespace(listener)
            in_pid_namespace = True
        if job.command and box.isolate and in_pid_namespace:  # a /proc of its own namespace only (runtimes need one)
            mount_proc()
        _become_the_step(job, memory)
        if rules is not None:
            rules.load()
        os.environ.clear()
        os.environ.update(job.env)
        return in_pid_namespace
    except BaseException as exc:  # noqa: BLE001 - the reason goes to the step's stderr, then out
        try:
            os.write(2, f"the grading sandbox could not be set up: {exc}\n".encode())
        finally:
            os._exit(SETUP_FAILED)


def _become_the_step(job: Job, memory: int) -> None:
    """A fresh keyring, the limits (`memory`: its address space), the slot's uid (or, as the grader's own user,
    undumpable), no new privileges; in the weaker boxes a private umask and Landlock's rules."""
    box = job.confinement
    join_fresh_keyring()
    as_root = box.uid is not None and os.geteuid() == 0
    apply_limits(LIMITS, job.timeout, per_uid_processes=as_root and not box.cgroups,  # no pids cgroup: per uid
                 memory=memory)
    if as_root and box.uid is not None:
        become_uid(box.uid)
    elif not box.isolate:
        # As the grader's own user: another step of that user may not read this one's memory, descriptors or
        # environment through /proc (its channel's address is there).
        undumpable()
    no_new_privs()
    if not box.isolate:
        os.umask(0o077)  # what it writes in shared places (/tmp) is its uid's alone
        if box.landlock:
            step_rules(job).apply()
