"""Reused output buffers that are never overwritten while someone still holds them.

Writing a batch into a freshly allocated array costs more than the augmentation itself:
every page of a new 885 KB buffer faults on first touch. A :class:`BufferPool` hands out
buffers that were already written, and decides that a buffer is free by its reference
count: while the consumer — or anything else: a slice of it, a ``torch.from_numpy``
tensor, a list of batches kept for later — still refers to the array, it is not handed
out again. So a batch is never overwritten under its holder, whatever the prefetch
depth, and the pool grows only to the number of batches alive at once.

>>> import numpy as np
>>> pool = BufferPool(limit=4)
>>> a = pool.get((2, 3))
>>> b = pool.get((2, 3))      # ``a`` is still held: a second buffer
>>> a is b
False
>>> del a
>>> c = pool.get((2, 3))      # ``a``'s buffer is free again and reused
>>> c.shape, len(pool)
((2, 3), 2)

Thread-safety: ``get`` may be called from any number of threads.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError

__all__ = ["BufferPool"]


class BufferPool:
    """Buffers of one or more shapes, reused once nothing else refers to them.

    Args:
        limit: the most buffers the pool keeps. When every kept buffer of the wanted
            shape is in use, :meth:`get` returns a new array it does not keep (so
            holding many batches costs allocations, never correctness).
        dtype: the buffers' dtype.

    Raises:
        InvalidArgumentError: a ``limit`` that is not a positive int.
    """

    def __init__(self, limit: int = 16, dtype: Any = np.float32) -> None:
        if not isinstance(limit, int | np.integer) or isinstance(limit, bool) or limit < 1:
            raise InvalidArgumentError(f"limit must be a positive int, got {limit!r}")
        self.limit = int(limit)
        self.dtype = np.dtype(dtype)
        self._buffers: list[np.ndarray] = []
        self._lock = threading.Lock()
        probe = [np.empty(1)]
        self._free = self._count(probe, 0)  # the count of a buffer only the pool holds

    @staticmethod
    def _count(buffers: list[np.ndarray], i: int) -> int:
        return sys.getrefcount(buffers[i])

    def get(self, shape: tuple[int, ...]) -> np.ndarray:
        """A C-contiguous buffer of ``shape`` that nobody else holds; its contents are
        whatever was last written to it."""
        shape = tuple(int(n) for n in shape)
        with self._lock:
            buffers = self._buffers
            for i in range(len(buffers)):
                if buffers[i].shape == shape and self._count(buffers, i) <= self._free:
                    return buffers[i]
            buffer = np.empty(shape, self.dtype)
            buffer.fill(0)  # touch every page now, not in the kernel
            if len(buffers) < self.limit:
                buffers.append(buffer)
            return buffer

    def __len__(self) -> int:
        return len(self._buffers)
