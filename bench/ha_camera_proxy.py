"""Benchmark part: cache hits through Home Assistant's /api/camera_proxy/<entity_id>.

Run by bench/bench_snapshot.py as `pytest bench/ha_camera_proxy.py` (phcc gives a real
Home Assistant and an authenticated HTTP client). Environment: BENCH_RTSP_URL (a mount
of the benchmark's RTSP server), BENCH_RESULT (JSON file to write), BENCH_REQUESTS.
Not part of the test suite: it measures, and fails only when the setup does not work.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import time
from typing import Any

from homeassistant.const import __version__
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.xiaomi_cam_bridge.camlib.frame import Frame
from custom_components.xiaomi_cam_bridge.const import SNAPSHOT_FRESH_AGE
from tests.conftest import async_add_camera
from tests.peers.miio_sim import MiioCameraSimulator

# A timed request starts only while the cached still has this much freshness left, so it
# cannot expire between the check and the camera entity's own look-up.
FRESHNESS_MARGIN = 0.2
REFILL_PAUSE = 0.02  # the next keyframe is not complete yet: ask again shortly


async def test_camera_proxy_cache_hits(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
) -> None:
    """Set up a simulated camera with a custom stream URL; time cache-hit requests."""
    url = os.environ["BENCH_RTSP_URL"]
    result_file = Path(os.environ["BENCH_RESULT"])
    requests = int(os.environ.get("BENCH_REQUESTS", "1000"))

    # The entry the config flow would create, with the benchmark mount as custom source.
    entry = await async_add_camera(hass, miio_camera, url, title="Bench camera")
    cameras = hass.states.async_entity_ids("camera")
    assert len(cameras) == 1, cameras
    entity_id = cameras[0]
    path = f"/api/camera_proxy/{entity_id}"

    engine = entry.runtime_data.engine
    cache = entry.runtime_data.cache
    assert engine is not None

    # Instrumentation only: tells a still served from the cache from one the engine made.
    engine_calls = 0
    get_frame = engine.async_get_frame

    async def counting_get_frame(*args: Any, **kwargs: Any) -> Frame:
        nonlocal engine_calls
        engine_calls += 1
        frame: Frame = await get_frame(*args, **kwargs)
        return frame

    engine.async_get_frame = counting_get_frame

    client = await hass_client()

    async def fetch() -> float:
        started = time.perf_counter()
        response = await client.get(path)
        body = await response.read()
        elapsed = time.perf_counter() - started
        assert response.status == 200, response.status
        assert body.startswith(b"\xff\xd8"), body[:16]
        return elapsed

    def fresh_in_cache() -> bool:
        frame = cache.get(
            engine.camera_id,
            engine.source_fingerprint,
            max_age=SNAPSHOT_FRESH_AGE - FRESHNESS_MARGIN,
        )
        return frame is not None

    refills = 0

    async def refill() -> None:
        """Ask until the cache holds a still fresh enough for a hit (untimed)."""
        nonlocal refills
        refills += 1
        while not fresh_in_cache():
            await fetch()
            # The entity writes the still to the cache in a background task.
            await hass.async_block_till_done(wait_background_tasks=True)
            if not fresh_in_cache():
                await asyncio.sleep(REFILL_PAUSE)

    # Warm the cache with one request (the engine connects: a cold grab).
    first_ms = await fetch() * 1000
    await hass.async_block_till_done(wait_background_tasks=True)

    hits: list[float] = []
    misses: list[float] = []
    calls_during_hits = 0
    while len(hits) < requests:
        if not fresh_in_cache():
            await refill()
        before = engine_calls
        elapsed = await fetch()
        if engine_calls == before:
            hits.append(elapsed * 1000)
        else:
            calls_during_hits += engine_calls - before
            misses.append(elapsed * 1000)

    payload = json.dumps(
        {
            "ha_version": __version__,
            "entity_id": entity_id,
            "loop_debug": hass.loop.get_debug(),
            "first_ms": first_ms,
            "hit_ms": hits,
            "miss_ms": misses,
            "misses": len(misses),
            "engine_calls": calls_during_hits,
            "refills": refills,
        }
    )
    await hass.async_add_executor_job(result_file.write_text, payload)
    assert await hass.config_entries.async_unload(entry.entry_id)
