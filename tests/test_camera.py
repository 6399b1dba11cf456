"""The camera entity, through /api/camera_proxy, against the real RTSP server and miio simulator."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from http import HTTPStatus
from io import BytesIO
import json
from pathlib import Path
import threading
import time
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestClient
from homeassistant.components.camera import (
    CameraEntityFeature,
    async_get_stream_source,
    async_request_stream,
    get_camera_from_entity_id,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_SUPPORTED_FEATURES, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.xiaomi_cam_bridge.camlib.cache import FrameCache
from custom_components.xiaomi_cam_bridge.camlib.exceptions import StreamUnreachable
from custom_components.xiaomi_cam_bridge.camlib.frame import Frame
from custom_components.xiaomi_cam_bridge.const import (
    CONF_STREAM_URL,
    CONF_VIDEO_SOURCE,
    DOMAIN,
    SNAPSHOT_MAX_AGE,
)
from custom_components.xiaomi_cam_bridge.shared import (
    DATA_FRAME_CACHE,
    DATA_STILL_WORKER,
    frame_cache_directory,
)
from tests.conftest import async_add_camera
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.miio_sim import Fault, MiioCameraSimulator
from tests.peers.rtsp_fixtures import (
    SAME_COLOUR as SAME,
    RtspServer,
    colour_distance,
    colour_spread,
    mean_rgb,
)

CAMERA = "camera.mi_home_security_camera_360deg"
CAMERA_ID = "78:11:dc:00:00:01"  # the simulated camera's MAC: the entry's unique id


async def _still(client: TestClient, entity_id: str = CAMERA, **query: int) -> tuple[int, bytes]:
    response = await client.get(
        f"/api/camera_proxy/{entity_id}", params={k: str(v) for k, v in query.items()}
    )
    return response.status, await response.read()


def _assert_picture_of(jpeg: bytes, rtsp_server: RtspServer, mount: str) -> None:
    """The still is a picture of what `mount` is sending (its colour)."""
    assert colour_distance(mean_rgb(jpeg), rtsp_server.colour(mount)) < SAME


async def _assert_shows(client: TestClient, rtsp_server: RtspServer, mount: str) -> bytes:
    """The camera answers with a still of what `mount` is sending."""
    status, jpeg = await _still(client)
    assert status == HTTPStatus.OK
    _assert_picture_of(jpeg, rtsp_server, mount)
    return jpeg


async def _assert_no_still(client: TestClient) -> None:
    """The camera has no still to show: Home Assistant answers with an error."""
    status, _ = await _still(client)
    assert status == HTTPStatus.INTERNAL_SERVER_ERROR


def _size(jpeg: bytes) -> tuple[int, int]:
    with Image.open(BytesIO(jpeg)) as image:
        image.load()  # a truncated JPEG raises here
        return image.size


def _camera_dirs(hass: HomeAssistant) -> list[Path]:
    directory = frame_cache_directory(hass)
    return sorted(directory.glob("cam-*")) if directory.is_dir() else []


def _restamped(frame: Frame, captured_at: float) -> Frame:
    """The same picture with another capture time (its hash still matches)."""
    return Frame(frame.jpeg, replace(frame.provenance, captured_at=captured_at))


async def _settle(hass: HomeAssistant) -> None:
    """Let fire-and-forget work (cache writes, stream stops) finish."""
    await hass.async_block_till_done(wait_background_tasks=True)


async def _refresh(entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()


def _engine(entry: MockConfigEntry) -> Any:
    """The entry's snapshot engine (the entry has a video source)."""
    engine = entry.runtime_data.engine
    assert engine is not None
    return engine


async def _stop_mount(
    hass: HomeAssistant, server: RtspServer, name: str, entry: MockConfigEntry
) -> None:
    """Stop a mount and wait until the entry's snapshot tap has dropped with it.

    Until then the tap may still hand out the last keyframe it read before the stop.
    """
    engine = _engine(entry)
    taps = [t for t in threading.enumerate() if t.name == f"snapshot-tap-{engine.camera_id}"]
    server.stop_mount(name)
    for tap in taps:
        await hass.async_add_executor_job(tap.join, 10)
        assert not tap.is_alive()
    assert not engine.tap_running


async def _camera_with_a_still(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: MiioCameraSimulator,
    server: RtspServer,
    mount: str = "cam1",
    *,
    stop: bool = False,
) -> tuple[MockConfigEntry, TestClient, bytes]:
    """Add a camera showing `mount` and take one still, in the cache when this returns.

    With `stop` the mount is stopped afterwards: further stills can only be cached ones.
    """
    entry = await async_add_camera(hass, sim, server.url(mount))
    client = await hass_client()
    status, jpeg = await _still(client)
    assert status == HTTPStatus.OK
    await _settle(hass)
    if stop:
        await _stop_mount(hass, server, mount, entry)
    return entry, client, jpeg


# --- entity and stills ------------------------------------------------------------------


async def test_camera_entity_serves_its_stream(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    entity_registry: er.EntityRegistry,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """One camera entity, named after the device, showing that camera's picture."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    registry_entry = entity_registry.async_get(CAMERA)
    assert registry_entry is not None
    assert registry_entry.unique_id == f"{CAMERA_ID}_camera"
    assert registry_entry.translation_key == "camera"
    assert registry_entry.config_entry_id == entry.entry_id
    state = hass.states.get(CAMERA)
    assert state is not None
    assert state.state == "idle"
    assert state.attributes[ATTR_SUPPORTED_FEATURES] == (
        CameraEntityFeature.ON_OFF | CameraEntityFeature.STREAM
    )
    assert "frame_captured_at" not in state.attributes  # nothing shown yet

    client = await hass_client()
    before = time.time()
    status, jpeg = await _still(client)
    assert status == HTTPStatus.OK
    assert _size(jpeg) == (640, 360)
    _assert_picture_of(jpeg, rtsp_server, "cam1")
    assert colour_spread(jpeg) < 10  # one whole picture, not a mix

    # The entity says when the still was taken; the recorder leaves it out.
    state = hass.states.get(CAMERA)
    assert state is not None
    captured = dt_util.parse_datetime(state.attributes["frame_captured_at"])
    assert captured is not None
    assert before - 3 <= captured.timestamp() <= time.time()
    assert state.state_info is not None
    assert "frame_captured_at" in state.state_info["unrecorded_attributes"]


async def test_stream_source_is_immediate_and_never_shown(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The URL (with credentials) goes to the stream player only, without network I/O."""
    url = rtsp_server.url("auth")  # carries the mount's user and password
    password = rtsp_server.cameras["auth"].password
    assert password is not None
    entry = await async_add_camera(hass, miio_camera, url)
    engine = _engine(entry)

    # With the server gone the answer is the same, and as fast: nothing is contacted.
    rtsp_server.stop_mount("auth")
    started = time.monotonic()
    assert await async_get_stream_source(hass, CAMERA) == url
    assert time.monotonic() - started < 0.5
    assert engine.connections == 0

    # A failed still is logged with the URL redacted.
    client = await hass_client()
    await _assert_no_still(client)
    assert "Stream of camera.mi_home_security_camera_360deg is unavailable" in caplog.text
    assert "rtsp://***:***@127.0.0.1" in caplog.text

    state = hass.states.get(CAMERA)
    assert state is not None
    shown = json.dumps(state.as_dict(), default=str) + repr(entry.runtime_data)
    for secret in (password, "s3cret", "viewer", url):
        assert secret not in shown
        assert secret not in caplog.text


async def test_credentials_from_options(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """User name and password options log in to a stream whose URL has none."""
    spec = rtsp_server.cameras["auth"]
    await async_add_camera(
        hass,
        miio_camera,
        rtsp_server.url("auth", credentials=False),
        **{CONF_USERNAME: spec.user, CONF_PASSWORD: spec.password},
    )
    await _assert_shows(await hass_client(), rtsp_server, "auth")


async def test_no_video_source(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, miio_camera: MiioCameraSimulator
) -> None:
    """Without a source the camera only switches power: no stream, no still."""
    entry = await async_add_camera(hass, miio_camera, None)
    assert entry.runtime_data.engine is None
    state = hass.states.get(CAMERA)
    assert state is not None
    assert state.attributes[ATTR_SUPPORTED_FEATURES] == CameraEntityFeature.ON_OFF
    assert await async_get_stream_source(hass, CAMERA) is None
    await _assert_no_still(await hass_client())

    await hass.services.async_call("camera", "turn_off", {"entity_id": CAMERA}, blocking=True)
    assert miio_camera.props["power"] == "off"


async def test_invalid_stored_source_turns_video_off(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Settings that make no URL (edited storage) leave the controls working."""
    entry = await async_add_camera(hass, miio_camera, "http://user:hunter2@127.0.0.1/x")
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.engine is None
    assert "video settings of" in caplog.text
    assert "invalid_scheme" in caplog.text
    assert "hunter2" not in caplog.text
    state = hass.states.get(CAMERA)
    assert state is not None
    assert state.attributes[ATTR_SUPPORTED_FEATURES] == CameraEntityFeature.ON_OFF


async def test_sizes_are_never_mixed_up(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """A still scaled for one request is never the answer to another size."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    client = await hass_client()
    # Home Assistant scales only when both width and height are given: with the width
    # alone, the size is the integration's doing.
    for query, size in (
        ({"width": 320}, (320, 180)),
        ({}, (640, 360)),
        ({"width": 320}, (320, 180)),
        ({"width": 160}, (160, 90)),
        ({"width": 4000}, (640, 360)),  # never scaled up
        ({}, (640, 360)),
    ):
        status, jpeg = await _still(client, **query)
        assert status == HTTPStatus.OK
        assert _size(jpeg) == size, query
        _assert_picture_of(jpeg, rtsp_server, "cam1")
    await _settle(hass)
    # The cache only keeps full-size stills.
    engine = _engine(entry)
    cached = entry.runtime_data.cache.latest(CAMERA_ID, engine.source_fingerprint)
    assert cached is not None
    assert (cached.provenance.width, cached.provenance.height) == (640, 360)

    # The stream goes down: a scaled request gets the cached full-size still (which
    # Home Assistant scales when asked for both dimensions), never another scaled one.
    await _stop_mount(hass, rtsp_server, "cam1", entry)
    status, jpeg = await _still(client, width=320)
    assert status == HTTPStatus.OK
    assert jpeg == cached.jpeg


async def test_scaled_copy_failing_gives_the_full_still(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Should the stream drop between the still and its scaled copy, the still is served."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    engine = _engine(entry)
    real = engine.async_get_frame

    async def drop_before_scaling(
        width: int | None = None, height: int | None = None, **kwargs: Any
    ) -> Frame:
        if width is None and height is None:
            return await real(**kwargs)
        raise StreamUnreachable("rtsp://127.0.0.1/cam1: stream ended")

    with patch.object(engine, "async_get_frame", side_effect=drop_before_scaling):
        status, jpeg = await _still(await hass_client(), width=320)
    assert status == HTTPStatus.OK
    assert _size(jpeg) == (640, 360)
    _assert_picture_of(jpeg, rtsp_server, "cam1")


async def test_concurrent_requests_share_one_capture(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Many viewers at once on a cold camera: one connection, one decoded keyframe."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam2"))
    engine = _engine(entry)
    assert engine.captures == 0
    client = await hass_client()
    answers = await asyncio.gather(*(_still(client) for _ in range(12)))
    assert {status for status, _ in answers} == {HTTPStatus.OK}
    assert len({jpeg for _, jpeg in answers}) == 1
    assert engine.connections == 1
    assert engine.captures == 1
    _assert_picture_of(answers[0][1], rtsp_server, "cam2")


# --- cache: bounds, expiry, persistence ------------------------------------------------


async def test_cached_still_served_while_stream_down_until_max_age(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """A dead stream is answered from the cache, never with a still older than max age."""
    entry, client, live = await _camera_with_a_still(
        hass, hass_client, miio_camera, rtsp_server, stop=True
    )

    # Fresh enough: the last good still.
    status, jpeg = await _still(client)
    assert status == HTTPStatus.OK
    assert jpeg == live

    cache = entry.runtime_data.cache
    frame = cache.latest(CAMERA_ID, _engine(entry).source_fingerprint)
    assert frame is not None
    # The same still, once just inside and once just outside the max age.
    for age, expected in (
        (SNAPSHOT_MAX_AGE - 5, HTTPStatus.OK),
        (SNAPSHOT_MAX_AGE + 1, HTTPStatus.INTERNAL_SERVER_ERROR),
    ):
        await hass.async_add_executor_job(cache.invalidate, CAMERA_ID)
        await hass.async_add_executor_job(cache.put, _restamped(frame, time.time() - age))
        status, jpeg = await _still(client)
        assert status == expected, age
        if expected == HTTPStatus.OK:
            assert jpeg == frame.jpeg

    # The stream comes back: live stills again.
    rtsp_server.start_mount("cam1")
    await _assert_shows(client, rtsp_server, "cam1")


async def test_cache_never_serves_another_cameras_still(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """A still filed under this camera but recorded for another source is refused."""
    entry, client, _ = await _camera_with_a_still(
        hass, hass_client, miio_camera, rtsp_server, stop=True
    )
    cache = entry.runtime_data.cache
    frame = cache.latest(CAMERA_ID, _engine(entry).source_fingerprint)
    assert frame is not None
    foreign = Frame(
        frame.jpeg, replace(frame.provenance, source_fingerprint="0" * 64, captured_at=time.time())
    )
    await hass.async_add_executor_job(cache.put, foreign)  # drops the camera's own still
    await _assert_no_still(client)


async def test_last_still_survives_a_restart(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """After a restart with the stream down, the persisted still is served (within max age)."""
    entry, client, live = await _camera_with_a_still(
        hass, hass_client, miio_camera, rtsp_server, "cam3"
    )
    assert len(_camera_dirs(hass)) == 1
    engine = _engine(entry)
    assert engine.tap_running

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert not engine.tap_running  # unloading closed the stream connection
    # A restart: the cache is read back from disk.
    hass.data.pop(DATA_FRAME_CACHE)
    rtsp_server.stop_mount("cam3")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    status, jpeg = await _still(client)
    assert status == HTTPStatus.OK
    assert jpeg == live
    _assert_picture_of(jpeg, rtsp_server, "cam3")


async def test_unreadable_cache_folder_is_not_fatal(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cache folder that cannot be created leaves live stills working."""
    blocker = frame_cache_directory(hass)
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    assert entry.state is ConfigEntryState.LOADED
    assert "Cannot read the snapshot cache" in caplog.text
    await _assert_shows(await hass_client(), rtsp_server, "cam1")


async def test_source_change_invalidates_the_cache(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """After the source changes, the old source's stills are gone, from disk too."""
    entry, client, _ = await _camera_with_a_still(hass, hass_client, miio_camera, rtsp_server)
    assert list(_camera_dirs(hass)[0].iterdir())

    rtsp_server.stop_mount("cam2")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_VIDEO_SOURCE: "custom"}
    )
    # The new source is checked before it is accepted: start it for the check only.
    rtsp_server.start_mount("cam2")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_STREAM_URL: rtsp_server.url("cam2")}
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_STREAM_URL] == rtsp_server.url("cam2")
    assert entry.state is ConfigEntryState.LOADED
    assert _camera_dirs(hass) == []

    # Neither source is up: nothing to show, in particular not cam1's old still.
    rtsp_server.stop_mount("cam1")
    rtsp_server.stop_mount("cam2")
    await _assert_no_still(client)
    rtsp_server.start_mount("cam2")
    await _assert_shows(client, rtsp_server, "cam2")


async def test_same_source_spelled_differently_keeps_the_cache(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Only a different source invalidates: a polling change or a respelled URL does not."""
    url = rtsp_server.url("cam1")
    entry, _, _ = await _camera_with_a_still(hass, hass_client, miio_camera, rtsp_server)
    files = list(_camera_dirs(hass)[0].iterdir())
    assert files
    respelled = url.replace("rtsp://127.0.0.1", "RTSP://127.0.0.1") + "#view"
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_STREAM_URL: respelled}
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert list(_camera_dirs(hass)[0].iterdir()) == files


async def test_removing_the_entry_deletes_its_stills(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Removing a camera deletes its cached stills from disk."""
    entry, _, _ = await _camera_with_a_still(hass, hass_client, miio_camera, rtsp_server)
    assert len(_camera_dirs(hass)) == 1
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert _camera_dirs(hass) == []


@pytest.mark.usefixtures("fast_miio_timeout")
async def test_removing_an_entry_that_is_not_loaded_deletes_its_stills(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Also for a camera that is away (entry waiting to retry) after a restart."""
    entry, _, _ = await _camera_with_a_still(hass, hass_client, miio_camera, rtsp_server)
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.data.pop(DATA_FRAME_CACHE)  # a restart: nothing in memory
    miio_camera.fault = Fault.SILENT
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert len(_camera_dirs(hass)) == 1

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert _camera_dirs(hass) == []
    # Other files in the folder are left alone.
    assert frame_cache_directory(hass).is_dir()


# --- privacy ----------------------------------------------------------------------------


async def test_privacy_mode_shows_nothing(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Power off: no still (503), no stream URL, the running stream stopped; on: images again."""
    assert await async_setup_component(hass, "stream", {})
    entry, client, _ = await _camera_with_a_still(hass, hass_client, miio_camera, rtsp_server)

    # Someone watches the live stream.
    await async_request_stream(hass, CAMERA, "hls")
    camera = get_camera_from_entity_id(hass, CAMERA)
    stream = camera.stream
    assert stream is not None
    assert stream.outputs()

    # Power off from the Mi Home app: the next poll notices.
    miio_camera.props["power"] = "off"
    await _refresh(entry)
    await _settle(hass)
    await _assert_no_still(client)
    assert await camera.stream_source() is None
    assert camera.stream is None
    assert not stream.outputs()
    assert stream.access_token is None
    with pytest.raises(HomeAssistantError):
        await async_request_stream(hass, CAMERA, "hls")
    # Nothing is shown even by code that skips the HTTP view's check.
    assert await camera.async_camera_image() is None

    # Back on: live images again; stills cached before the privacy period stay hidden.
    await hass.services.async_call("camera", "turn_on", {"entity_id": CAMERA}, blocking=True)
    assert miio_camera.props["power"] == "on"
    await _stop_mount(hass, rtsp_server, "cam1", entry)
    await _assert_no_still(client)
    rtsp_server.start_mount("cam1")
    await _assert_shows(client, rtsp_server, "cam1")
    assert await async_get_stream_source(hass, CAMERA) == rtsp_server.url("cam1")


async def test_turn_off_from_the_camera_entity(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """camera.turn_off powers the camera off at once, without waiting for a poll."""
    await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    await hass.services.async_call("camera", "turn_off", {"entity_id": CAMERA}, blocking=True)
    assert miio_camera.props["power"] == "off"
    assert hass.states.get("switch.mi_home_security_camera_360deg_power").state == "off"
    await _assert_no_still(await hass_client())


@pytest.mark.usefixtures("fast_miio_timeout")
async def test_unreachable_camera_shows_nothing(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """While the camera's state is unknown (its power too), no still and no stream."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    miio_camera.fault = Fault.SILENT
    await _refresh(entry)
    assert not entry.runtime_data.coordinator.last_update_success
    assert await async_get_stream_source(hass, CAMERA) is None
    await _assert_no_still(await hass_client())


async def test_stream_stopped_when_the_entry_unloads(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Unloading stops the camera's live stream and its snapshot connection."""
    assert await async_setup_component(hass, "stream", {})
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    await async_request_stream(hass, CAMERA, "hls")
    stream = get_camera_from_entity_id(hass, CAMERA).stream
    assert stream is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert not stream.outputs()
    assert stream.access_token is None


async def test_shared_cache_is_one_per_instance(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """Every camera uses the same cache object, in the instance's own folder."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    cache = hass.data[DATA_FRAME_CACHE]
    assert isinstance(cache, FrameCache)
    assert entry.runtime_data.cache is cache
    assert cache.directory == Path(hass.config.path(".storage", DOMAIN, "snapshots"))


def _still_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{DOMAIN}_still")]


async def test_one_still_worker_for_every_camera(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera_factory: MiioCameraFactory,
    rtsp_server: RtspServer,
) -> None:
    """Every camera's stills are made on one thread, joined with the last camera out."""
    first = await async_add_camera(hass, await miio_camera_factory(), rtsp_server.url("cam1"))
    second = await async_add_camera(
        hass, await miio_camera_factory(), rtsp_server.url("cam2"), title="Garden"
    )
    worker = hass.data[DATA_STILL_WORKER]
    entities = hass.states.async_entity_ids("camera")
    assert len(entities) == 2
    client = await hass_client()
    answers = await asyncio.gather(*(_still(client, entity_id) for entity_id in entities * 3))
    assert {status for status, _ in answers} == {HTTPStatus.OK}
    assert worker.jobs >= 4  # a decode and an encode per camera, all on the worker
    assert len(_still_threads()) == 1

    assert await hass.config_entries.async_unload(first.entry_id)
    assert len(_still_threads()) == 1  # the garden camera still has video
    assert await hass.config_entries.async_unload(second.entry_id)
    assert _still_threads() == []
    assert not worker.running

    # Loaded again, the same worker starts a new thread for the next capture (the
    # engine's own: through the proxy, the still just cached would be served).
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    engine = _engine(second)
    frame = await engine.async_get_frame()
    _assert_picture_of(frame.jpeg, rtsp_server, "cam2")
    assert hass.data[DATA_STILL_WORKER] is worker
    assert len(_still_threads()) == 1
    assert worker.running
