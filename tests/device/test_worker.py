"""The still worker: one thread for every engine, and free memory handed back."""

from __future__ import annotations

import asyncio
import platform
import threading

import psutil
import pytest

from custom_components.xiaomi_cam_bridge.camlib.snapshot import SnapshotEngine
from custom_components.xiaomi_cam_bridge.camlib.worker import (
    StillWorker,
    release_free_memory,
    trim_stats,
)
from tests.peers.rtsp_fixtures import RtspServer

GLIBC = platform.libc_ver()[0] == "glibc"


async def test_jobs_run_one_at_a_time_on_one_thread() -> None:
    """Jobs from many callers never overlap and all run on the worker's thread."""
    worker = StillWorker(name="test_still")
    busy = threading.Lock()
    overlaps: list[int] = []
    threads: set[int] = set()

    def job(n: int) -> int:
        if not busy.acquire(blocking=False):
            overlaps.append(n)
            return n
        try:
            threads.add(threading.get_ident())
            sum(range(20_000))  # long enough for a second thread to collide
            return n * 2
        finally:
            busy.release()

    try:
        results = await asyncio.gather(*(worker.submit(job, n) for n in range(50)))
    finally:
        await worker.async_stop()
    assert results == [n * 2 for n in range(50)]
    assert overlaps == []
    assert len(threads) == 1
    assert threading.get_ident() not in threads
    assert worker.jobs == 50


async def test_stop_joins_and_a_later_job_starts_again() -> None:
    """async_stop joins the thread; the worker can be used again afterwards."""
    worker = StillWorker(name="test_restart")

    def names() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("test_restart")]

    assert not worker.running
    assert await worker.submit(threading.current_thread) is not threading.current_thread()
    assert names() == ["test_restart_0"]
    await worker.async_stop()
    assert names() == []
    assert not worker.running
    await worker.async_stop()  # twice is harmless
    assert await worker.submit(pow, 2, 10) == 1024
    assert worker.running
    await worker.async_stop()
    assert names() == []


async def test_a_failing_job_raises_for_its_caller_only() -> None:
    """An exception reaches the caller of that job; the worker goes on."""
    worker = StillWorker(name="test_fail")
    try:
        with pytest.raises(ZeroDivisionError):
            await worker.submit(divmod, 1, 0)
        assert await worker.submit(divmod, 7, 2) == (3, 1)
    finally:
        await worker.async_stop()
    assert worker.jobs == 2


def test_release_is_rate_limited() -> None:
    """Within min_interval of the last trim nothing is done; glibc only."""
    before = trim_stats().count
    first = release_free_memory(min_interval=0.0)
    assert first is GLIBC
    assert release_free_memory(min_interval=3600.0) is False
    assert trim_stats().count == before + int(GLIBC)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_release_hands_a_threads_free_memory_back() -> None:
    """What a thread freed inside its arena leaves the process's RSS after a trim.

    64 KiB blocks stay below glibc's mmap threshold: they come from the thread's arena,
    and one block kept at the top holds the freed ones below it in place.
    """
    process = psutil.Process()
    held: list[bytes] = []
    freed_mb: list[float] = []

    def churn() -> None:
        blocks = [b"\x01" * (64 * 1024) for _ in range(1200)]  # 75 MiB, every page written
        held.append(blocks[-1])
        del blocks
        before = process.memory_info().rss
        assert release_free_memory(min_interval=0.0)
        freed_mb.append((before - process.memory_info().rss) / 2**20)

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    assert freed_mb[0] > 50


async def test_worker_trims_after_a_burst(rtsp_server: RtspServer) -> None:
    """An engine's stills go through the worker, which trims once its queue is empty."""
    worker = StillWorker(name="test_engine_still", trim_interval=0.0)
    engine = SnapshotEngine("cam1", rtsp_server.url("cam1"), warm_period=0, worker=worker)
    before = trim_stats().count
    try:
        frames = await asyncio.gather(*(engine.async_get_frame(width) for width in (320, 640)))
    finally:
        await engine.async_close()
        await worker.async_stop()
    assert {frame.provenance.width for frame in frames} == {320, 640}
    assert worker.jobs == 3  # one decode, two encodes
    if GLIBC:
        assert 1 <= trim_stats().count - before <= worker.jobs
