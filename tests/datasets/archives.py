"""Small archives in the exact layout of the CIFAR archives."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable

import numpy as np

CIFAR10_MEMBERS = [
    *(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test_batch.bin",
    "batches.meta.txt",
]
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer"]
CIFAR10_NAMES += ["dog", "frog", "horse", "ship", "truck"]


def cifar10_contents(per_file: int = 3, seed: int = 0) -> dict[str, bytes]:
    """The files of ``cifar-10-batches-bin/``: *per_file* random records a batch file."""
    rng = np.random.default_rng(seed)
    contents = {}
    for name in CIFAR10_MEMBERS[:-1]:
        records = rng.integers(0, 256, size=(per_file, 3073), dtype=np.uint8)
        records[:, 0] = rng.integers(0, 10, size=per_file)
        contents[name] = records.tobytes()
    contents["batches.meta.txt"] = ("\n".join(CIFAR10_NAMES) + "\n\n").encode()
    return contents


def tar_gz(
    members: dict[str, bytes], extra: Callable[[tarfile.TarFile], None] | None = None
) -> bytes:
    """A gzipped tar of *members* (name -> bytes; a name ending in ``/`` is a folder),
    then whatever *extra* adds."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return buffer.getvalue()


def cifar10_archive(extra: Callable[[tarfile.TarFile], None] | None = None) -> bytes:
    """``cifar-10-binary.tar.gz`` in miniature: the folder, then its seven files."""
    members = {"cifar-10-batches-bin/": b""}
    members.update({f"cifar-10-batches-bin/{n}": d for n, d in cifar10_contents().items()})
    return tar_gz(members, extra)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
