"""COCO instances annotations as detection elements, read with the COCO API.

:class:`CocoDetection` reads an instances JSON file with ``pycocotools`` (the ``detection``
extra: ``pip install "conveyor[detection]"``) and serves, per image, the element::

    {"image": (H, W, 3) uint8, "boxes": (k, 4) float32, "labels": (k,) int64,
     "image_id": int64}

with boxes ``[x0, y0, x1, y1]`` in absolute pixels (:mod:`conveyor.image.boxes`) and
images decoded by :mod:`conveyor.ops.image_codecs` (JPEG, PNG, GIF, BMP; grey images
become RGB). :meth:`CocoDetection.pipeline` makes the pipeline of them.

The rules, each as the COCO tools and the reference training code apply them:

* **Categories** are mapped to the contiguous labels ``0 .. C-1`` in ascending order of
  category id (Detectron2's ``thing_dataset_id_to_contiguous_id``); COCO's 80 ids run
  to 90 with gaps. :attr:`CocoDetection.category_ids` keeps the mapping both ways
  (``category_ids[label]``; :meth:`CocoDetection.label_of`).
* **Crowd annotations** (``iscrowd: 1``) are regions the evaluator ignores, not objects:
  ``crowd="drop"`` (the default) leaves them out of the elements, as torchvision's and
  Detectron2's training code do; ``crowd="keep"`` keeps them and adds ``"iscrowd"``
  ``(k,)`` bool. The evaluator (``pycocotools.cocoeval.COCOeval``) reads them from the
  annotation file itself either way.
* **Degenerate boxes**: ``[x, y, w, h]`` becomes ``[x, y, x + w, y + h]``, clipped to the
  image, and a box left without positive width and height is dropped (torchvision's
  ``ConvertCocoPolysToMask``). Annotations without a ``bbox`` are dropped too.
* **Empty images** (no annotation left) are kept, with ``k = 0``: the evaluator counts
  detections on them as false positives. ``skip_empty=True`` leaves them out, as
  torchvision's training reference does.

:attr:`CocoDetection.dropped` counts what each rule left out. :meth:`CocoDetection.results`
turns a detector's outputs back into COCO's result format for ``COCO.loadRes``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conveyor._optional import require
from conveyor.errors import DataLossError, InvalidArgumentError, NotFoundError

__all__ = ["CHUNK_SIZE", "CocoDetection"]

#: images a unit of :meth:`CocoDetection.pipeline` holds between its stages
CHUNK_SIZE = 16


def load_coco(annotation_file: str | os.PathLike[str]) -> Any:
    """A ``pycocotools.coco.COCO`` of the file, without its progress prints."""
    coco_module = require("pycocotools.coco", "reading COCO annotations")
    path = Path(annotation_file)
    if not path.is_file():
        raise NotFoundError(f"no COCO annotation file {path}")
    with contextlib.redirect_stdout(io.StringIO()):
        return coco_module.COCO(str(path))


class CocoDetection:
    """The images of a COCO instances file, as detection elements.

    Args:
        annotation_file: the instances JSON (``instances_train2017.json``, or the
            embedded set's ``instances_train.json``).
        image_dir: the folder the images' ``file_name`` are relative to.
        crowd: ``"drop"`` or ``"keep"`` (see the module's rules).
        skip_empty: leave out images without annotations.

    Attributes:
        coco: the ``pycocotools.coco.COCO`` object (for ``COCOeval``).
        image_ids: the ids of the images served, ascending, ``int64``.
        category_ids: the category id of each label.
        names: each label's category name.
        dropped: ``{"crowd": n, "degenerate": n, "empty_images": n}``.

    Thread-safe: :meth:`element` may be called from any number of threads.

    Raises:
        ImportError: pycocotools is not installed (naming the ``detection`` extra).
        NotFoundError: no such annotation file.
    """

    def __init__(
        self,
        annotation_file: str | os.PathLike[str],
        image_dir: str | os.PathLike[str],
        *,
        crowd: str = "drop",
        skip_empty: bool = False,
    ) -> None:
        if crowd not in ("drop", "keep"):
            raise InvalidArgumentError(f"crowd must be 'drop' or 'keep', got {crowd!r}")
        self.coco = load_coco(annotation_file)
        self.image_dir = Path(image_dir)
        self.crowd = crowd
        cats = sorted(self.coco.loadCats(self.coco.getCatIds()), key=lambda c: c["id"])
        self.category_ids: tuple[int, ...] = tuple(int(c["id"]) for c in cats)
        self.names: tuple[str, ...] = tuple(str(c["name"]) for c in cats)
        self._labels = {cid: i for i, cid in enumerate(self.category_ids)}
        self.dropped = {"crowd": 0, "degenerate": 0, "empty_images": 0}
        self._targets: dict[int, dict[str, np.ndarray]] = {}
        kept = []
        for image_id in sorted(self.coco.getImgIds()):
            target = self._target(image_id)
            if skip_empty and not len(target["labels"]):
                self.dropped["empty_images"] += 1
                continue
            self._targets[image_id] = target
            kept.append(image_id)
        self.image_ids = np.asarray(kept, np.int64)

    @property
    def num_classes(self) -> int:
        """The number of labels (categories)."""
        return len(self.category_ids)

    def label_of(self, category_id: int) -> int:
        """The label of a category id."""
        try:
            return self._labels[int(category_id)]
        except KeyError:
            raise InvalidArgumentError(f"no category with id {category_id!r}") from None

    def _target(self, image_id: int) -> dict[str, np.ndarray]:
        info = self.coco.imgs[image_id]
        height, width = int(info["height"]), int(info["width"])
        boxes, labels, crowd = [], [], []
        for ann in self.coco.imgToAnns.get(image_id, []):
            is_crowd = bool(ann.get("iscrowd", 0))
            if is_crowd and self.crowd == "drop":
                self.dropped["crowd"] += 1
                continue
            bbox = ann.get("bbox")
            if bbox is None or len(bbox) != 4:
                self.dropped["degenerate"] += 1
                continue
            x, y, w, h = (float(v) for v in bbox)
            x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
            x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
            if not (x1 > x0 and y1 > y0):
                self.dropped["degenerate"] += 1
                continue
            boxes.append((x0, y0, x1, y1))
            labels.append(self.label_of(ann["category_id"]))
            crowd.append(is_crowd)
        target: dict[str, np.ndarray] = {
            "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
            "labels": np.asarray(labels, np.int64),
        }
        if self.crowd == "keep":
            target["iscrowd"] = np.asarray(crowd, bool)
        return target

    def __len__(self) -> int:
        return len(self.image_ids)

    def path(self, index: int) -> Path:
        """The image file of element ``index``."""
        return self.image_dir / self.coco.imgs[int(self.image_ids[index])]["file_name"]

    def annotations(self, index: int) -> dict[str, Any]:
        """Element ``index`` without its image: ``boxes``, ``labels`` (and ``iscrowd``),
        ``image_id``; new arrays each call."""
        image_id = int(self.image_ids[index])
        target: dict[str, Any] = {k: v.copy() for k, v in self._targets[image_id].items()}
        target["image_id"] = np.int64(image_id)
        return target

    def element(self, index: Any) -> dict[str, Any]:
        """Element ``index``, its image decoded.

        Raises:
            NotFoundError: the image file is missing.
            DataLossError: it does not decode, or its size is not the annotated one.
        """
        from conveyor.ops import image_codecs

        index = int(index)
        path = self.path(index)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"COCO image {path} not found") from None
        try:
            image = image_codecs.decode_image(data, channels=3, expand_animations=False)
        except InvalidArgumentError as e:
            raise DataLossError(f"COCO image {path}: {e}") from None
        info = self.coco.imgs[int(self.image_ids[index])]
        if image.shape[:2] != (int(info["height"]), int(info["width"])):
            raise DataLossError(
                f"COCO image {path} is {image.shape[1]}x{image.shape[0]}, the annotations "
                f"say {info['width']}x{info['height']}"
            )
        element = self.annotations(index)
        element["image"] = image
        return element

    def pipeline(
        self,
        shuffle: bool = False,
        seed: int | None = None,
        epochs: int | None = 1,
        threads: int = 1,
        chunk_size: int = CHUNK_SIZE,
    ) -> Any:
        """The elements as a :class:`~conveyor.pipeline.Pipeline`: an index source
        (``from_arrays`` of ``0 .. len - 1``: shuffled per epoch by ``seed``, resumable
        in O(1)) mapped through :meth:`element` on ``threads`` threads (decoding
        releases the GIL). Add augmentation with ``map(fn, rng=True)`` and batches with
        ``batch(n, pad={"image": 0, "boxes": 0, "labels": -1}, lengths={"num_boxes": "boxes"})``.

        ``chunk_size`` images travel together between the stages (and a ``map(fn,
        rng=True)`` draws them from one generator): few, because decoded images are
        large — each stage holds up to ``8 x chunk_size`` of them — and because a thread
        works through a whole chunk, so threads share the work only chunk by chunk.
        """
        from conveyor import pipeline as cp

        index = np.arange(len(self), dtype=np.int64)
        source = cp.from_arrays(
            index, shuffle=shuffle, seed=seed, epochs=epochs, chunk_size=chunk_size
        )
        return source.map(self.element, threads=threads)

    def results(
        self,
        image_ids: Sequence[int] | np.ndarray,
        boxes: Sequence[Any],
        scores: Sequence[Any],
        labels: Sequence[Any],
    ) -> list[dict[str, Any]]:
        """Detections in COCO's result format, for ``coco.loadRes`` and ``COCOeval``.

        Args:
            image_ids: one id per image.
            boxes: per image, ``(d, 4)`` ``[x0, y0, x1, y1]`` in that image's pixels.
            scores: per image, ``(d,)`` confidences.
            labels: per image, ``(d,)`` labels (mapped back to category ids).

        Returns:
            ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]``.
        """
        out = []
        for image_id, b, s, lab in zip(image_ids, boxes, scores, labels):
            b = np.asarray(b, np.float64).reshape(-1, 4)
            for (x0, y0, x1, y1), score, label in zip(b.tolist(), np.ravel(s), np.ravel(lab)):
                out.append(
                    {
                        "image_id": int(image_id),
                        "category_id": self.category_ids[int(label)],
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "score": float(score),
                    }
                )
        return out
