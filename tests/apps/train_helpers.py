"""A tiny training configuration for the tests."""

from __future__ import annotations

from conveyor.apps.cifar10.train import TrainConfig


def tiny(tmp_path, **overrides) -> TrainConfig:
    """A tutorial net of 8 channels on the embedded digits, batches of 16."""
    values = dict(
        train_dir=str(tmp_path / "train"),
        width=8,
        batch_size=16,
        max_steps=4,
        log_frequency=2,
        seed=0,
        threads=1,
        torch_threads=1,
        summaries=False,
        evaluate=False,
        checkpoint_steps=None,
        checkpoint_secs=None,
        progress=False,
        handle_signals=False,
    )
    values.update(overrides)
    return TrainConfig(**values)
