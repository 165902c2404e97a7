"""The box a learner's step runs in, and the engine that starts steps in it.

The job and its run:
- `job`: `Job`, one program to run in the box, and `Confinement`, what a slot's box is; JSON only across processes;
- `run`: `run_boxed`, one run in a slot's box through a channel of its own (the grader's steps and a guide's code
  tests alike), its folders (`box_folders`), its job (`make_job`), and `GraderFault`;
- `engine`: `Engine`, a pool of worker slots (`Slot`), each with its uid, cgroups and, warm, its zygote;
- `zygote`: the warm engine's process (`python -m grader.box.zygote`): imports the SDK once, forks each step;
- `jail`: the plain engine's launcher (`python -m grader.box.jail JOB`): boxes itself, then execs the step.

The box itself, built around a freshly forked child:
- `build`: `enter(job)`, which builds the whole box and returns in the step;
- `streams`: `open_streams(job)`, the run's standard streams, its uid's; a guide's command's output through a pipe;
- `mounts`: the full box's root as a list of `Mount` records, applied by `apply_mounts`;
- `command_python`: the Python a guide's code test finds first on PATH in the full box (quicker to start);
- `limits`: the step's `Limits`, one record, set by `apply_limits`;
- `cgroups`: a slot's memory, pids and cpu cgroups;
- `pid_namespace`: the step's PID namespace, its init and supervisor, and `fork_as_init` for the namespace host;
- `host`: the slot's namespace host, which forks each step in the slot's PID and network namespaces;
- `relay`: the step's loopback port relayed to its channel's Unix socket;
- `privileges`: the slot's uid, capabilities, keyring, no new privileges, undumpable processes;
- `syscalls`: the seccomp filter of the calls no step needs;
- `landlock`: the kernel's Landlock rules, for the weaker boxes;
- `weak_box`: the weaker boxes' Landlock rules for a step, and what a step left in shared places, removed;
- `kill`: ending all a step left behind, and reaping;
- `kernel`: the libc calls and flags the box uses (mount, unshare, prctl).

What the box can be here, and around it:
- `probe`: `box()`, what the box can be on this machine, and what it lacks, in words;
- `environment`: the minimal environments of the zygote, the launcher, the offline API and a step;
- `copying`: reading and copying a submission within bounds;
- `capacity`: how many learners to grade at once, from the CPUs and memory this process may use.
"""
