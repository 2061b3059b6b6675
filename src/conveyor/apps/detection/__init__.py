"""Faster R-CNN in PyTorch, fed by conveyor (``pip install "conveyor[detector]"``): the
box operations NMS and RoI Align (:mod:`.ops`), the detector (:mod:`.model`), its input
(:mod:`.data`), training (:mod:`.train`), COCO evaluation (:mod:`.eval`) and pictures of
its predictions (:mod:`.predict`). The command line: ``conveyor detection
train|eval|predict`` (:mod:`.cli`); see ``docs/detection.md``."""

import importlib.util

from conveyor._optional import missing


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


# Checked, not imported: listing the package's modules must not load torch.
for _module in ("torch", "pycocotools"):
    if not _installed(_module):
        raise missing(_module, "conveyor.apps.detection", extra="detector")
