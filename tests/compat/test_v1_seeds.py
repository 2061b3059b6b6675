"""The seeds' programs, in examples/seeds/, run as subprocesses and print what the
seeds show."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "examples" / "seeds"
SRC = Path(__file__).resolve().parents[2] / "src"


def _run(name, cwd):
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, str(SEEDS / name)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(90)
def test_seed_000_queue_runner_loop_stops_cleanly(tmp_path):
    out = _run("seed_000_queue_runner.py", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "steps run: 1000\nthreads alive: 0\n"
    assert out.stderr == ""


@pytest.mark.timeout(90)
def test_seed_001_reader_prints_two_consecutive_records(tmp_path):
    out = _run("seed_001_fixed_length_reader.py", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "b'abcd'\n\n\nb'efgh'\n"


@pytest.mark.timeout(90)
def test_seed_002_whole_file_reader_writes_15_files_over_5_epochs(tmp_path):
    out = _run("seed_002_whole_file_reader.py", tmp_path)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.strip().splitlines()[-1].startswith("conveyor.core.errors.OutOfRangeError")
    written = sorted((tmp_path / "read").iterdir(), key=lambda p: int(p.stem.split("_")[1]))
    assert [p.name for p in written] == [f"test_{i}.jpg" for i in range(1, 16)]
    images = [(tmp_path / "img" / f"{n}.jpg").read_bytes() for n in (1, 2, 3)]
    assert [p.read_bytes() for p in written] == images * 5


@pytest.mark.timeout(90)
def test_seed_003_coordinator_prints_the_seeds_output(tmp_path):
    out = _run("seed_003_coordinator.py", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "image size (5, 224, 224, 3),label size :(5,)\n"
        "************\n"
        "(3, 224, 224, 3) [0 1 2]\n"
        "************\n"
        "(3, 224, 224, 3) [3 4 0]\n"
        "************\n"
        "(3, 224, 224, 3) [1 2 3]\n"
        "************\n"
        "done! now lets kill all the threads……\n"
        "all threads are asked to stop!\n"
        "all threads are stopped!\n"
    )
    assert out.stderr == ""
