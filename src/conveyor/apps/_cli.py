"""What the applications' command lines share: flag spelling, the data-parallel flags
and their launcher (``torch.distributed.run``), and how a training command exits.

``--nproc N`` (with ``--nnodes``, ``--node_rank``, ``--master_addr``,
``--master_port``) makes a ``train`` command re-run itself as ``N`` workers under
``torch.distributed.run``: c10d rendezvous, one ``gloo`` or ``nccl`` process group.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

#: the flags of the distributed launcher (torch.distributed.run), not given to workers
LAUNCH = ("nproc", "nnodes", "node_rank", "master_addr", "master_port")
#: the rendezvous port when --master_port is not given (torchrun's)
MASTER_PORT = 29500


def flag(group: Any, name: str, **kwargs: Any) -> None:
    """Add ``--name`` to ``group``, also spelt with dashes (``--train-dir``)."""
    spellings = [f"--{name}"]
    if "_" in name:
        spellings.append(f"--{name.replace('_', '-')}")
    group.add_argument(*spellings, dest=name, **kwargs)


def add_loop_flags(
    command: argparse.ArgumentParser,
    *,
    log_frequency: int,
    histogram_frequency: tuple[int | None, str],
    checkpoint_steps: tuple[int | None, str],
    seed: tuple[int | None, str],
    torch_threads_help: str,
) -> None:
    """The flags of :mod:`conveyor.apps.loop` a ``train`` command has (the ``(default,
    help)`` pairs are each application's)."""
    flag(
        command,
        "log_frequency",
        type=int,
        default=log_frequency,
        help="steps between log lines and scalar summaries (default %(default)s)",
    )
    flag(
        command,
        "histogram_frequency",
        type=int,
        default=histogram_frequency[0],
        help=histogram_frequency[1],
    )
    flag(
        command,
        "checkpoint_steps",
        type=int,
        default=checkpoint_steps[0],
        help=checkpoint_steps[1],
    )
    flag(
        command,
        "checkpoint_secs",
        type=float,
        default=600.0,
        help="seconds between checkpoints (default %(default)s)",
    )
    flag(
        command,
        "keep_checkpoints",
        type=int,
        default=5,
        help="newest checkpoints kept (default %(default)s)",
    )
    flag(command, "seed", type=int, default=seed[0], help=seed[1])
    flag(
        command,
        "resume",
        action="store_true",
        help="continue from the newest checkpoint in --train_dir, with the same data order",
    )
    flag(
        command, "threads", type=int, default=2, help="input pipeline threads (default %(default)s)"
    )
    flag(command, "torch_threads", type=int, default=None, help=torch_threads_help)
    flag(
        command, "device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)"
    )
    flag(command, "no_eval", action="store_true", help="skip the evaluation after training")
    flag(command, "no_summaries", action="store_true", help="write no TensorBoard event files")
    flag(
        command,
        "progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar (default: when stdout is a terminal)",
    )


def add_distributed_flags(command: argparse.ArgumentParser) -> None:
    """The data-parallel group of a ``train`` command."""
    distributed = command.add_argument_group(
        "data-parallel training (torch.distributed.run, DistributedDataParallel; each "
        "process reads its own shard, rank 0 alone logs, checkpoints and evaluates)"
    )
    flag(
        distributed,
        "nproc",
        type=int,
        default=None,
        help="processes on this machine (one per GPU; gloo on CPU): the command re-runs "
        "itself as this many workers under torch.distributed.run",
    )
    flag(
        distributed,
        "nnodes",
        type=int,
        default=None,
        help="machines training together, each running this command (default 1)",
    )
    flag(
        distributed,
        "node_rank",
        type=int,
        default=None,
        help="this machine's index, 0..nnodes-1; node 0 hosts the rendezvous (default 0)",
    )
    flag(
        distributed,
        "master_addr",
        default=None,
        help="address of node 0, where the c10d rendezvous is hosted (default 127.0.0.1; "
        "a single machine without it uses a free local port)",
    )
    flag(
        distributed,
        "master_port",
        type=int,
        default=None,
        help=f"port of the rendezvous on node 0 (default {MASTER_PORT})",
    )


def torch_threads(requested: int | None, leave: int = 1) -> int:
    """``requested``, or the CPU count less ``leave``, shared among this machine's
    workers (under a launcher).

    The CIFAR-10 system leaves one core to the input pipeline's threads: its steps are
    short, torch's OpenMP threads spin while they wait, and on an oversubscribed machine
    a step then takes several times longer (measured on two cores: 0.15 s a step with
    one thread, 0.8 s with two). The detector's steps are long and its input light, so
    it leaves none (0.18 s a step with two threads, 0.29 s with one)."""
    local_world = max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    return requested or max(((os.cpu_count() or 1) - leave) // local_world, 1)


def launching(args: argparse.Namespace) -> bool:
    """Whether the parsed flags ask for the launcher."""
    return any(getattr(args, name) is not None for name in LAUNCH)


def _spellings(name: str) -> tuple[str, ...]:
    return (f"--{name}", f"--{name.replace('_', '-')}")


def worker_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` without the launcher's flags (``--nproc 2``, ``--nproc=2``…)."""
    flags = {s for name in LAUNCH for s in _spellings(name)}
    out: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in flags:
            skip = True
            continue
        if token.split("=", 1)[0] in flags and "=" in token:
            continue
        out.append(token)
    return out


def launch_command(args: argparse.Namespace, argv: Sequence[str], app: str) -> list[str]:
    """The ``torch.distributed.run`` command line that runs ``conveyor <app> <argv>``
    (a ``train`` command's arguments) as ``--nproc`` workers on this node of
    ``--nnodes``."""
    nproc = 1 if args.nproc is None else args.nproc
    nnodes = 1 if args.nnodes is None else args.nnodes
    node_rank = 0 if args.node_rank is None else args.node_rank
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--nnodes",
        str(nnodes),
        "--max_restarts",
        "0",
    ]
    if nnodes == 1 and args.master_addr is None and args.master_port is None:
        command.append("--standalone")  # c10d on a free local port
    else:
        addr = "127.0.0.1" if args.master_addr is None else args.master_addr
        port = MASTER_PORT if args.master_port is None else args.master_port
        command += [
            "--rdzv_backend",
            "c10d",
            "--rdzv_endpoint",
            f"{addr}:{port}",
            "--rdzv_id",
            f"conveyor-{app}-{port}",
            # node 0 hosts the rendezvous store, the others connect to it (so that two
            # nodes on one machine, or a node whose name matches the address, agree)
            "--rdzv_conf",
            f"is_host={int(node_rank == 0)}",
            "--node_rank",
            str(node_rank),
        ]
    return [*command, "-m", "conveyor", app, *worker_argv(argv)]


def launch(
    args: argparse.Namespace,
    argv: Sequence[str],
    error: Callable[[str], Any],
    app: str,
    parse: Callable[[list[str]], argparse.Namespace],
) -> int:
    """Run the launcher for ``conveyor <app> <argv>`` and wait for it; returns the exit
    status (``128 + signal`` when a forwarded signal stopped the workers)."""
    for name in ("nproc", "nnodes", "master_port"):
        value = getattr(args, name)
        if value is not None and value < 1:
            error(f"--{name} must be positive, got {value}")
    nnodes = 1 if args.nnodes is None else args.nnodes
    if args.node_rank is not None and not 0 <= args.node_rank < nnodes:
        error(f"--node_rank must be in 0..{nnodes - 1} (--nnodes {nnodes}), got {args.node_rank}")
    again = parse(worker_argv(argv))
    for name in LAUNCH:
        if getattr(again, name) is not None:
            error(f"--{name}: spell the launcher's flags out in full")
    if "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        error("--nproc/--nnodes: already running under a distributed launcher")
    # The workers run in a session of their own: a signal reaches them once, through
    # the launcher, which passes SIGINT/SIGTERM on; they checkpoint and stop.
    child = subprocess.Popen(launch_command(args, argv, app), start_new_session=True)

    forwarded: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        forwarded.append(signum)
        child.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if forwarded:  # stopped as asked: the workers checkpointed
        return 128 + forwarded[0]
    return 128 - code if code < 0 else code


def finish_training(interrupted: str | None, exit_on_signal: bool) -> int:
    """The exit status of a finished ``train`` command: 0, or ``128 + signal``.

    The checkpoint is on disk, the event files closed, the pipeline's threads joined and
    the process group destroyed; what remains is the interpreter's teardown of torch.
    It alone takes over a second (a stopped job should be gone at once), and in a
    launched worker it can abort on a thread of the collective backend still winding
    down (std::terminate), turning a finished run into a failed one. So a stopped run or
    a launched worker skips it (``os._exit``) when ``exit_on_signal``."""
    status = 0 if interrupted is None else 128 + int(signal.Signals[interrupted])
    worker = "TORCHELASTIC_RUN_ID" in os.environ
    if (interrupted is not None and exit_on_signal) or (worker and exit_on_signal):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def eval_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``EvalConfig`` fields every ``eval`` command takes from the same flags."""
    return {
        "checkpoint_dir": args.checkpoint_dir,
        "eval_dir": args.eval_dir,
        "data_dir": args.data_dir,
        "eval_interval_secs": args.eval_interval_secs,
        "run_once": args.run_once,
        "batch_size": args.batch_size,
        "device": args.device,
        "summaries": not args.no_summaries,
    }


def run_eval(eval_loop: Callable[..., Any], config: Any) -> int:
    """An ``eval`` command's run and exit status: 0; 1 when ``run_once`` found no
    checkpoint to evaluate; 130 on Ctrl-C (the watching loop's way to stop)."""
    try:
        results = eval_loop(config)
    except KeyboardInterrupt:
        return 130
    return 0 if results or not config.run_once else 1
