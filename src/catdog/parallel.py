"""Work shared out to threads without letting the thread count change a single bit.

The rule every caller follows: the work is cut into chunks whose bounds depend only on the
data (never on how many threads there are), each chunk's arithmetic runs on one thread with
single-threaded BLAS, and partial results are combined in chunk order. Threads only decide
who computes which chunk, so 1, 2 or 16 threads give the same bits, only faster.
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Callable, Iterable, Iterator, TypeVar

from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")
ROW_BLOCK_ELEMENTS = 1 << 17  # elementwise work per block of rows: 512 KB of float32


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
    """`threads` threads mapping a function over chunks, results in chunk order: the calling
    thread and a fixed pool of threads - 1 more, which all take the next chunk as they free up.
    (A caller that only waited would cost a thread hand-off per map: a tenth of a millisecond,
    as long as a whole small product.)"""

    def __init__(self, threads: int):
        self.threads = resolve_threads(threads)
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        self._local = threading.local()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn over items, yielded in the items' order whichever thread ran each."""
        items = list(items)
        if self._pool is None or len(items) < 2:
            return map(fn, items)
        return self._shared(fn, items)

    def _shared(self, fn: Callable[[T], R], items: list[T]) -> Iterator[R]:
        results: list = [None] * len(items)
        failed: list[BaseException | None] = [None] * len(items)
        done = [threading.Event() for _ in items]
        order = iter(range(len(items)))
        lock = threading.Lock()

        def take() -> bool:
            """Run the next chunk nobody has taken; False when none is left."""
            with lock:
                i = next(order, None)
            if i is None:
                return False
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # re-raised in the calling thread, in chunk order
                failed[i] = exc
                done[i].set()
                if not isinstance(exc, Exception):
                    raise  # Ctrl-C (in the calling thread): stop at once
                return True
            done[i].set()
            return True

        def work() -> None:
            while take():
                pass

        for _ in range(min(self.threads - 1, len(items) - 1)):
            self._pool.submit(work)
        for i in range(len(items)):
            while not done[i].is_set() and take():
                pass
            done[i].wait()
            if failed[i] is not None:
                raise failed[i]
            yield results[i]
            results[i] = None  # the caller has it: do not hold every chunk's result

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


def by_rows(workers: Workers | None, shape: tuple[int, ...], fn: Callable[[slice], None]) -> None:
    """fn(rows) over blocks of the rows of an array of `shape`, fixed by the shape, shared out
    to the workers' threads (all at once without workers). For elementwise arithmetic only,
    where each element's result is its own: the blocks decide who computes what, nothing else."""
    if workers is None or not shape:
        fn(slice(None))
        return
    rows = max(1, ROW_BLOCK_ELEMENTS // max(1, math.prod(shape[1:])))
    list(workers.map(lambda bounds: fn(slice(*bounds)), chunks(shape[0], rows)))
