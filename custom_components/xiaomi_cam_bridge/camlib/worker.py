"""Where stills are decoded and encoded, and how their memory goes back to the system.

Why one thread rather than the event loop's executor: there, the stills of a dashboard
full of cameras are decoded on as many threads at once, and with glibc's malloc each
thread gets an arena of its own that keeps the peak of a 720p decoder (several MB) long
after the work is done: memory grows with the number of cameras asked for together.
One thread keeps one decoder's working set, whatever the number of cameras; a still
takes ~11 ms of CPU at 720p, so eight cameras refreshed together wait ~0.1 s at most.

`release_free_memory` hands free heap memory back to the system (glibc's
`malloc_trim`; other C libraries have no such call and are left alone). glibc returns
the free top of a thread's arena only once it exceeds a threshold that rises to the
largest block the process ever freed (a decoded picture, an RGB still: megabytes), so
every keyframe tap thread would otherwise keep that much, per camera.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
import ctypes
import ctypes.util
from dataclasses import dataclass
import functools
import threading
import time
from typing import Final

# How often free memory is handed back at most, process-wide. A trim walks the free
# lists of every arena (well under a millisecond in a Home Assistant process).
TRIM_INTERVAL: Final = 1.0


def _find_malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except OSError, AttributeError, TypeError:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


@dataclass(slots=True)
class TrimStats:
    """What the trims cost so far (for diagnostics and the benchmark)."""

    count: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0


class _Trimmer:
    """glibc's malloc_trim behind one process-wide rate limit."""

    def __init__(self, trim: Callable[[int], int] | None) -> None:
        self._trim = trim
        self._lock = threading.Lock()
        self._last = -float("inf")
        self.stats = TrimStats()

    @property
    def available(self) -> bool:
        return self._trim is not None

    def release(self, min_interval: float) -> bool:
        if self._trim is None:
            return False
        now = time.monotonic()
        with self._lock:
            if now - self._last < min_interval:
                return False
            self._last = now
        self._trim(0)
        took = time.monotonic() - now
        with self._lock:
            self.stats.count += 1
            self.stats.total_seconds += took
            self.stats.max_seconds = max(self.stats.max_seconds, took)
        return True


_TRIMMER: Final = _Trimmer(_find_malloc_trim())


def release_free_memory(*, min_interval: float = TRIM_INTERVAL) -> bool:
    """Hand free heap memory back unless that was done less than min_interval s ago.

    Thread-safe and cheap to call often. True when a trim was made.
    """
    return _TRIMMER.release(min_interval)


def trim_stats() -> TrimStats:
    """Return a copy of what the trims cost so far, process-wide."""
    stats = _TRIMMER.stats
    return TrimStats(stats.count, stats.total_seconds, stats.max_seconds)


class StillWorker:
    """A single worker thread for still decoding and encoding, shared by engines.

    The thread starts with the first job and is joined by `async_stop`; a later job
    starts a new one, so engines can keep their worker across a stop.
    """

    def __init__(self, *, name: str = "still", trim_interval: float = TRIM_INTERVAL) -> None:
        """Prepare; no thread yet. trim_interval: see release_free_memory."""
        self._name = name
        self.trim_interval = trim_interval
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._queued = 0  # jobs submitted and not finished
        self.jobs = 0  # jobs finished

    @property
    def running(self) -> bool:
        """True while the worker has a thread (or is about to start one)."""
        return self._executor is not None

    def submit[T](self, func: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Run func(*args) on the worker thread; call in the event loop."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        with self._lock:
            self._queued += 1
        return asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(self._job, func, *args)
        )

    def _job[T](self, func: Callable[..., T], *args: object) -> T:
        try:
            return func(*args)
        finally:
            with self._lock:
                self._queued -= 1
                self.jobs += 1
                idle = self._queued == 0
            if idle:  # after a burst, not between its stills
                release_free_memory(min_interval=self.trim_interval)

    async def async_stop(self) -> None:
        """Let the queued jobs finish and join the thread; call in the event loop."""
        # Swapped in the loop, where submit runs: no job can reach a stopped executor.
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
