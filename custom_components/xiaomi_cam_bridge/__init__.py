"""The Xiaomi Camera Bridge integration: local control of Xiaomi Mijia cameras."""

from __future__ import annotations

from functools import partial
import logging

from homeassistant.const import CONF_HOST, CONF_TOKEN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .camlib.snapshot import SnapshotEngine
from .camlib.sources import fingerprint, redact_url
from .const import CONF_DEVICE_ID, DOMAIN
from .coordinator import (
    XiaomiCamConfigEntry,
    XiaomiCamCoordinator,
    XiaomiCamData,
    wrong_device_issue_id,
)
from .google import async_setup_google
from .helpers import create_client, create_engine, verify_tls, video_url
from .shared import async_get_frame_cache, async_get_still_worker

__all__ = ["XiaomiCamConfigEntry", "XiaomiCamData"]

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [
    Platform.BUTTON,
    Platform.CAMERA,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup_entry(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> bool:
    """Connect to the camera, read its identity and status, set up the platforms.

    The first refresh raises ConfigEntryNotReady when the camera does not answer
    (after MIIO_TIMEOUT, so HA's start is not held up) and ConfigEntryAuthFailed
    (which starts a reauth flow) when the token is refused. Nothing connects to the
    video stream here: the snapshot engine connects on the first still request.
    """
    # Pinning the device id makes the client refuse another device at the same address.
    client = create_client(
        entry.data[CONF_HOST], entry.data[CONF_TOKEN], device_id=entry.data[CONF_DEVICE_ID]
    )
    coordinator = XiaomiCamCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    cache = await async_get_frame_cache(hass)
    url = _configured_url(entry)
    engine: SnapshotEngine | None = None
    if url is not None:
        _LOGGER.debug("Video source of %s: %s", entry.title, redact_url(url))
        # The engine derives a key-stretched fingerprint of the URL: not in the loop.
        engine = await hass.async_add_executor_job(
            partial(
                create_engine,
                _camera_id(entry),
                url,
                worker=async_get_still_worker(hass),
                verify_tls=verify_tls(entry.options),
            )
        )
    entry.runtime_data = XiaomiCamData(
        coordinator=coordinator,
        cache=cache,
        engine=engine,
        stream_url=url,
    )

    # Data and options are read at setup, so a change of either needs a reload: this
    # listener is the one place that schedules it (the flows only update the entry).
    setup_data = dict(entry.data)
    setup_options = dict(entry.options)
    setup_url = url

    async def _async_entry_updated(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> None:
        new_url = _configured_url(entry)
        if new_url != setup_url and await _async_source_changed(hass, setup_url, new_url):
            # Stills of the previous source must not come back, not even from disk.
            await hass.async_add_executor_job(cache.invalidate, _camera_id(entry))
        if dict(entry.options) != setup_options or dict(entry.data) != setup_data:
            hass.config_entries.async_schedule_reload(entry.entry_id)

    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    async_setup_google(hass, entry)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> bool:
    """Unload the platforms; stop the snapshot engine and, last camera out, the worker.

    The coordinator stops itself through entry.async_on_unload. The still worker's
    thread is joined when no other loaded camera has video.
    """
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        if (engine := entry.runtime_data.engine) is not None:
            await engine.async_close()
            if not any(
                other.runtime_data.engine is not None
                for other in hass.config_entries.async_loaded_entries(DOMAIN)
                if other.entry_id != entry.entry_id
            ):
                await async_get_still_worker(hass).async_stop()
        # A stale "wrong device" issue must not outlive the entry it is about.
        ir.async_delete_issue(hass, DOMAIN, wrong_device_issue_id(entry))
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> None:
    """Forget everything stored for a removed camera: repair issue and cached stills.

    Runs for entries that never loaded too, so the cache is opened here if needed.
    """
    ir.async_delete_issue(hass, DOMAIN, wrong_device_issue_id(entry))
    cache = await async_get_frame_cache(hass)
    await hass.async_add_executor_job(cache.invalidate, _camera_id(entry))


def _camera_id(entry: XiaomiCamConfigEntry) -> str:
    """Return the id stills are filed under: the entry's unique id (the camera's MAC)."""
    return entry.unique_id or entry.entry_id


def _configured_url(entry: XiaomiCamConfigEntry) -> str | None:
    """Return the stream URL of the entry's settings; None (logged) when unusable."""
    try:
        return video_url(entry.data, entry.options)
    except ValueError as err:
        # The message is a reason key or an unknown preset name: never the URL.
        _LOGGER.warning("The video settings of %s are invalid (%s); video is off", entry.title, err)
        return None


async def _async_source_changed(hass: HomeAssistant, old: str | None, new: str | None) -> bool:
    """Whether two URLs lead to different sources (spelling differences do not count)."""
    if old is None or new is None:
        return True
    old_print, new_print = await hass.async_add_executor_job(
        lambda: (fingerprint(old), fingerprint(new))
    )
    return old_print != new_print
