"""Cameras stay apart under load and faults: every still is whole and from its own source.

Three simulated cameras (miio simulators on their own loopback addresses), each with its
own RTSP mount of its own colour. Rounds of concurrent still requests go through
/api/camera_proxy while the server's streams are stopped, restarted, cut (their
connections dropped mid-stream), swapped between mounts and recoloured.

What "the right picture" means when mounts are swapped: the integration cannot know
what is in front of a lens, only which source a frame came from. So a still answered
for camera A must show a colour that A's configured mount was sending at some moment
a frame served for that request could have been captured: from the request's start
minus the cache's max age (a still served from the cache) to its end. Never a colour
that only other mounts sent, never a mix of two pictures, never a broken JPEG.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import hashlib
from http import HTTPStatus
from io import BytesIO
import math
import time
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.xiaomi_cam_bridge.shared import frame_cache_directory
from tests.conftest import async_add_camera
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.rtsp_fixtures import (
    DEFAULT_CAMERAS,
    CameraSpec,
    Rgb,
    RtspServer,
    RtspServerFactory,
    colour_distance,
    colour_spread,
    mean_rgb,
)

# A short max age, so that stills expiring is seen within the test.
MAX_AGE = 2.0
# Pictures already in the server's pipeline when a command is acknowledged arrive a
# little later; a changed mount may show its old colour for this long after the ack.
LATENCY = 0.5
# After a stream comes back (restart, dropped connection), requests already waiting
# on the failed connection may still fail for this long.
GRACE = 1.5
REQUESTS_PER_CAMERA = 20
SAME = 25  # colour distance still counted as the same colour
UNIFORM = 10  # largest channel deviation of a one-colour picture

MOUNTS = {"cam_a": "cam1", "cam_b": "cam2", "cam_c": "cam3"}
NEW_COLOUR: Rgb = (220, 210, 40)  # cam4's colour: shown by no mount at the start


@dataclass
class Answer:
    """One still request and what came back."""

    camera: str
    started: float
    ended: float
    status: int
    body: bytes


@dataclass
class Timeline:
    """What each mount sent when, as far as the test's commands can tell."""

    # (from, to, colour): the mount may have sent that colour during [from, to].
    colours: dict[str, list[tuple[float, float, Rgb]]] = field(default_factory=dict)
    # (from, to): the mount was stopped or its connections dropped (plus grace).
    down: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # (stopped after, restarted before): only for stops, for the expiry check.
    stopped: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def start(self, mount: str, colour: Rgb) -> None:
        self.colours[mount] = [(-math.inf, math.inf, colour)]
        self.down[mount] = []
        self.stopped[mount] = []

    def change(self, mount: str, before: float, after: float, colour: Rgb) -> None:
        start, _, old = self.colours[mount][-1]
        self.colours[mount][-1] = (start, after + LATENCY, old)
        self.colours[mount].append((before, math.inf, colour))

    def possible_colours(self, mount: str, start: float, end: float) -> set[Rgb]:
        return {c for (a, b, c) in self.colours[mount] if a <= end and b >= start}

    def was_down(self, mount: str, start: float, end: float) -> bool:
        return any(a <= end and b >= start for (a, b) in self.down[mount])

    def certainly_expired(self, mount: str, start: float, end: float) -> bool:
        """Stopped for longer than the max age during the whole request."""
        return any(
            start > stopped + LATENCY + MAX_AGE + 0.5 and end < restarted
            for (stopped, restarted) in self.stopped[mount]
        )


class Harness:
    """Runs request rounds and server faults, records everything, checks at the end."""

    def __init__(self, hass: HomeAssistant, client: TestClient, server: RtspServer) -> None:
        self.hass = hass
        self.client = client
        self.server = server
        self.timeline = Timeline()
        for mount in MOUNTS.values():
            self.timeline.start(mount, server.colour(mount))
        self.answers: list[Answer] = []

    async def _fetch(self, camera: str) -> None:
        started = time.time()
        response = await self.client.get(f"/api/camera_proxy/camera.{camera}")
        body = await response.read()
        self.answers.append(Answer(camera, started, time.time(), response.status, body))

    async def round(self, fault: Callable[[], None] | None = None) -> None:
        """One round of concurrent requests, the fault applied while they are in flight."""
        tasks = [
            asyncio.create_task(self._fetch(camera))
            for _ in range(REQUESTS_PER_CAMERA)
            for camera in MOUNTS
        ]
        if fault is not None:
            # Awaiting the executor lets the requests go out while the command runs.
            await self.hass.async_add_executor_job(fault)
        await asyncio.gather(*tasks)

    async def rounds_until(self, deadline: float, minimum: int = 2) -> None:
        done = 0
        while done < minimum or time.time() < deadline:
            await self.round()
            done += 1

    # -- faults (run in an executor thread: the server's commands block) ------------------

    def stop(self, mount: str) -> float:
        before = time.time()
        self.server.stop_mount(mount)
        after = time.time()
        self.timeline.down[mount].append((before, math.inf))
        self.timeline.stopped[mount].append((after, math.inf))
        return after

    def restart(self, mount: str) -> float:
        before = time.time()
        self.server.start_mount(mount)
        after = time.time()
        start, _ = self.timeline.down[mount][-1]
        self.timeline.down[mount][-1] = (start, after + GRACE)
        stopped, _ = self.timeline.stopped[mount][-1]
        self.timeline.stopped[mount][-1] = (stopped, before)
        return after

    def kick(self, *mounts: str) -> float:
        after = 0.0
        for mount in mounts:
            before = time.time()
            self.server.kick(mount)
            after = time.time()
            self.timeline.down[mount].append((before, after + GRACE))
        return after

    def swap(self, first: str, second: str) -> float:
        colours = self.server.colour(first), self.server.colour(second)
        before = time.time()
        self.server.swap(first, second)
        after = time.time()
        self.timeline.change(first, before, after, colours[1])
        self.timeline.change(second, before, after, colours[0])
        return after

    def recolour(self, mount: str, colour: Rgb) -> float:
        before = time.time()
        self.server.set_colour(mount, colour)
        after = time.time()
        self.timeline.change(mount, before, after, colour)
        return after

    # -- checks ---------------------------------------------------------------------------

    def check(self) -> dict[str, int]:
        """Assert every answer; return counts of what was checked."""
        pictures: dict[str, tuple[Rgb, float, tuple[int, int]]] = {}
        counts = {"ok": 0, "refused": 0, "strict": 0, "expired": 0}
        for answer in self.answers:
            mount = MOUNTS[answer.camera]
            where = f"{answer.camera} at {answer.started:.3f}-{answer.ended:.3f}"
            if answer.status != HTTPStatus.OK:
                assert self.timeline.was_down(mount, answer.started, answer.ended), (
                    f"{where}: {answer.status} while its stream was up"
                )
                counts["refused"] += 1
                if self.timeline.certainly_expired(mount, answer.started, answer.ended):
                    counts["expired"] += 1
                continue
            assert not self.timeline.certainly_expired(mount, answer.started, answer.ended), (
                f"{where}: a still older than the max age was served"
            )
            digest = hashlib.sha256(answer.body).hexdigest()
            if digest not in pictures:
                pictures[digest] = _inspect(answer.body)
            colour, spread, size = pictures[digest]
            assert size == (640, 360), where
            assert spread < UNIFORM, f"{where}: not one whole picture (spread {spread:.1f})"
            possible = self.timeline.possible_colours(
                mount, answer.started - MAX_AGE - LATENCY, answer.ended
            )
            assert any(colour_distance(colour, c) < SAME for c in possible), (
                f"{where}: colour {colour}, but its mount {mount} sent only {possible}"
            )
            counts["ok"] += 1
            counts["strict"] += len(possible) == 1
        return counts


def _inspect(jpeg: bytes) -> tuple[Rgb, float, tuple[int, int]]:
    """Decode a JPEG completely (a truncated one raises) and describe it."""
    assert jpeg.startswith(b"\xff\xd8")
    assert jpeg.endswith(b"\xff\xd9")
    with Image.open(BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        image.load()
        size = image.size
    return mean_rgb(jpeg), colour_spread(jpeg), size


@pytest.fixture
async def three_cameras(
    hass: HomeAssistant,
    miio_camera_factory: MiioCameraFactory,
    rtsp_server_factory: RtspServerFactory,
) -> RtspServer:
    """Cameras A, B, C on their own addresses, showing mounts cam1, cam2, cam3."""
    server = rtsp_server_factory(DEFAULT_CAMERAS[:3])
    for camera, mount in MOUNTS.items():
        sim = await miio_camera_factory()
        await async_add_camera(hass, sim, server.url(mount), title=camera.replace("_", " ").title())
    for camera in MOUNTS:
        assert hass.states.get(f"camera.{camera}") is not None
    return server


async def test_isolation_under_load_and_faults(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, three_cameras: RtspServer
) -> None:
    """Concurrent requests across stops, restarts, dropped connections, swaps, recolouring."""
    server = three_cameras
    harness = Harness(hass, await hass_client(), server)
    with patch("custom_components.xiaomi_cam_bridge.camera.SNAPSHOT_MAX_AGE", MAX_AGE):
        await harness.rounds_until(0, minimum=2)

        # B's stream stops: its cached still for MAX_AGE, then nothing; A and C unaffected.
        stopped = 0.0

        def stop_b() -> None:
            nonlocal stopped
            stopped = harness.stop("cam2")

        await harness.round(stop_b)
        await harness.rounds_until(stopped + MAX_AGE + LATENCY + 1.5)

        # B comes back.
        await harness.round(lambda: harness.restart("cam2"))
        await harness.rounds_until(time.time() + GRACE + 0.5)

        # A's and C's mounts swap content: A's URL now serves C's picture, and C's A's.
        swapped = 0.0

        def swap_ac() -> None:
            nonlocal swapped
            swapped = harness.swap("cam1", "cam3")

        await harness.round(swap_ac)
        await harness.rounds_until(swapped + MAX_AGE + LATENCY + 1.0)

        # Connections of A and C dropped mid-stream (a keyframe may be cut short).
        await harness.round(lambda: harness.kick("cam1", "cam3"))
        await harness.rounds_until(time.time() + GRACE + 0.5)

        # B shows a colour no mount had, while A and C swap back.
        recoloured = 0.0

        def recolour_and_swap() -> None:
            nonlocal recoloured
            harness.recolour("cam2", NEW_COLOUR)
            recoloured = harness.swap("cam1", "cam3")

        await harness.round(recolour_and_swap)
        await harness.rounds_until(recoloured + MAX_AGE + LATENCY + 1.0)

    counts = harness.check()
    total = len(harness.answers)
    assert total >= 15 * REQUESTS_PER_CAMERA * len(MOUNTS)
    # The checks had something to check: most answers were pictures, many of them at
    # moments where only one colour was possible, and B's expiry was observed.
    assert counts["ok"] > total * 0.7, counts
    assert counts["strict"] > total * 0.3, counts
    assert counts["expired"] >= REQUESTS_PER_CAMERA, counts
    # After the last swap each camera shows its own mount's final colour.
    for camera, colour in (
        ("cam_a", server.colour("cam1")),
        ("cam_b", NEW_COLOUR),
        ("cam_c", server.colour("cam3")),
    ):
        last = [a for a in harness.answers if a.camera == camera][-1]
        assert last.status == HTTPStatus.OK
        assert colour_distance(mean_rgb(last.body), colour) < SAME


async def test_damaged_streams_never_show_a_picture(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera_factory: MiioCameraFactory,
    rtsp_server_factory: RtspServerFactory,
) -> None:
    """Streams whose keyframes lose slices (lost packets) give no still at all."""
    server = rtsp_server_factory(
        [
            CameraSpec("drop_slice", (220, 40, 40), damage="drop-slice"),
            CameraSpec("cut_idr", (40, 200, 40), damage="cut-idr"),
        ]
    )
    entries = {}
    for name in ("drop_slice", "cut_idr"):
        sim = await miio_camera_factory()
        entries[name] = await async_add_camera(hass, sim, server.url(name), title=name)
    client = await hass_client()
    answers = await asyncio.gather(
        *(
            client.get(f"/api/camera_proxy/camera.{name}")
            for _ in range(10)
            for name in ("drop_slice", "cut_idr")
        )
    )
    assert {a.status for a in answers} == {HTTPStatus.INTERNAL_SERVER_ERROR}
    for entry in entries.values():
        engine = entry.runtime_data.engine
        assert engine is not None
        assert engine.captures >= 1  # keyframes arrived and were refused
    # Nothing was cached either.
    assert list(frame_cache_directory(hass).glob("cam-*/*")) == []
