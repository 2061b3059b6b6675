from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import conveyor
from conveyor.__main__ import main as conveyor_main
from conveyor.apps.cifar10 import checkpoint
from conveyor.apps.cifar10.cli import launch_command, main, parser

SRC = str(Path(conveyor.__file__).resolve().parent.parent)


def _parse(*args: str):
    return parser().parse_args(["train", *args])


def test_train_dir_is_accepted_with_an_underscore_or_a_dash():
    assert _parse("--train_dir", "/a").train_dir == "/a"
    assert _parse("--train-dir", "/b").train_dir == "/b"
    assert _parse("--max-steps", "3").max_steps == 3


def test_the_tutorials_flags_parse():
    args = _parse(
        "--data_dir", "/d", "--max_steps", "7", "--batch_size", "64", "--model", "resnet",
        "--num_residual_units", "3", "--use_bottleneck", "--lrn_rate", "0.2",
        "--log_frequency", "5", "--seed", "4", "--resume",
    )  # fmt: skip
    assert (args.data_dir, args.max_steps, args.batch_size, args.model) == ("/d", 7, 64, "resnet")
    assert (args.num_residual_units, args.use_bottleneck, args.lrn_rate) == (3, True, 0.2)
    assert (args.log_frequency, args.seed, args.resume) == (5, 4, True)


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--data_dir", "--train_dir", "--max_steps", "--batch_size", "--model",
                 "--num_residual_units", "--use_bottleneck", "--lrn_rate", "--log_frequency",
                 "--seed", "--resume"):  # fmt: skip
        assert flag in text, flag
    with pytest.raises(SystemExit):
        parser().parse_args(["eval", "--help"])
    text = capsys.readouterr().out
    for flag in ("--eval_dir", "--checkpoint_dir", "--eval_interval_secs", "--num_examples",
                 "--run_once"):  # fmt: skip
        assert flag in text, flag


def test_nproc_runs_the_same_command_under_torch_distributed_run():
    argv = ["train", "--nproc", "2", "--max-steps", "3", "--nnodes=1", "--batch_size", "8"]
    command = launch_command(parser().parse_args(argv), argv)
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert command[command.index("--nproc_per_node") + 1] == "2"
    assert "--standalone" in command
    tail = command[command.index("conveyor") - 1 :]
    assert tail == ["-m", "conveyor", "cifar10", "train", "--max-steps", "3", "--batch_size", "8"]


def test_nodes_meet_at_a_c10d_rendezvous_that_node_0_hosts():
    def command(rank: str) -> list[str]:
        argv = ["train", "--nnodes", "2", "--node-rank", rank, "--master_addr", "10.0.0.1",
                "--master_port", "29400"]  # fmt: skip
        return launch_command(parser().parse_args(argv), argv)

    first, second = command("0"), command("1")
    for c in (first, second):
        assert c[c.index("--rdzv_backend") + 1] == "c10d"
        assert c[c.index("--rdzv_endpoint") + 1] == "10.0.0.1:29400"
        assert c[c.index("--nnodes") + 1] == "2"
        assert "--standalone" not in c
        assert c[-2:] == ["cifar10", "train"]
    assert first[first.index("--rdzv_conf") + 1] == "is_host=1"
    assert second[second.index("--rdzv_conf") + 1] == "is_host=0"


def test_launcher_flags_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--nproc", "0"])
    assert "--nproc must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--nnodes", "2", "--node_rank", "2"])
    assert "--node_rank must be in 0..1" in capsys.readouterr().err


@pytest.mark.timeout(180)
def test_conveyor_cifar10_train_then_eval(tmp_path, capsys):
    train_dir = str(tmp_path / "train")
    status = conveyor_main(
        ["cifar10", "train", "--train-dir", train_dir, "--max_steps", "3", "--batch_size",
         "16", "--log_frequency", "3", "--seed", "0", "--torch_threads", "1", "--no_summaries",
         "--threads", "1"]
    )  # fmt: skip
    assert status == 0
    out = capsys.readouterr().out
    assert "step 3, loss = " in out
    assert "precision @ 1 = " in out
    assert checkpoint.step_of(checkpoint.latest(train_dir)) == 3
    status = conveyor_main(
        ["cifar10", "eval", "--checkpoint_dir", train_dir, "--eval_dir", str(tmp_path / "e"),
         "--run_once"]
    )  # fmt: skip
    assert status == 0
    assert "step 3, precision @ 1 = " in capsys.readouterr().out


def test_the_facade_imports_the_training_system_only_for_its_command():
    code = (
        "import sys, conveyor.__main__ as m\n"
        "m.main(['demo', '--records', '512'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert not [n for n in sys.modules if n.startswith('conveyor.apps')]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": SRC}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_without_data_dir_the_digits_defaults_apply_and_flags_override_them():
    from conveyor.apps.cifar10.cli import DIGITS_DEFAULTS, train_config

    digits = train_config(_parse())
    assert (digits.data_dir, digits.input_recipe, digits.lr_schedule) == (None, "digits", "cosine")
    assert (digits.max_steps, digits.lrn_rate, digits.width, digits.seed) == (300, 0.02, 32, 0)
    assert digits.max_steps == DIGITS_DEFAULTS["max_steps"]
    assert train_config(_parse("--max_steps", "7", "--seed", "3")).max_steps == 7
    real = train_config(_parse("--data_dir", "/d"))
    assert (real.max_steps, real.lrn_rate, real.width, real.seed) == (1_000_000, 0.1, 64, None)
    assert (real.input_recipe, real.lr_schedule, real.checkpoint_steps) == (
        "tutorial",
        "tutorial",
        1000,
    )
    resnet = train_config(_parse("--data_dir", "/d", "--model", "resnet"))
    assert (resnet.input_recipe, resnet.lr_schedule) == ("standard", "resnet")
    assert train_config(_parse()).torch_threads >= 1
