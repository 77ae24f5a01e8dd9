"""Work shared out to threads without letting the thread count change a single bit.

The rule every caller follows: the work is cut into chunks whose bounds depend only on the
data (never on how many threads there are), each chunk's arithmetic runs on one thread with
single-threaded BLAS, and partial results are combined in chunk order. Threads only decide
who computes which chunk, so 1, 2 or 16 threads give the same bits, only faster.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Callable, Iterable, Iterator, TypeVar

from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")


def resolve_threads(threads: int) -> int:
    """0 means one per core."""
    return threads or os.cpu_count() or 1


@cache
def _controller() -> ThreadpoolController:
    # Found once: looking the BLAS libraries up again at every call costs real time.
    return ThreadpoolController()


def blas_threads(n: int):
    """Context in which BLAS calls use n threads (process-wide)."""
    return _controller().limit(limits=n, user_api="blas")


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive chunks of `size` items covering range(n)."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


class Workers:
    """A fixed pool of threads mapping a function over chunks, results in chunk order."""

    def __init__(self, threads: int):
        self.threads = resolve_threads(threads)
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self._local = threading.local()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn over items, yielded in the items' order whichever thread ran each."""
        if self._pool is None:
            return map(fn, items)
        return self._pool.map(fn, items)

    def buffer(self, key: str, make: Callable[[], T]) -> T:
        """A per-thread scratch object (for example a cache-sized float buffer)."""
        found = getattr(self._local, key, None)
        if found is None:
            found = make()
            setattr(self._local, key, found)
        return found

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
