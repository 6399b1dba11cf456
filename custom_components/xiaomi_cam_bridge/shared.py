"""Objects shared by every camera of one Home Assistant instance."""

from __future__ import annotations

import logging
from pathlib import Path

from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers.singleton import singleton
from homeassistant.util.hass_dict import HassKey

from .camlib.cache import FrameCache
from .camlib.worker import StillWorker
from .const import DOMAIN, SNAPSHOT_MAX_AGE

_LOGGER = logging.getLogger(__name__)

# One snapshot cache per Home Assistant instance, shared by every camera: its bounds are
# global, and it keeps cameras apart by id and source fingerprint.
DATA_FRAME_CACHE: HassKey[FrameCache] = HassKey(f"{DOMAIN}_frame_cache")
# One thread decodes and encodes the stills of every camera (see camlib/worker.py).
DATA_STILL_WORKER: HassKey[StillWorker] = HassKey(f"{DOMAIN}_still_worker")


@singleton(DATA_STILL_WORKER)
def async_get_still_worker(hass: HomeAssistant) -> StillWorker:
    """Return the shared still worker, creating it on first use.

    Its thread is joined when the last camera with video unloads (a later still starts
    it again) and when Home Assistant closes.
    """
    worker = StillWorker(name=f"{DOMAIN}_still")

    async def _async_close(_: Event) -> None:
        await worker.async_stop()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_CLOSE, _async_close)
    return worker


def frame_cache_directory(hass: HomeAssistant) -> Path:
    """Where the snapshot cache persists its frames."""
    return Path(hass.config.path(".storage", DOMAIN, "snapshots"))


@singleton(DATA_FRAME_CACHE, async_=True)
async def async_get_frame_cache(hass: HomeAssistant) -> FrameCache:
    """Return the shared snapshot cache, creating and loading it on first use.

    A cache folder that cannot be read is logged, not fatal: stills are then served
    live only, and the camera's controls keep working.
    """
    cache = FrameCache(frame_cache_directory(hass), max_age=SNAPSHOT_MAX_AGE)
    try:
        await hass.async_add_executor_job(cache.load)
    except OSError as err:
        _LOGGER.warning(
            "Cannot read the snapshot cache in %s (%s); cached stills start empty",
            cache.directory,
            err.strerror or type(err).__name__,
        )
    return cache
