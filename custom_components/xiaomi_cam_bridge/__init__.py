"""The Xiaomi Camera Bridge integration: local control of Xiaomi Mijia cameras."""

from __future__ import annotations

from homeassistant.const import CONF_HOST, CONF_TOKEN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import CONF_DEVICE_ID, DOMAIN
from .coordinator import XiaomiCamCoordinator, wrong_device_issue_id
from .data import XiaomiCamConfigEntry, XiaomiCamData, create_client

__all__ = ["XiaomiCamConfigEntry", "XiaomiCamData"]

PLATFORMS: list[Platform] = [Platform.BUTTON, Platform.SELECT, Platform.SENSOR, Platform.SWITCH]


async def async_setup_entry(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> bool:
    """Connect to the camera, read its identity and status, set up the platforms.

    The first refresh raises ConfigEntryNotReady when the camera does not answer
    (after MIIO_TIMEOUT, so HA's start is not held up) and ConfigEntryAuthFailed
    (which starts a reauth flow) when the token is refused.
    """
    # Pinning the device id makes the client refuse another device at the same address.
    client = create_client(
        entry.data[CONF_HOST], entry.data[CONF_TOKEN], device_id=entry.data[CONF_DEVICE_ID]
    )
    coordinator = XiaomiCamCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = XiaomiCamData(
        client=client, coordinator=coordinator, info=coordinator.info
    )

    # Options are read at setup, so a change needs a reload. Data changes (host, token)
    # already reload through the config flow helpers: reloading here too would be a
    # second, useless round of network calls.
    setup_options = dict(entry.options)

    async def _async_options_updated(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> None:
        if dict(entry.options) != setup_options:
            hass.config_entries.async_schedule_reload(entry.entry_id)

    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> bool:
    """Unload the platforms; the coordinator stops itself through entry.async_on_unload."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        # A stale "wrong device" issue must not outlive the entry it is about.
        ir.async_delete_issue(hass, DOMAIN, wrong_device_issue_id(entry))
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> None:
    """Forget everything stored for a removed camera.

    Nothing is persisted per camera yet; the snapshot cache (issue 3) deletes the
    camera's cached frames here.
    """
    ir.async_delete_issue(hass, DOMAIN, wrong_device_issue_id(entry))
