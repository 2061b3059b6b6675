"""The training loop the applications share: the CIFAR-10 classifier and the detector
train through :func:`run`, so both have the same log lines, summaries, checkpoints,
resume, signal handling and data-parallel agreement.

An application builds its parts (:class:`Parts`: the model, its optimizer and moving
average, the input loader, a ``step`` function and a learning-rate schedule) and hands
them to :func:`run` with its configuration. The configuration is any object with the
attributes the loop reads (both ``TrainConfig`` s have them): ``train_dir``,
``max_steps``, ``batch_size``, ``log_frequency``, ``histogram_frequency``,
``checkpoint_steps``, ``checkpoint_secs``, ``keep_checkpoints``, ``resume``,
``summaries``, ``progress``, ``seed`` and ``as_dict()``.

What the loop does, each step: ``step(batch, lr)`` (the update), the global step and
the moving average; every ``log_frequency`` steps the log line ``step N, loss = L (X
examples/sec; Y sec/batch)`` and the scalar summaries (every loss the step returned,
the learning rate, steps and examples per second, the input stall); weight histograms
every ``histogram_frequency`` steps; a checkpoint every ``checkpoint_steps`` steps or
``checkpoint_secs`` seconds and at the end (:mod:`conveyor.apps.cifar10.checkpoint`).
SIGINT and SIGTERM (caught by :func:`signals_caught`) finish the step, checkpoint and
return. Under ``torch.distributed`` the ranks agree every step on stopping and on
checkpointing, each rank draws from a torch generator of its own (:func:`rank_seed`),
a checkpoint holds every rank's input position and generator state, the logged losses
are the means over ranks, and only rank 0 logs, writes and evaluates.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from conveyor._optional import require
from conveyor.apps.cifar10 import checkpoint
from conveyor.apps.cifar10.ema import ExponentialMovingAverage
from conveyor.core.errors import InvalidArgumentError

__all__ = [
    "LoopResult",
    "Parts",
    "StopFlag",
    "agreed_seed",
    "checkpoint_state",
    "device_for",
    "init_distributed",
    "launched",
    "rank_seed",
    "restore_state",
    "run",
    "signals_caught",
    "watch_checkpoints",
    "world",
]


# -- the process: signals, ranks, devices ---------------------------------------------


class StopFlag:
    """Set by SIGINT/SIGTERM while a run is in progress: ``signal`` names it."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.signal = signal.Signals(signum).name


@contextmanager
def signals_caught(enabled: bool) -> Iterator[StopFlag]:
    """SIGINT and SIGTERM set the yielded flag instead of stopping the process (only
    from the main thread; elsewhere, or not ``enabled``, the flag is never set)."""
    flag = StopFlag()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.signal(s, flag) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def distributed() -> bool:
    return bool(torch.distributed.is_available() and torch.distributed.is_initialized())


def world() -> tuple[int, int]:
    """This process's rank and the world size (0, 1 when not distributed)."""
    if distributed():
        return int(torch.distributed.get_rank()), int(torch.distributed.get_world_size())
    return 0, 1


def launched() -> bool:
    """Started by ``torch.distributed.run`` (or another launcher setting its variables)
    as one of several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def device_for(name: str | None) -> torch.device:
    """The device ``name`` names; ``None``: this rank's CUDA device when there is one,
    else the CPU."""
    if name is not None:
        return torch.device(name)
    if torch.cuda.is_available():
        if distributed():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cuda")
    return torch.device("cpu")


def init_distributed(device: str | None) -> bool:
    """Join the launcher's process group (from the environment) unless one is already
    initialised: ``nccl`` for CUDA, ``gloo`` on the CPU; returns whether this call
    created it."""
    if distributed() or not launched():
        return False
    wants_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if wants_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend="nccl" if wants_cuda else "gloo")
    return True


def agreed_seed(config: Any) -> Any:
    """``config`` with every rank's ``seed`` rank 0's (a drawn one, when it is
    ``None``), so all ranks draw the same permutations."""
    if config.seed is not None or not distributed():
        return config
    seed = [int(np.random.SeedSequence().generate_state(1)[0]) if world()[0] == 0 else None]
    torch.distributed.broadcast_object_list(seed, src=0)
    return dataclasses.replace(config, seed=seed[0])


def _progress_bar(config: Any, start: int, is_main: bool) -> Any:
    show = sys.stdout.isatty() if config.progress is None else config.progress
    if not (show and is_main):
        return None
    tqdm = require("tqdm", "the training progress bar", extra="train").tqdm
    return tqdm(total=config.max_steps, initial=start, unit="step", dynamic_ncols=True)


# -- checkpoints ----------------------------------------------------------------------


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s torch generator in a data-parallel run.

    The ranks start from one seed, so that they build the same model; from the first
    step each draws from a generator of its own — what a step samples (the detector's
    anchors and proposals, dropout) then differs between ranks, as it would between the
    parts of one large batch, instead of repeating rank 0's choices on other images.

    >>> rank_seed(0, 0) != rank_seed(0, 1), rank_seed(7, 1) == rank_seed(7, 1)
    (True, True)
    """
    return int(np.random.SeedSequence(seed, spawn_key=(rank,)).generate_state(1, np.uint64)[0] >> 1)


def _rng_state() -> dict[str, Any]:
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _set_rng_state(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def checkpoint_state(
    config: Any,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: ExponentialMovingAverage,
    loader: Any,
) -> dict[str, Any]:
    """What a checkpoint holds (see :mod:`conveyor.apps.cifar10.checkpoint`)."""
    return {
        "global_step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "ema": ema.state_dict(),
        "rng": _rng_state(),
        "data": loader.state_dict(),
        "config": config.as_dict(),
    }


def restore_state(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: ExponentialMovingAverage,
    loader: Any,
) -> int:
    """Load a checkpoint's state into a run's parts; returns its global step."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    ema.load_state_dict(state["ema"])
    rank, size = world()
    # Each rank's position in its own shard; a single process's, when there was one.
    ranks = state.get("data_ranks") or [state["data"]]
    if len(ranks) != size:
        raise InvalidArgumentError(
            f"the checkpoint holds the input positions of {len(ranks)} process(es) and "
            f"this run has {size}: resume it with as many, or start afresh (no --resume)"
        )
    loader.load_state_dict(ranks[rank])
    # Each rank's generator; rank 0's is the checkpoint's own "rng".
    _set_rng_state((state.get("rng_ranks") or [state["rng"]] * size)[rank])
    return int(state["global_step"])


# -- the loop -------------------------------------------------------------------------


@dataclass
class Parts:
    """What :func:`run` trains.

    Attributes:
        model: the network (the moving average, the histograms and the checkpoint are
            of it).
        optimizer: its optimizer.
        ema: its moving average, updated after every step.
        loader: the input (an iterable with ``stats()``, ``state_dict()``,
            ``load_state_dict()`` and ``close()``: :func:`conveyor.torch.loader`).
        step: ``step(batch, lr)`` takes one optimisation step and returns its detached
            scalar losses, ``"total_loss"`` first (the one logged).
        learning_rate: the learning rate of a global step.
        on_first_batch: called with the summaries, the first batch and the step, once
            per run when summaries are written (an image summary of the input).
        evaluate: called on rank 0 after a run that was not interrupted, with a model
            holding the moving averages; returns the metrics to record and a line to
            log, or ``None``.
        averaged: makes the model ``evaluate`` is given (a fresh copy of the network).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: ExponentialMovingAverage
    loader: Any
    step: Callable[[Any, float], dict[str, torch.Tensor]]
    learning_rate: Callable[[int], float]
    on_first_batch: Callable[[Any, Any, int], None] | None = None
    evaluate: Callable[[nn.Module], tuple[dict[str, float], str] | None] | None = None
    averaged: Callable[[], nn.Module] | None = None


@dataclass
class LoopResult:
    """What :func:`run` did: the global step, the last step's losses (means over
    ranks), the last checkpoint, the interrupting signal, the input's last stats, the
    loop's seconds and images per second, and the evaluation's metrics."""

    global_step: int
    start_step: int
    losses: dict[str, float]
    checkpoint: Path | None
    interrupted: str | None
    stats: Any
    seconds: float
    examples_per_sec: float
    metrics: dict[str, float] | None

    @property
    def loss(self) -> float:
        return self.losses.get("total_loss", float("nan"))

    @property
    def input_stall(self) -> float:
        return 0.0 if self.stats is None else float(self.stats.input_stall)


def run(
    config: Any,
    parts: Parts,
    stop: StopFlag,
    log: Callable[[str], None] | None = None,
) -> LoopResult:
    """Train ``parts`` as ``config`` says, from its newest checkpoint with
    ``config.resume``; see the module's docstring. ``stop`` is the flag of
    :func:`signals_caught` that ends the run; ``log`` takes the log lines (default:
    printed)."""
    rank, size = world()
    is_main = rank == 0
    train_dir = Path(config.train_dir)
    model, optimizer, ema, loader = parts.model, parts.optimizer, parts.ema, parts.loader
    device = next(model.parameters()).device
    if size > 1 and config.seed is not None:  # the model is built: now a stream per rank
        torch.manual_seed(rank_seed(config.seed, rank))

    step = 0
    if config.resume:
        newest = checkpoint.latest(train_dir)
        if newest is not None:
            step = restore_state(checkpoint.load(newest), model, optimizer, ema, loader)
    elif is_main:
        # A fresh run starts a fresh series: an older run's checkpoints would otherwise
        # outrank this one's (the tutorial deletes the whole train_dir instead).
        for old in checkpoint.list_checkpoints(train_dir):
            old.unlink(missing_ok=True)
    summaries = None
    if config.summaries and is_main:
        from conveyor.apps.cifar10.summaries import Summaries

        summaries = Summaries(train_dir)

    bar = _progress_bar(config, step, is_main)

    def say(line: str) -> None:
        if not is_main:
            return
        if bar is not None:
            bar.write(line)
        elif log is not None:
            log(line)
        else:
            print(line, flush=True)

    last_checkpoint: Path | None = None

    def save() -> Path | None:
        # Collective when distributed: every rank calls it at the same step.
        ranks: list[Any] | None = None
        if size > 1:
            ranks = [None] * size
            torch.distributed.all_gather_object(ranks, (loader.state_dict(), _rng_state()))
        if not is_main:
            return None
        state = checkpoint_state(config, step, model, optimizer, ema, loader)
        if ranks is not None:
            state["data_ranks"] = [data for data, _ in ranks]
            state["rng_ranks"] = [rng for _, rng in ranks]
        return checkpoint.save(train_dir, state, step, keep=config.keep_checkpoints)

    def global_mean(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The means over ranks (the global batch's); collective when distributed."""
        if size == 1:
            return values
        both = torch.stack([v.detach().float().reshape(()) for v in values.values()]).to(device)
        torch.distributed.all_reduce(both)
        return dict(zip(values, (both / size).cpu().unbind()))

    def agree(stop_now: bool, due_secs: bool) -> tuple[bool, bool]:
        """Every rank stops (a signal on any) and checkpoints (rank 0's clock) at the
        same step; collective when distributed."""
        if size == 1:
            return stop_now, due_secs
        flags = torch.tensor([float(stop_now), float(due_secs and is_main)], device=device)
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        return bool(flags[0] > 0), bool(flags[1] > 0)

    losses: dict[str, torch.Tensor] = {}
    start_step = step
    t_start = time.perf_counter()
    mark_time, mark_step, mark_wait = t_start, step, 0.0
    last_save_time = t_start
    first_logged = False
    interrupted: str | None = None
    stats = None
    model.train()
    batches = iter(loader)
    stopping, _ = agree(stop.signal is not None, False)
    try:
        while step < config.max_steps and not stopping:
            try:
                batch = next(batches)
            except StopIteration:  # a finite pipeline ran out
                break
            lr = parts.learning_rate(step)
            losses = parts.step(batch, lr)
            step += 1
            ema.update(model, step)
            if summaries is not None and not first_logged and parts.on_first_batch is not None:
                parts.on_first_batch(summaries, batch, step)
                first_logged = True
            if bar is not None:
                bar.update(1)
            if step % config.log_frequency == 0 or step == config.max_steps:
                losses = global_mean(losses)
                now = time.perf_counter()
                stats = loader.stats()
                elapsed = max(now - mark_time, 1e-9)
                steps = max(step - mark_step, 1)
                value = float(losses["total_loss"])
                if not math.isfinite(value):
                    raise FloatingPointError(f"the loss diverged at step {step}: {value}")
                say(
                    f"step {step}, loss = {value:.2f} "
                    f"({steps * config.batch_size / elapsed:.1f} examples/sec; "
                    f"{elapsed / steps:.3f} sec/batch)"
                )
                if summaries is not None:
                    wait = stats.consumer_wait_seconds
                    summaries.scalars(
                        {
                            **{name: float(v) for name, v in losses.items()},
                            "learning_rate": lr,
                            "global_step/sec": steps / elapsed,
                            "examples/sec": steps * config.batch_size / elapsed,
                            "input/stall_percent": 100.0
                            * min(max(wait - mark_wait, 0.0) / elapsed, 1.0),
                        },
                        step,
                    )
                    summaries.pipeline(stats, step)
                    mark_wait = wait
                mark_time, mark_step = now, step
            if summaries is not None and step % config.histogram_frequency == 0:
                summaries.histograms(model, step)
            due_steps = config.checkpoint_steps and step % config.checkpoint_steps == 0
            due_secs = (
                config.checkpoint_secs is not None
                and time.perf_counter() - last_save_time >= config.checkpoint_secs
            )
            stopping, due_secs = agree(stop.signal is not None, due_secs)
            if (due_steps or due_secs) and step < config.max_steps and not stopping:
                last_checkpoint = save() or last_checkpoint
                last_save_time = time.perf_counter()
        logged = step % config.log_frequency == 0 or step == config.max_steps
        if size > 1 and step > start_step and not logged:
            losses = global_mean(losses)
        interrupted = stop.signal
        if stopping and interrupted is None:  # another rank was signalled
            interrupted = "SIGTERM"
        stats = loader.stats() if step > start_step else None
        if step > start_step or last_checkpoint is None:
            last_checkpoint = save() or last_checkpoint
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        loader.close()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t_start
    if interrupted is not None:
        say(f"stopped by {interrupted} at step {step}; checkpoint {last_checkpoint}")
    elif stats is not None:
        say(
            f"trained {step - start_step} steps in {seconds:.1f} s; input stall "
            f"{100 * stats.input_stall:.1f}%; checkpoint {last_checkpoint}"
        )
    metrics = None
    if parts.evaluate is not None and is_main and interrupted is None:
        averaged = parts.averaged() if parts.averaged is not None else model
        ema.copy_to(averaged)
        found = parts.evaluate(averaged)
        if found is not None:
            metrics, line = found
            say(line)
            if summaries is not None:  # COCO's -1 (no object of a size) is no value
                summaries.scalars({k: v for k, v in metrics.items() if v >= 0}, step)
    if summaries is not None:
        summaries.close()
    done = step - start_step
    return LoopResult(
        global_step=step,
        start_step=start_step,
        losses={name: float(v) for name, v in losses.items()},
        checkpoint=last_checkpoint,
        interrupted=interrupted,
        stats=stats,
        seconds=seconds,
        examples_per_sec=done * config.batch_size / seconds if seconds > 0 else 0.0,
        metrics=metrics,
    )


# -- evaluation as checkpoints appear --------------------------------------------------


def watch_checkpoints(
    config: Any,
    evaluate: Callable[[Path, Any], Any],
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Any]:
    """``evaluate(path, summaries)`` of the newest checkpoint of
    ``config.checkpoint_dir``, once (``config.run_once``) or each time a newer one
    appears, looking every ``config.eval_interval_secs``; returns what each call
    returned (an object with ``global_step``).

    ``summaries`` is a :class:`~conveyor.apps.cifar10.summaries.Summaries` writing to
    ``config.eval_dir`` (``None`` without ``config.summaries``), closed at the end.
    Loop mode runs until ``config.max_evaluations`` evaluations or one of a checkpoint
    at or past ``config.stop_at_step`` (forever when both are ``None``: stop it with
    Ctrl-C). A look that finds no checkpoint says so and waits (``run_once``: returns
    none).
    """
    summaries = None
    if config.summaries:
        from conveyor.apps.cifar10.summaries import Summaries

        summaries = Summaries(config.eval_dir)
    results: list[Any] = []
    seen: Path | None = None
    try:
        while True:
            newest = checkpoint.latest(config.checkpoint_dir)
            if newest is None:
                say(f"no checkpoint found in {config.checkpoint_dir}")
            elif newest != seen:
                results.append(evaluate(newest, summaries))
                seen = newest
            if config.run_once:
                break
            if config.max_evaluations is not None and len(results) >= config.max_evaluations:
                break
            if (
                config.stop_at_step is not None
                and results
                and int(results[-1].global_step or 0) >= config.stop_at_step
            ):
                break
            sleep(config.eval_interval_secs)
    finally:
        if summaries is not None:
            summaries.close()
    return results
