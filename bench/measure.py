"""Wall time and peak memory of one step of a benchmark.

Peak memory is the growth of this process's resident set size (RSS) over the
step, sampled every few milliseconds in a thread. RSS is what the operating
system (and a container's memory limit) charges, including C allocations that
``tracemalloc`` cannot see, and sampling does not slow the step down the way
tracing every allocation would. Memory freed by earlier steps but kept by the
allocator can hide some growth, so the benchmark seeds in a child process and
collects garbage before each step.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import psutil

T = TypeVar("T")

SAMPLE_EVERY_S = 0.005


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_delta: int  # bytes above the RSS at the start of the step


class _PeakRss:
    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start = self._process.memory_info().rss
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


async def measure(step: Callable[[], Awaitable[T]]) -> tuple[T, Measured]:
    """Run ``step`` once; return its result, the wall time and the peak RSS growth."""
    gc.collect()
    with _PeakRss() as rss:
        started = time.perf_counter()
        result = await step()
        seconds = time.perf_counter() - started
    return result, Measured(seconds, max(0, rss.peak - rss.start))


async def timings(step: Callable[[], Awaitable[object]], runs: int, warmup: int = 1) -> list[float]:
    """Wall times of ``runs`` calls of ``step`` after ``warmup`` unmeasured ones (caches warm)."""
    for _ in range(warmup):
        await step()
    measured = []
    for _ in range(runs):
        started = time.perf_counter()
        await step()
        measured.append(time.perf_counter() - started)
    return measured


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (with 10 runs: the slowest one)."""
    ordered = sorted(values)
    rank = max(1, -(-95 * len(ordered) // 100))
    return ordered[rank - 1]
