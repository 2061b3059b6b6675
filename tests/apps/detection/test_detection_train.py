"""Training, evaluating and drawing the detector: the shared loop's log lines,
checkpoints and exact resume; COCO's metrics of known detections; the pictures; the
command line. A tiny set (8 training, 4 test images) and a few steps keep it quick."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from conveyor.apps.cifar10 import checkpoint
from conveyor.apps.detection import cli, data
from conveyor.apps.detection.eval import (
    METRICS,
    coco_metrics,
    evaluate_checkpoint,
    load_ema_model,
)
from conveyor.apps.detection.predict import PREDICTED_COLOR, TRUE_COLOR, draw, predict
from conveyor.apps.detection.train import TrainConfig, learning_rate_at, train
from conveyor.datasets.detection import embedded_detection
from conveyor.errors import InvalidArgumentError, NotFoundError
from conveyor.ops.image_codecs import decode_png

pytest.importorskip("pycocotools")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return embedded_detection(tmp_path_factory.mktemp("data") / "d", n_train=8, n_test=4)


def tiny(root, train_dir, **overrides) -> TrainConfig:
    values = dict(
        train_dir=str(train_dir),
        data_dir=str(root),
        max_steps=4,
        batch_size=2,
        log_frequency=2,
        warmup_steps=2,
        checkpoint_steps=None,
        checkpoint_secs=None,
        threads=1,
        torch_threads=1,
        seed=0,
        progress=False,
        summaries=False,
        evaluate=False,
        handle_signals=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.timeout(180)
def test_train_logs_each_interval_checkpoints_and_evaluates_the_moving_average(root, tmp_path):
    lines: list[str] = []
    result = train(tiny(root, tmp_path / "t", evaluate=True), log=lines.append)
    assert result.global_step == 4
    assert [line.split(",")[0] for line in lines[:2]] == ["step 2", "step 4"]
    assert lines[2].startswith("trained 4 steps in ") and "input stall " in lines[2]
    assert lines[3].startswith("AP = ") and ", AP50 = " in lines[3]
    assert set(result.losses) == {
        "total_loss",
        "loss/rpn_objectness",
        "loss/rpn_box",
        "loss/classification",
        "loss/box",
    }
    assert result.loss == result.losses["total_loss"]
    assert result.checkpoint == tmp_path / "t" / "model.ckpt-4.pt"
    state = checkpoint.load(result.checkpoint)
    assert state["global_step"] == 4
    assert state["config"]["num_classes"] == 10  # filled in from the training split
    assert set(state) >= {"model", "optimizer", "ema", "rng", "data", "config"}
    # The evaluation after training is the checkpoint's: the same averaged weights.
    again = evaluate_checkpoint(result.checkpoint)
    assert again.global_step == 4
    assert again.images == 4
    assert again.metrics == result.metrics
    assert set(result.metrics) == set(METRICS)


@pytest.mark.timeout(240)
def test_resume_at_k_gives_the_parameters_of_an_uninterrupted_run_at_2k(root, tmp_path):
    whole = train(tiny(root, tmp_path / "a", max_steps=6, threads=2))
    train(tiny(root, tmp_path / "b", max_steps=3, threads=2))
    resumed = train(tiny(root, tmp_path / "b", max_steps=6, threads=2, resume=True))
    assert resumed.global_step == 6
    a = checkpoint.load(whole.checkpoint)
    b = checkpoint.load(resumed.checkpoint)
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    for name, value in a["ema"]["shadow"].items():
        assert torch.equal(value, b["ema"]["shadow"][name]), name
    assert a["data"] == b["data"]


@pytest.mark.timeout(180)
def test_letterboxed_training_and_the_summaries(root, tmp_path):
    tensorboard = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    config = tiny(root, tmp_path / "t", image_size=64, summaries=True, histogram_frequency=4)
    train(config)
    events = tensorboard.EventAccumulator(config.train_dir, size_guidance={"images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {
        "total_loss",
        "loss/rpn_objectness",
        "loss/rpn_box",
        "loss/classification",
        "loss/box",
        "learning_rate",
        "input/stall_percent",
    } <= scalars
    assert [e.step for e in events.Scalars("total_loss")] == [2, 4]
    assert events.Tags()["images"] == ["input/boxes"]
    picture = events.Images("input/boxes")[0]
    assert (picture.height, picture.width) == (64, 2 * 64)  # the batch of 2, side by side


def test_the_learning_rate_warms_up_then_decays_along_a_cosine():
    c = TrainConfig(max_steps=10, warmup_steps=4, lrn_rate=0.04)
    rates = [learning_rate_at(c, s) for s in range(11)]
    # warm-up: 0.04 * (s + 1) / 4; then 0.02 * (1 + cos(pi * (s - 4) / 6))
    expected = [0.01, 0.02, 0.03, 0.04] + [
        0.02 * (1 + np.cos(np.pi * (s - 4) / 6)) for s in range(4, 11)
    ]
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-15)
    assert rates[-1] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipe", "mirror"),
        ("image_size", 30),
        ("batch_size", 0),
        ("warmup_steps", -1),
        ("histogram_frequency", 0),
    ],
)
def test_bad_training_arguments_are_refused_with_their_name(field, value):
    with pytest.raises(InvalidArgumentError, match=field):
        TrainConfig(**{field: value})


def test_a_missing_data_folder_names_itself(tmp_path):
    with pytest.raises(NotFoundError, match="no data folder"):
        train(TrainConfig(train_dir=str(tmp_path / "t"), data_dir=str(tmp_path / "nowhere")))


def _truth(dataset) -> list[dict]:
    """The annotations as detections with score 1."""
    out = []
    for ann in dataset.coco.loadAnns(dataset.coco.getAnnIds()):
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "bbox": ann["bbox"],
                "score": 1.0,
            }
        )
    return out


def test_coco_metrics_of_the_true_boxes_are_one_and_of_nothing_zero(root):
    dataset = data.dataset(root, "test")
    metrics, table = coco_metrics(dataset, _truth(dataset))
    assert metrics["AP"] == 1.0 and metrics["AP50"] == 1.0 and metrics["AP75"] == 1.0
    assert metrics["AR100"] == 1.0
    assert table.count("Average Precision") == 6 and table.count("Average Recall") == 6
    empty, text = coco_metrics(dataset, [])
    assert empty == dict.fromkeys(METRICS, 0.0) and text == "no detections\n"


def test_coco_metrics_count_a_wrong_class_as_a_miss(root):
    dataset = data.dataset(root, "test")
    truth = _truth(dataset)
    # every detection labelled the next digit: no true positive anywhere
    wrong = [dict(d, category_id=d["category_id"] % 10 + 1) for d in truth]
    metrics, _ = coco_metrics(dataset, wrong)
    assert metrics["AP50"] == 0.0 and metrics["AR100"] == 0.0


def test_draw_outlines_true_boxes_green_and_predictions_red():
    img = np.zeros((8, 8, 3), np.float32)
    out = draw(img, [[0, 0, 4, 4]], [[4, 4, 8, 8]], [0.9], [3], names=None, scale=1)
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)
    assert tuple(out[0, 0]) == TRUE_COLOR and tuple(out[3, 2]) == TRUE_COLOR
    assert tuple(out[1, 1]) == (0, 0, 0)  # inside the true box's outline
    assert tuple(out[7, 7]) == PREDICTED_COLOR
    scaled = draw(img, [[0, 0, 4, 4]], np.zeros((0, 4)), [], [], scale=3)
    assert scaled.shape == (24, 24, 3)
    assert tuple(scaled[11, 0]) == TRUE_COLOR and tuple(scaled[12, 0]) == (0, 0, 0)
    with pytest.raises(InvalidArgumentError, match="scale"):
        draw(img, [], [], [], [], scale=0)


@pytest.mark.timeout(180)
def test_predict_writes_one_picture_per_image_and_a_grid(root, tmp_path):
    result = train(tiny(root, tmp_path / "t", max_steps=2))
    out = predict(result.checkpoint, tmp_path / "p", count=3, score_threshold=0.0, scale=2)
    assert [p.name for p in out.files] == ["000001.png", "000002.png", "000003.png"]
    assert out.global_step == 2
    for path in out.files:
        assert decode_png(path.read_bytes()).shape == (256, 256, 3)
    grid = decode_png(out.grid.read_bytes())
    assert grid.shape == (4 + 260, 4 + 4 * 260, 3)  # one row of four slots, three used
    with pytest.raises(InvalidArgumentError, match="count"):
        predict(result.checkpoint, tmp_path / "p", count=0)


@pytest.mark.timeout(300)
def test_the_command_line_trains_evaluates_and_draws(root, tmp_path, capsys):
    train_dir = tmp_path / "t"
    flags = ["--data_dir", str(root), "--train_dir", str(train_dir), "--max_steps", "2"]
    flags += ["--batch-size", "2", "--log_frequency", "1", "--threads", "1", "--no_summaries"]
    assert cli.main(["train", *flags, "--torch_threads", "1"], exit_on_signal=False) == 0
    said = capsys.readouterr().out
    assert "step 1, loss = " in said and "step 2, loss = " in said
    assert "COCO AP = " in said and "on the test split" in said
    assert (
        cli.main(["eval", "--checkpoint_dir", str(train_dir), "--run_once", "--no_summaries"]) == 0
    )
    said = capsys.readouterr().out
    assert "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]" in said
    assert ": step 2, AP = " in said and "(4 images)" in said
    out = tmp_path / "pictures"
    assert (
        cli.main(
            ["predict", "--checkpoint_dir", str(train_dir), "--output", str(out), "--count", "2"]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["000001.png", "000002.png", "grid.png"]
    assert "step 2: 2 pictures in" in capsys.readouterr().out
    assert (
        cli.main(
            ["eval", "--checkpoint_dir", str(tmp_path / "none"), "--run_once", "--no_summaries"]
        )
        == 1
    )


def test_predict_without_a_checkpoint_says_to_train_first(tmp_path):
    with pytest.raises(NotFoundError, match="conveyor detection train"):
        cli.main(["predict", "--checkpoint_dir", str(tmp_path)])


def test_the_launcher_runs_the_detection_command_as_workers():
    args = cli.parser().parse_args(["train", "--nproc", "2", "--max_steps", "5"])
    command = cli.launch_command(args, ["--nproc", "2", "--max_steps", "5"])
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert command[command.index("--nproc_per_node") + 1] == "2"
    assert "--standalone" in command
    assert command[-5:] == ["-m", "conveyor", "detection", "--max_steps", "5"]


def test_the_train_flags_make_the_config():
    args = cli.parser().parse_args(
        ["train", "--image-size", "96", "--recipe", "flip", "--lrn_rate", "0.01", "--no_eval"]
    )
    config = cli.train_config(args)
    defaults = TrainConfig()
    assert (config.image_size, config.recipe, config.lrn_rate) == (96, "flip", 0.01)
    assert config.evaluate is False
    same = {
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in ("image_size", "recipe", "lrn_rate", "evaluate", "torch_threads")
        and f.name != "handle_signals"
    }
    assert {n: getattr(config, n) for n in same} == {n: getattr(defaults, n) for n in same}


def test_a_checkpoints_config_rebuilds_its_model(root, tmp_path):
    result = train(tiny(root, tmp_path / "t", max_steps=1))
    model, config, step = load_ema_model(result.checkpoint)
    assert step == 1 and config.num_classes == 10 and not model.training
    state = checkpoint.load(result.checkpoint)
    for name, value in model.state_dict().items():
        assert torch.equal(value, state["ema"]["shadow"][name]), name
    assert json.loads(json.dumps(state["config"])) == state["config"]  # plain values


def _env() -> dict[str, str]:
    import os
    from pathlib import Path

    import conveyor

    env = dict(os.environ)
    src = str(Path(conveyor.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.timeout(240)
def test_two_processes_train_on_their_shards_and_checkpoint_both_positions(root, tmp_path):
    import subprocess
    import sys

    pytest.importorskip("torch.distributed")
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("needs torch.distributed with gloo")
    train_dir = tmp_path / "t"
    command = [sys.executable, "-m", "conveyor", "detection", "train", "--data_dir", str(root)]
    command += ["--train_dir", str(train_dir), "--max_steps", "4", "--batch_size", "4"]
    command += ["--log_frequency", "2", "--threads", "1", "--no_summaries", "--nproc", "2"]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("step 2, loss = ") == 1  # rank 0 alone logs
    assert "COCO AP = " in done.stdout
    state = checkpoint.load(train_dir / "model.ckpt-4.pt")
    ranks = state["data_ranks"]
    assert len(ranks) == 2 and ranks[0] != ranks[1]
    # each rank sampled anchors and proposals from a generator of its own, kept too
    rngs = [r["torch"] for r in state["rng_ranks"]]
    assert len(rngs) == 2 and not torch.equal(rngs[0], rngs[1])
    assert torch.equal(rngs[0], state["rng"]["torch"])
    # one process cannot take over two processes' positions
    with pytest.raises(InvalidArgumentError, match="2 process"):
        train(tiny(root, train_dir, max_steps=6, resume=True))


@pytest.mark.timeout(180)
def test_sigint_checkpoints_and_exits_with_130(root, tmp_path):
    import signal
    import subprocess
    import sys

    train_dir = tmp_path / "t"
    command = [sys.executable, "-m", "conveyor", "detection", "train", "--data_dir", str(root)]
    command += ["--train_dir", str(train_dir), "--max_steps", "100000", "--batch_size", "2"]
    command += ["--log_frequency", "1", "--threads", "1", "--no_summaries", "--no-progress"]
    command += ["--checkpoint_steps", "100000", "--torch_threads", "1"]
    child = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("step 2, loss"):
            break
    child.send_signal(signal.SIGINT)
    rest = child.stdout.read()
    assert child.wait(timeout=120) == 130
    assert "stopped by SIGINT at step " in rest
    step = int(rest.split("stopped by SIGINT at step ")[1].split(";")[0])
    assert step >= 2
    assert [p.name for p in checkpoint.list_checkpoints(train_dir)] == [f"model.ckpt-{step}.pt"]


def test_an_eval_split_with_other_categories_is_refused_before_training(root, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for split in ("train", "test"):
        (other / split).symlink_to(root / split)
    (other / "instances_train.json").write_text((root / "instances_train.json").read_text())
    test = json.loads((root / "instances_test.json").read_text())
    test["categories"] = test["categories"][:-1]  # no "nine"
    test["annotations"] = [a for a in test["annotations"] if a["category_id"] != 10]
    (other / "instances_test.json").write_text(json.dumps(test))
    lines: list[str] = []
    with pytest.raises(InvalidArgumentError, match="categories"):
        train(tiny(other, tmp_path / "t", evaluate=True), log=lines.append)
    assert lines == []  # not a step taken


def test_a_missing_eval_split_is_found_before_training(root, tmp_path):
    lines: list[str] = []
    with pytest.raises(NotFoundError, match="val2017"):
        train(tiny(root, tmp_path / "t", evaluate=True, eval_split="val2017"), log=lines.append)
    assert lines == []
