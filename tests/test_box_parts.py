"""The box's parts one at a time: the loopback forwarder's cap, cgroups v1 and v2, what the grader says
when a part is missing, the copy's bounds, and the question copies' answer order."""

from __future__ import annotations

import json
import os
import resource
import socket
import threading
import time
from pathlib import Path

import pytest

from grader.box import cgroups, probe
from grader.box.copying import TooBig, copy_tree, walk
from grader.box.limits import LIMITS
from grader.box.relay import FORWARDED_AT_ONCE, Relay, forward

REPO = Path(__file__).resolve().parent.parent


def test_the_forwarder_holds_at_most_so_many_connections(tmp_path: Path) -> None:
    upstream_path = str(tmp_path / "api.sock")
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    upstream.bind(upstream_path)
    upstream.listen(100)
    accepted: list[socket.socket] = []

    done = threading.Event()
    upstream.settimeout(0.1)

    def accept_all() -> None:
        while not done.is_set():
            try:
                accepted.append(upstream.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept_all, daemon=True)
    acceptor.start()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    threading.Thread(target=forward, args=(listener, upstream_path), daemon=True).start()
    clients = [socket.create_connection(listener.getsockname()) for _ in range(FORWARDED_AT_ONCE + 8)]
    time.sleep(0.5)
    assert len(accepted) == FORWARDED_AT_ONCE
    for c in clients:
        c.close()
    time.sleep(0.5)
    again = socket.create_connection(listener.getsockname())  # slots freed when connections end
    time.sleep(0.3)
    assert len(accepted) == FORWARDED_AT_ONCE + 1
    again.close()
    listener.close()
    done.set()
    acceptor.join()
    upstream.close()
    for conn in accepted:
        conn.close()


def test_the_hosts_relay_caps_connections_relays_both_ways_and_drops_them_when_the_step_ends(tmp_path: Path) -> None:
    """The relay of the slot's namespace host, in one thread: at most FORWARDED_AT_ONCE connections, bytes
    both ways (more than its buffer), a half-close passed on, and every connection closed by `drop_all`."""
    import selectors

    path = str(tmp_path / "api.sock")
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    upstream.bind(path)
    upstream.listen(100)
    upstream.settimeout(0.1)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:  # each connection: echo until the client half-closes, then say "bye" and close
        def echo(conn: socket.socket) -> None:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
                conn.sendall(b"bye")
            except OSError:  # the client went away first
                pass
            conn.close()

        while not done.is_set():
            try:
                conn = upstream.accept()[0]
            except TimeoutError:
                continue
            accepted.append(conn)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    selector = selectors.DefaultSelector()
    relay = Relay(selector, listener, path)

    calls: list = []  # run by the relay's own thread, as the host runs it

    def loop() -> None:
        while not done.is_set():
            for key, mask in selector.select(0.05):
                key.data.handle(key.fileobj, mask)
            while calls:
                calls.pop(0)()

    threads = [threading.Thread(target=serve, daemon=True), threading.Thread(target=loop, daemon=True)]
    for t in threads:
        t.start()
    clients: list[socket.socket] = []
    try:
        clients += [socket.create_connection(listener.getsockname()) for _ in range(FORWARDED_AT_ONCE + 4)]
        deadline = time.monotonic() + 10
        while len(accepted) < FORWARDED_AT_ONCE and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # time for any connection past the cap to be (wrongly) relayed too
        assert len(accepted) == FORWARDED_AT_ONCE
        big = os.urandom(3 * Relay.BUFFER)
        first = clients[0]
        first.settimeout(10)
        sender = threading.Thread(target=lambda: (first.sendall(big), first.shutdown(socket.SHUT_WR)))
        sender.start()
        back = bytearray()
        while chunk := first.recv(65536):
            back += chunk
        sender.join()
        assert bytes(back) == big + b"bye"  # every byte, in order, then the upstream's last word and its close
        for c in clients[FORWARDED_AT_ONCE:]:
            c.settimeout(1)
            try:
                assert c.recv(10) == b""  # over the cap: closed at once
            except ConnectionResetError:
                pass
        for c in clients[1:]:
            c.close()
        deadline = time.monotonic() + 10
        while relay.peer and time.monotonic() < deadline:  # each closed connection frees its place
            time.sleep(0.05)
        second = socket.create_connection(listener.getsockname())
        clients.append(second)
        second.settimeout(5)
        second.sendall(b"ping")
        assert second.recv(10) == b"ping"
        dropped = threading.Event()
        calls.append(lambda: (relay.drop_all(), dropped.set()))  # the step has ended
        assert dropped.wait(5)
        assert second.recv(10) == b""
        assert relay.peer == {} and relay.out == {}
    finally:
        for c in clients:
            c.close()
        done.set()
        for t in threads:
            t.join()
        relay.close_in_child()
        upstream.close()
        for conn in accepted:
            conn.close()


@pytest.mark.parametrize("version", [1, 2])
def test_a_slot_gets_memory_pids_and_cpu_cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    root = tmp_path / "cgroup"
    if version == 2:
        root.mkdir()
        (root / "cgroup.controllers").write_text("cpu memory pids\n")
    else:
        for controller in ("memory", "pids", "cpu"):
            (root / controller).mkdir(parents=True)
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", root)
    made = [Path(p) for p in cgroups.make_cgroups("uid-62000")]
    if version == 2:
        (folder,) = made
        assert (folder / "memory.max").read_text() == str(LIMITS.step_memory)
        assert (folder / "pids.max").read_text() == "64" and (folder / "cpu.max").read_text() == "100000 100000"
        assert "+cpu" in (root / "course-grader" / "cgroup.subtree_control").read_text()
    else:
        assert [p.parent.parent.name for p in made] == ["memory", "pids", "cpu"]
        assert (made[2] / "cpu.cfs_quota_us").read_text() == "100000"


def test_what_the_box_lacks_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "_BOX", None)
    monkeypatch.setattr(probe.os, "geteuid", lambda: 0)
    monkeypatch.setattr(probe, "_probe_namespaces", lambda: ("", "Operation not permitted"))
    monkeypatch.setattr("grader.box.syscalls.available", lambda: (False, "no system call filter here (OSError: libseccomp.so.2)"))
    found = probe.box()
    assert found.full and not found.pid_namespace and not found.seccomp
    assert any("no PID namespace here" in n for n in found.notes) and any("no system call filter" in n for n in found.notes)
    monkeypatch.setattr(probe, "_BOX", None)
    monkeypatch.setattr(probe, "_probe_namespaces", lambda: ("unshare: Operation not permitted", ""))
    found = probe.box()
    assert not found.full and "CAP_SYS_ADMIN" in found.notes[0] and "weaker box" in found.notes[0]
    monkeypatch.setattr(probe, "_BOX", None)


def test_a_copy_never_follows_a_link_nor_opens_a_fifo(tmp_path: Path) -> None:
    source, target = tmp_path / "in", tmp_path / "out"
    (source / "sub").mkdir(parents=True)
    (source / "imageGen.py").write_text("x = 1\n")
    (source / "sub" / "notes.txt").write_text("hello")
    (source / "keys").symlink_to(REPO / "solutions")
    (source / "zero").symlink_to("/dev/zero")
    os.mkfifo(source / "pipe")
    target.mkdir()
    copy_tree(source, target)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == ["imageGen.py", "sub", "sub/notes.txt"]


def test_a_copy_past_its_bounds_says_why(tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for i in range(30):
        (many / f"{i}.txt").write_text("x")
    with pytest.raises(TooBig, match="more than 20 files"):
        walk(many, max_files=20)
    big = tmp_path / "big"
    big.mkdir()
    (big / "blob.bin").write_bytes(b"x" * 4096)
    (tmp_path / "target").mkdir()
    with pytest.raises(TooBig, match="more than the 0 MB"):
        copy_tree(big, tmp_path / "target", max_bytes=1024)


def test_question_copies_keep_an_order_that_says_nothing() -> None:
    """The keys list the right options first; the learners' copies do not, and the self-check still works."""
    from course.lesson.questions import check, load_questions

    keys = load_questions(REPO / "solutions" / "assessments")
    copies = load_questions(REPO / "course" / "content" / "assessments")
    for task_id, key in keys.items():
        raw_key = json.loads((REPO / "solutions" / "assessments" / f"{task_id}.json").read_text())
        raw_copy = json.loads((REPO / "course" / "content" / "assessments" / f"{task_id}.json").read_text())
        assert [a["_id"] for a in raw_copy["source"]["answers"]] != [a["_id"] for a in raw_key["source"]["answers"]]
        assert check(copies[task_id], sorted(key.correct_ids)).correct  # the lock still knows the right set


def _grader_imports(path: Path) -> set[str]:
    """The grader modules a module imports anywhere in it (functions included), as paths under grader/."""
    import ast

    package = path.parent.relative_to(REPO).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            parts = base + (node.module.split(".") if node.module else [])
            if not parts or parts[0] != "grader":
                continue
            module = REPO.joinpath(*parts)
            candidates = [module.with_suffix(".py"), module / "__init__.py"]
            candidates += [module / f"{alias.name}.py" for alias in node.names]  # `from grader.box import syscalls`
            found.update(file.relative_to(REPO / "grader").as_posix() for file in candidates if file.is_file())
    return found


def test_the_public_copy_holds_every_grader_module_the_zygote_and_the_launcher_import() -> None:
    """Can the weaker boxes' zygote and plain launcher start from the public copy alone: is every grader module they
    import, at once or later (their packages too), in `GRADER_MODULES`?"""
    from grader.public import GRADER_MODULES

    wanted, todo = set(), ["box/zygote.py", "box/jail.py"]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += _grader_imports(REPO / "grader" / name)
    wanted |= {"__init__.py", "box/__init__.py"}
    assert sorted(wanted - set(GRADER_MODULES)) == []


def test_a_code_test_reserves_what_a_jvm_needs_while_a_memory_cgroup_caps_it(tmp_path: Path) -> None:
    """A lesson's step keeps its 2 GB of address space; a guide's code test has none under a memory cgroup (which
    caps what it uses), and 4 GB where there is none (a JVM reserves 1 GB of class space and its heap up front)."""
    from grader.box.limits import address_space

    capped, uncapped, v1 = tmp_path / "capped", tmp_path / "uncapped", tmp_path / "v1"
    for folder, file, value in ((capped, "memory.max", "1610612736\n"), (uncapped, "memory.max", "max\n"),
                                (v1, "memory.limit_in_bytes", "1610612736\n")):
        folder.mkdir()
        (folder / file).write_text(value)
    assert cgroups.caps_memory([str(capped)]) and cgroups.caps_memory([str(tmp_path / "pids"), str(v1)])
    assert not cgroups.caps_memory([str(uncapped)]) and not cgroups.caps_memory([])
    assert address_space(LIMITS, command=False, memory_capped=True) == LIMITS.memory == 2 * 1024**3
    assert address_space(LIMITS, command=True, memory_capped=True) == resource.RLIM_INFINITY
    assert address_space(LIMITS, command=True, memory_capped=False) == LIMITS.command_memory == 4 * 1024**3


def test_a_guides_own_node_modules_and_images_are_copied_but_never_a_learners(tmp_path: Path) -> None:
    from grader.box.copying import GUIDE_WORKSPACE_SKIPPED, SKIPPED

    source = tmp_path / "guide"
    for folder in ("node_modules/jest", "images", ".venv/bin", "__pycache__", "code"):
        (source / folder).mkdir(parents=True)
        (source / folder / "file.txt").write_text("x")
    guide, learner = tmp_path / "as_guide", tmp_path / "as_learner"
    guide.mkdir()
    learner.mkdir()
    copy_tree(source, guide, skipped=GUIDE_WORKSPACE_SKIPPED)
    copy_tree(source, learner, skipped=SKIPPED)
    assert sorted(p.name for p in guide.iterdir()) == ["code", "images", "node_modules"]
    assert sorted(p.name for p in learner.iterdir()) == ["code"]


def test_a_guides_command_gets_a_proc_of_its_own_and_python_beside_python3(tmp_path: Path) -> None:
    """In the full box a guide's command gets a folder for its /proc (mounted once it is in its PID namespace), the
    /dev links into it that shells use, and the grader's own Python first on PATH; a lesson's step none of these."""
    import sys

    from grader.box.environment import command_path
    from grader.box.job import Job
    from grader.box.mounts import PROC, box_mounts

    def job(command: str) -> Job:
        return Job(work=str(tmp_path), root=str(tmp_path / "root"), stdout="", stderr="", env={}, timeout=5,
                   command=command, uds=str(tmp_path / "uds"))

    targets = {m.target: m for m in box_mounts(job("java Sum"))}
    assert targets[PROC].kind == "folder" and targets["/dev/fd"].kind == "link"
    assert targets["/dev/fd"].source == "/proc/self/fd" and targets["/dev/stderr"].source == "/proc/self/fd/2"
    assert not {PROC, "/dev/fd"} & {m.target for m in box_mounts(job(""))}
    path = command_path(full_box=True).split(":")
    assert path[0] == os.path.dirname(sys.executable) and path[-3:] == ["/usr/local/bin", "/usr/bin", "/bin"]
    for name in ("python", "python3"):  # from the first folder, or from the box's own links
        assert os.path.exists(os.path.join(path[0], name)) or targets[f"{path[1]}/{name}"].kind == "link"


def test_a_guides_node_modules_keeps_its_inner_links_and_programs_but_no_link_out(tmp_path: Path) -> None:
    """`node_modules/.bin/jest` -> `../jest/bin/jest.js` is made again (npx finds jest), executable as it was; a link
    that climbs out of the folder, an absolute one, and any link a learner hands in are left out."""
    source = tmp_path / "guide"
    (source / "node_modules" / ".bin").mkdir(parents=True)
    (source / "node_modules" / "jest" / "bin").mkdir(parents=True)
    program = source / "node_modules" / "jest" / "bin" / "jest.js"
    program.write_text("#!/usr/bin/env node\n")
    program.chmod(0o755)
    (source / "node_modules" / ".bin" / "jest").symlink_to("../jest/bin/jest.js")
    (source / "node_modules" / ".bin" / "out").symlink_to("../../secret.txt")
    (source / "node_modules" / ".bin" / "abs").symlink_to("/etc/passwd")
    (source / "code").mkdir()
    (source / "code" / "link.txt").symlink_to("../node_modules/jest/bin/jest.js")
    from grader.box.copying import GUIDE_DEPENDENCIES, GUIDE_WORKSPACE_SKIPPED

    copied = tmp_path / "copy"
    copied.mkdir()
    copy_tree(source, copied, skipped=GUIDE_WORKSPACE_SKIPPED, links_within=GUIDE_DEPENDENCIES)
    assert os.readlink(copied / "node_modules" / ".bin" / "jest") == "../jest/bin/jest.js"
    assert os.access(copied / "node_modules" / ".bin" / "jest", os.X_OK)
    assert not any(os.path.lexists(copied / "node_modules" / ".bin" / name) for name in ("out", "abs"))
    assert not os.path.lexists(copied / "code" / "link.txt")
    plain = tmp_path / "plain"
    plain.mkdir()
    copy_tree(source / "node_modules", plain, skipped=())  # a learner's: no link is ever made
    assert not os.path.lexists(plain / ".bin" / "jest") and os.access(plain / "jest" / "bin" / "jest.js", os.X_OK)



def test_a_code_tests_python_has_the_graders_packages_without_its_start_up_imports(tmp_path: Path) -> None:
    """The full box's `python3` for a guide's code test: the grader's interpreter and packages (Pillow, pytest, the
    SDK import), but none of the code its `.pth` files run at every start (an editable install's finder)."""
    import subprocess
    import sys

    from grader.box.command_python import make, package_folders

    root = Path(make(tmp_path / "python"))
    assert (root / "bin" / "python3").resolve() == Path(sys.executable).resolve()
    listed = (root / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" /
              "grader.pth").read_text(encoding="utf-8").split()
    assert listed == package_folders() and listed and not any(line.startswith("import") for line in listed)
    probe = ("import sys, PIL, pytest, openai; "
             "print(sorted(m for m in sys.modules if m.startswith('__editable__')), sys.prefix)")
    done = subprocess.run([str(root / "bin" / "python3"), "-c", probe], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", str(root)]


def test_a_copy_that_keeps_what_is_there_lays_the_guide_under_the_learners_files(tmp_path: Path) -> None:
    """A code test's workspace: the learner's files, then the guide's only where the learner has none by that name;
    an executable stays one, content is copied whole."""
    from grader.box.copying import copy_tree

    guide, learner, work = tmp_path / "guide", tmp_path / "learner", tmp_path / "work"
    for folder in (guide / "code", learner / "code", work):
        folder.mkdir(parents=True)
    (guide / "code" / "loops.py").write_text("print('the guide's start')\n")
    (guide / "code" / "data.txt").write_text("guide data\n")
    (guide / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(guide / "run.sh", 0o755)
    (learner / "code" / "loops.py").write_bytes(b"print('mine')\n" * 100_000)
    copy_tree(learner, work)
    copy_tree(guide, work, keep=True)
    assert (work / "code" / "loops.py").read_bytes() == b"print('mine')\n" * 100_000
    assert (work / "code" / "data.txt").read_text() == "guide data\n"
    assert os.stat(work / "run.sh").st_mode & 0o777 == 0o755


@pytest.mark.parametrize("commands_only", [True, False])
def test_an_engine_for_commands_only_forks_from_a_zygote_without_the_sdk(tmp_path: Path, commands_only: bool) -> None:
    """A guide's code tests are shell commands: their engine's zygote imports none of the SDK (pydantic's compiled
    core is not even mapped), so each run forks and tears down a quarter of the memory; a command runs the same in
    either, and a lesson's engine keeps the SDK imported once for its steps."""
    from grader.box.engine import Engine
    from grader.box.job import Job

    engine = Engine(1, warm=True, commands_only=commands_only)
    try:
        with engine.slot() as slot:
            out = tmp_path / "out"
            job = Job(work=str(tmp_path), root=str(tmp_path / "root"), stdout=str(out), stderr=str(out),
                      env={"PATH": "/usr/bin:/bin"}, timeout=30, command="echo ran in $PWD")
            reply = slot.run(job)
            assert reply["exit_code"] == 0 and out.read_text() == f"ran in {tmp_path}\n", (reply, out.read_text())
            assert slot.zygote is not None
            maps = Path(f"/proc/{slot.zygote.pid}/maps").read_text()
            assert ("pydantic_core" in maps) is not commands_only
            rss = int(next(line for line in Path(f"/proc/{slot.zygote.pid}/status").read_text().splitlines()
                           if line.startswith("VmRSS:")).split()[1])
            assert (rss < 30_000) is commands_only, rss  # kB: about 15 MB without the SDK, 60 MB with it
    finally:
        engine.close()


@pytest.mark.parametrize("warm", [True, False])
def test_a_command_reopens_its_own_streams_and_its_flood_ends_at_the_file_size_limit(tmp_path: Path, warm: bool) -> None:
    """Warm (the namespace host, or the zygote's child where there is none, copies the pipes) and plain (the
    launcher does): a command's streams reopened by name add to what it printed, what it is typed can be read again
    by name, a flood stops at the file size limit (the pipe closed: its next write fails, SIGPIPE as a shell gives
    it), and a background process left holding the pipe does not keep the run waiting."""
    from grader.api import private_api
    from grader.box.engine import Engine
    from grader.box.run import box_folders, run_boxed

    engine = Engine(1, warm=warm, commands_only=True)
    try:
        with private_api(tmp_path / "api") as api, engine.slot() as slot:
            def run(command: str, merge: bool = False):  # type: ignore[no-untyped-def]
                with box_folders(slot) as folders:
                    return run_boxed(slot, api, folders, timeout=20, command=command, stdin="typed\n",
                                     merge_output=merge)

            said = run("echo one; echo two > /dev/stdout; echo three > /dev/stderr; cat /dev/stdin; "
                       "python3 -c \"open('/dev/stdout', 'a').write('four\\n')\"; exit 3")
            assert (said.exit_code, said.stdout, said.stderr) == (3, "one\ntwo\ntyped\nfour\n", "three\n"), said
            merged = run("echo one; echo two > /dev/stderr; echo three", merge=True)
            assert merged.stdout == "one\ntwo\nthree\n" and merged.stderr == "", merged
            flood = run("yes")
            assert flood.flooded and flood.exit_code in (141, -13) and not flood.timed_out and flood.seconds < 10, flood
            left = run("sleep 60 & echo started")
            assert left.exit_code == 0 and left.stdout == "started\n" and left.seconds < 10, left
    finally:
        engine.close()


@pytest.mark.parametrize("warm", [True, False])
def test_a_command_past_its_time_leaves_nothing_behind_without_a_uid_of_its_own(tmp_path: Path, warm: bool) -> None:
    """Without a sandbox uid (an ordinary user's weaker box) only the run's session ends what it started: the
    process that copies a command's pipes leads that session, so killing it at the timeout still ends the shell
    and everything the command left running."""
    import subprocess

    from grader.box.engine import Engine
    from grader.box.job import Job

    marker = f"{os.getpid() % 1000 + 1000}.{int(warm)}"  # sleep's own argument: this test's processes alone
    engine = Engine(1, warm=warm, commands_only=True)
    try:
        with engine.slot() as slot:
            job = Job(work=str(tmp_path), root=str(tmp_path / "root"), stdout=str(tmp_path / "out"),
                      stderr=str(tmp_path / "out"), env={"PATH": "/usr/bin:/bin"}, timeout=2,
                      command=f"sleep {marker}1 & sleep {marker}2; echo never")
            started = time.monotonic()
            reply = slot.run(job)
            assert reply["timed_out"] and time.monotonic() - started < 15, reply
        deadline = time.monotonic() + 5
        while (left := subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout.split()):
            if time.monotonic() > deadline:
                for pid in left:
                    os.kill(int(pid), 9)
                raise AssertionError(f"left running after the timeout: {left}")
            time.sleep(0.1)
    finally:
        engine.close()
