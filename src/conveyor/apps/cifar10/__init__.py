"""The CIFAR-10 training system in PyTorch, fed by conveyor (``pip install
"conveyor[train]"``): the tutorial's ``cifar10.py`` (:mod:`.models`),
``cifar10_train.py`` (:mod:`.train`) and ``cifar10_eval.py`` (:mod:`.eval`), with the
ResNet, a moving average of the weights (:mod:`.ema`), checkpoints (:mod:`.checkpoint`)
and TensorBoard summaries (:mod:`.summaries`). The command line: ``conveyor cifar10
train|eval`` (:mod:`.cli`); see ``docs/cifar10.md``."""

import importlib.util

from conveyor._optional import missing


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


# Checked, not imported: listing the package's modules must not load torch.
if not _installed("torch"):
    raise missing("torch", "conveyor.apps.cifar10", extra="train")
