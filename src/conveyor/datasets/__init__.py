"""Datasets in the CIFAR binary formats: the real ones, fetched safely, and two that need
no download — embedded handwritten digits and synthetic data of any size.

* :mod:`conveyor.datasets.cifar10` and :mod:`conveyor.datasets.cifar100`: the formats
  (constants, ``files``, ``class_names``, ``load_records``, ``images_of``,
  ``labels_of``) and ``download``.
* :func:`download` / :func:`download_cifar100`: fetch, verify and extract the archives.
* :func:`embedded`: 1,797 real 8x8 digits, shipped with conveyor, as CIFAR-10 files.
* :func:`synthetic`: learnable CIFAR-10 files of any size.
* :mod:`conveyor.datasets.coco`: COCO instances annotations as detection elements
  (``CocoDetection``; the ``detection`` extra).
* :func:`embedded_detection`: the embedded digits on 128x128 canvases, with COCO
  annotations (:mod:`conveyor.datasets.detection`).

See ``docs/datasets.md`` and ``docs/detection.md``.
"""

from conveyor.datasets import cifar10 as cifar10, cifar100 as cifar100
from conveyor.datasets._cache import cache_dir as cache_dir
from conveyor.datasets._synthetic import synthetic as synthetic
from conveyor.datasets.cifar10 import download as download
from conveyor.datasets.cifar100 import download as download_cifar100
from conveyor.datasets.detection import embedded_detection as embedded_detection
from conveyor.datasets.digits import embedded as embedded

__all__ = [
    "cifar10",
    "cifar100",
    "cache_dir",
    "download",
    "download_cifar100",
    "embedded",
    "embedded_detection",
    "synthetic",
]
