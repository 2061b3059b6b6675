"""SIGINT and SIGTERM stop training cleanly: the step finishes, a checkpoint is written,
every pipeline thread stops, the process exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import conveyor
from conveyor.apps.cifar10 import checkpoint

SRC = str(Path(conveyor.__file__).resolve().parent.parent)

SCRIPT = textwrap.dedent(
    """
    import signal, sys, threading
    from conveyor.apps.cifar10.train import TrainConfig, train

    config = TrainConfig(train_dir=sys.argv[1], width=8, batch_size=16, max_steps=1_000_000,
                         log_frequency=1, seed=0, threads=2, torch_threads=1,
                         summaries=False, evaluate=False, checkpoint_steps=None,
                         checkpoint_secs=None, progress=False)
    result = train(config)
    alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print("RESULT", result.interrupted, result.global_step, "threads", alive, flush=True)
    sys.exit(128 + int(signal.Signals[result.interrupted]))
    """
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_stops_the_pipeline_and_exits(tmp_path, signum):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:  # wait until training runs
            if line.startswith("step 3,"):
                break
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)  # a guard against a hang, not the bound
        waited = time.monotonic() - sent
    finally:
        proc.kill()
    result = [line for line in out.splitlines() if line.startswith("RESULT")]
    assert result, err
    _, name, step, _, alive = result[0].split(" ", 4)
    assert name == signal.Signals(signum).name
    assert alive == "[]"
    assert proc.returncode == 128 + signum
    newest = checkpoint.latest(tmp_path)
    assert newest is not None and checkpoint.step_of(newest) == int(step)
    assert checkpoint.load(newest)["global_step"] == int(step)
    print(f"{signal.Signals(signum).name}: exited {waited:.2f} s after the signal")


@pytest.mark.timeout(120)
def test_the_command_exits_soon_after_sigterm_with_a_checkpoint(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "conveyor", "cifar10", "train", "--train_dir",
               str(tmp_path), "--batch_size", "16", "--log_frequency", "1", "--seed", "0",
               "--max_steps", "100000", "--no_summaries", "--torch_threads", "1"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if line.startswith("step 2,"):
                break
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)  # a guard against a hang, not the bound
        waited = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM at step" in out
    assert checkpoint.latest(tmp_path) is not None
    print(f"the command exited {waited:.2f} s after SIGTERM")
