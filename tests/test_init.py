"""Setup, unload and removal of an entry, against a real simulated camera."""

from __future__ import annotations

from datetime import timedelta
import time

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL, CONF_TOKEN, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.xiaomi_cam_bridge.const import DOMAIN
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.miio_sim import Fault, MiioCameraSimulator

WRONG_DEVICE_ISSUE = "wrong_device_01JXIAOMICAMBRIDGE0000000"


async def _setup_fails(
    hass: HomeAssistant, sim: MiioCameraSimulator, entry: MockConfigEntry, fault: Fault
) -> None:
    """Add the entry and set it up against a camera with `fault`: the setup fails."""
    sim.fault = fault
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)


async def _camera_is_back(
    hass: HomeAssistant, sim: MiioCameraSimulator, entry: MockConfigEntry
) -> None:
    """The camera answers normally again: a reload (as the retry does) sets the entry up."""
    sim.fault = Fault.NONE
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_setup_and_unload(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A loaded entry has entities; unloading makes them unavailable and stops polling."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert {e.domain for e in entities} == {"button", "camera", "select", "sensor", "switch"}
    assert hass.states.get("switch.mi_home_security_camera_360deg_power").state == "on"

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    for entity in entities:
        state = hass.states.get(entity.entity_id)
        if state is not None:  # disabled-by-default entities never had a state
            assert state.state == STATE_UNAVAILABLE
    # Nothing polls the camera any more.
    polls = len(miio_camera.calls)
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(miio_camera.calls) == polls


async def test_device_registry(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """The camera is one device, identified by its MAC."""
    # Looked up through the entry: HA 2026.10 deprecates the global async_get_device, and
    # its async_get_device_by_identifier is not in 2026.6.
    devices = dr.async_entries_for_config_entry(device_registry, init_integration.entry_id)
    assert [d.identifiers for d in devices] == [{(DOMAIN, "78:11:dc:00:00:01")}]
    device = devices[0]
    assert device.connections == {(dr.CONNECTION_NETWORK_MAC, "78:11:dc:00:00:01")}
    assert device.manufacturer == "Xiaomi"
    assert device.model == "Mi Home Security Camera 360°"
    assert device.model_id == "chuangmi.camera.ipc019"
    assert device.sw_version == miio_camera.config.firmware
    assert device.hw_version == miio_camera.config.hardware
    assert device.name == init_integration.title


@pytest.mark.usefixtures("fast_miio_timeout")
async def test_unreachable_camera_is_retried_quickly(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A silent camera makes setup fail fast with ConfigEntryNotReady (retried later)."""
    started = time.monotonic()
    await _setup_fails(hass, miio_camera, mock_config_entry, Fault.SILENT)
    elapsed = time.monotonic() - started
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    # Bounded by MIIO_TIMEOUT (patched to 0.3 s) and one retry, not python-miio's
    # defaults (seconds per attempt, several attempts).
    assert elapsed < 5
    assert "did not answer" in str(mock_config_entry.reason)

    # The camera comes back: the retry sets the entry up.
    await _camera_is_back(hass, miio_camera, mock_config_entry)


async def test_setup_unsupported_reply_is_not_ready(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A reply the client cannot use at setup is retried, not a crash."""
    await _setup_fails(hass, miio_camera, mock_config_entry, Fault.BAD_PAYLOAD)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "unexpected reply" in str(mock_config_entry.reason)


async def test_setup_auth_failed_starts_reauth(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A refused token stops the setup and asks the user for a new token."""
    await _setup_fails(hass, miio_camera, mock_config_entry, Fault.WRONG_TOKEN)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == mock_config_entry.entry_id


async def test_setup_wrong_device_raises_issue(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    miio_camera: MiioCameraSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Another device at the address: retried, and the user is told through a repair."""
    await _setup_fails(hass, miio_camera, mock_config_entry, Fault.OTHER_DEVICE_ID)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    issue = issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE)
    assert issue is not None
    assert issue.translation_key == "wrong_device"
    assert issue.translation_placeholders == {
        "name": mock_config_entry.title,
        "host": miio_camera.host,
    }

    await _camera_is_back(hass, miio_camera, mock_config_entry)
    assert issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE) is None


async def test_options_change_reloads_data_change_does_not(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Only an options change reloads through the update listener."""
    entry = init_integration
    runtime_data = entry.runtime_data
    hass.config_entries.async_update_entry(entry, title="Hall camera")
    await hass.async_block_till_done()
    assert entry.runtime_data is runtime_data

    hass.config_entries.async_update_entry(entry, options={CONF_SCAN_INTERVAL: 60})
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime_data


async def test_remove_entry_leaves_nothing(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Removing the entry removes its entities, device and repair issue."""
    entry = init_integration
    # A wrong-device issue raised while loaded is removed with the entry.
    miio_camera.fault = Fault.OTHER_DEVICE_ID
    await entry.runtime_data.coordinator.async_refresh()
    assert issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE) is not None

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.config_entries.async_entries(DOMAIN) == []
    assert er.async_entries_for_config_entry(entity_registry, entry.entry_id) == []
    assert dr.async_entries_for_config_entry(device_registry, entry.entry_id) == []
    assert issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE) is None
    assert hass.states.async_entity_ids(DOMAIN) == []


async def test_remove_entry_that_never_loaded(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    miio_camera: MiioCameraSimulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """An entry stuck on another device can still be removed cleanly."""
    await _setup_fails(hass, miio_camera, mock_config_entry, Fault.OTHER_DEVICE_ID)
    assert issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE) is not None
    assert await hass.config_entries.async_remove(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE) is None


async def test_two_cameras(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    miio_camera_factory: MiioCameraFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Each entry talks to its own camera only."""
    other = await miio_camera_factory(model="isa.camera.hlc7")
    second = MockConfigEntry(
        domain=DOMAIN,
        title="Garden",
        unique_id="78:11:dc:00:01:01",
        data={
            **init_integration.data,
            "host": other.host,
            CONF_TOKEN: other.config.token,
            "device_id": other.config.device_id,
            "model": other.config.model,
            "mac": "78:11:dc:00:01:01",
        },
    )
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()

    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.garden_power"}, blocking=True
    )
    assert other.props["power"] == "off"
    assert miio_camera.props["power"] == "on"
    assert hass.states.get("switch.mi_home_security_camera_360deg_power").state == "on"
    # No motor on that model: no rotation buttons for it.
    assert hass.states.get("button.garden_rotate_left") is None
    assert hass.states.get("button.mi_home_security_camera_360deg_rotate_left") is not None
