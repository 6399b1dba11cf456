"""Pytest fixtures that run simulated miio cameras on loopback addresses.

`miio_camera` prefers 127.0.0.2 and `miio_camera_factory` 127.0.0.3, 127.0.0.4, ...
When an address is taken (another test run, the demo), a free random 127.x.y.z is used
instead, so tests must read the address from `sim.host`, never hard-code it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
import errno
import hashlib
import random
from typing import Any

import pytest

from .miio_sim import MiioCameraSimulator, SimConfig

type MiioCameraFactory = Callable[..., Awaitable[MiioCameraSimulator]]

_FALLBACK_TRIES = 50


async def _start_on_free_host(config: SimConfig) -> MiioCameraSimulator:
    """Start a simulator on config.host, or on a random free loopback address."""
    rng = random.Random()
    host = config.host
    for _ in range(_FALLBACK_TRIES):
        config.host = host
        sim = MiioCameraSimulator(config)
        try:
            await sim.start()
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            host = f"127.{rng.randint(16, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
            continue
        return sim
    raise RuntimeError("no free loopback address for a simulated camera")


@pytest.fixture
async def miio_camera(socket_enabled: None) -> AsyncGenerator[MiioCameraSimulator]:
    """A started simulated camera with the SimConfig defaults (prefers 127.0.0.2)."""
    sim = await _start_on_free_host(SimConfig())
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def miio_camera_factory(socket_enabled: None) -> AsyncGenerator[MiioCameraFactory]:
    """Start more cameras: `await miio_camera_factory(model=..., token=...)`.

    Camera n (1, 2, ...) gets its own host 127.0.0.(2+n), device id, MAC and token unless
    given as keyword arguments (any SimConfig field).
    """
    started: list[MiioCameraSimulator] = []

    async def factory(**overrides: Any) -> MiioCameraSimulator:
        n = len(started) + 1
        values: dict[str, Any] = {
            "host": f"127.0.0.{2 + n}",
            "device_id": 0x1234ABCD + n,
            "mac": f"78:11:DC:00:01:{n:02X}",
            "token": hashlib.md5(f"sim-camera-{n}".encode()).hexdigest(),
        }
        values.update(overrides)
        sim = await _start_on_free_host(SimConfig(**values))
        started.append(sim)
        return sim

    try:
        yield factory
    finally:
        for sim in started:
            await sim.stop()
