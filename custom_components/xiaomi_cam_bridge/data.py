"""Runtime data of a config entry and the helpers that build it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
    EVENT_HOMEASSISTANT_CLOSE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .camlib.cache import FrameCache
from .camlib.miio_client import CameraClient, CameraInfo
from .camlib.snapshot import SnapshotEngine
from .camlib.sources import SourcePreset, build_url
from .camlib.worker import StillWorker
from .const import (
    CONF_GO2RTC_HOST,
    CONF_GO2RTC_NAME,
    CONF_STREAM_URL,
    CONF_VIDEO_SOURCE,
    DOMAIN,
    MIIO_RETRIES,
    MIIO_TIMEOUT,
    MODEL_NAMES,
    SNAPSHOT_MAX_AGE,
    SNAPSHOT_WARM_PERIOD,
    STREAM_FRAME_TIMEOUT,
    STREAM_OPEN_TIMEOUT,
)

if TYPE_CHECKING:
    from .coordinator import XiaomiCamCoordinator

_LOGGER = logging.getLogger(__name__)

# One snapshot cache per Home Assistant instance, shared by every camera: its bounds are
# global, and it keeps cameras apart by id and source fingerprint.
DATA_FRAME_CACHE: HassKey[FrameCache] = HassKey(f"{DOMAIN}_frame_cache")
_DATA_FRAME_CACHE_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_frame_cache_lock")
# One thread decodes and encodes the stills of every camera (see camlib/worker.py).
DATA_STILL_WORKER: HassKey[StillWorker] = HassKey(f"{DOMAIN}_still_worker")


@dataclass(slots=True)
class XiaomiCamData:
    """What a loaded entry keeps: the device client, its coordinator, its identity, its video."""

    client: CameraClient
    coordinator: XiaomiCamCoordinator
    info: CameraInfo
    cache: FrameCache
    engine: SnapshotEngine | None = None  # None: no video source configured
    # The URL may carry credentials: kept out of repr so no log of this object leaks them.
    stream_url: str | None = field(default=None, repr=False)


type XiaomiCamConfigEntry = ConfigEntry[XiaomiCamData]


def create_client(host: str, token: str, device_id: int | None = None) -> CameraClient:
    """Build a client with the integration's short timeout.

    Kept in one place so setup, the config flow and tests share the same timeout: an
    unreachable camera must make setup fail fast (HA retries in the background).
    """
    return CameraClient(
        host, token, device_id=device_id, timeout=MIIO_TIMEOUT, retries=MIIO_RETRIES
    )


def create_engine(
    camera_id: str,
    url: str,
    *,
    warm_period: float = SNAPSHOT_WARM_PERIOD,
    worker: StillWorker | None = None,
    verify_tls: bool = True,
) -> SnapshotEngine:
    """Build a snapshot engine with the integration's timeouts.

    Blocking (it derives the key-stretched source fingerprint): call it in an executor.
    The timeouts add up to less than Home Assistant's image timeout, so a request for a
    dead stream still gets an answer from the cache.
    """
    return SnapshotEngine(
        camera_id,
        url,
        warm_period=warm_period,
        open_timeout=STREAM_OPEN_TIMEOUT,
        frame_timeout=STREAM_FRAME_TIMEOUT,
        worker=worker,
        verify_tls=verify_tls,
    )


@callback
def async_get_still_worker(hass: HomeAssistant) -> StillWorker:
    """Return the shared still worker, creating it on first use.

    Its thread is joined when the last camera with video unloads (a later still starts
    it again) and when Home Assistant closes.
    """
    if (worker := hass.data.get(DATA_STILL_WORKER)) is None:
        worker = hass.data[DATA_STILL_WORKER] = StillWorker(name=f"{DOMAIN}_still")

        async def _async_close(_: Event) -> None:
            await worker.async_stop()

        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _async_close)
    return worker


def verify_tls(options: Mapping[str, Any]) -> bool:
    """Whether an rtsps:// source's certificate is checked (on unless turned off)."""
    return bool(options.get(CONF_VERIFY_SSL, True))


def video_url(data: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """Return the stream URL the settings describe, or None for no video.

    Raises ValueError (sources.InvalidSource for a bad setting) when they make no URL.
    The camera presets use the camera's current address, so a camera that moves keeps
    its video.
    """
    return build_url(
        options.get(CONF_VIDEO_SOURCE, SourcePreset.NONE),
        data[CONF_HOST],
        go2rtc_host=options.get(CONF_GO2RTC_HOST),
        name=options.get(CONF_GO2RTC_NAME),
        custom_url=options.get(CONF_STREAM_URL),
        username=options.get(CONF_USERNAME),
        password=options.get(CONF_PASSWORD),
    )


def frame_cache_directory(hass: HomeAssistant) -> Path:
    """Where the snapshot cache persists its frames."""
    return Path(hass.config.path(".storage", DOMAIN, "snapshots"))


async def async_get_frame_cache(hass: HomeAssistant) -> FrameCache:
    """Return the shared snapshot cache, creating and loading it on first use.

    A cache folder that cannot be read is logged, not fatal: stills are then served
    live only, and the camera's controls keep working.
    """
    if (cache := hass.data.get(DATA_FRAME_CACHE)) is not None:
        return cache
    lock = hass.data.setdefault(_DATA_FRAME_CACHE_LOCK, asyncio.Lock())
    async with lock:
        if (cache := hass.data.get(DATA_FRAME_CACHE)) is None:
            cache = FrameCache(frame_cache_directory(hass), max_age=SNAPSHOT_MAX_AGE)
            try:
                await hass.async_add_executor_job(cache.load)
            except OSError as err:
                _LOGGER.warning(
                    "Cannot read the snapshot cache in %s (%s); cached stills start empty",
                    cache.directory,
                    err.strerror or type(err).__name__,
                )
            hass.data[DATA_FRAME_CACHE] = cache
    return cache


def model_name(model: str) -> str:
    """Return a friendly name for a model id, or the id itself."""
    return MODEL_NAMES.get(model, model)
