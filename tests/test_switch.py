"""Switch platform: states, commands reaching the camera, errors."""

from __future__ import annotations

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.xiaomi_cam_bridge.const import DOMAIN
from custom_components.xiaomi_cam_bridge.coordinator import wrong_device_issue_id
from tests.conftest import SnapshotEntities
from tests.peers.miio_sim import Fault, MiioCameraSimulator

PREFIX = "switch.mi_home_security_camera_360deg"


pytestmark = pytest.mark.platforms(Platform.SWITCH)  # set up only this platform


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(snapshot_entities: SnapshotEntities) -> None:
    """All switches, with their names, categories, icons and states."""
    await snapshot_entities()


async def test_improve_program_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """The telemetry switch exists but is disabled until the user enables it."""
    entry = entity_registry.async_get(f"{PREFIX}_user_experience_program")
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(f"{PREFIX}_user_experience_program") is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("entity", "prop", "initial"),
    [
        ("power", "power", "on"),
        ("status_light", "light", "on"),
        ("flip_image", "flip", "off"),
        ("full_color_in_low_light", "full_color", "off"),
        ("wide_dynamic_range", "wdr", "on"),
        ("time_watermark", "watermark", "on"),
        ("motion_recording", "motion_record", "on"),
        ("user_experience_program", "improve_program", "off"),
    ],
)
async def test_turn_off_and_on(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
    entity: str,
    prop: str,
    initial: str,
) -> None:
    """Each switch changes the camera's property; the state follows without a poll."""
    entity_id = f"{PREFIX}_{entity}"
    assert hass.states.get(entity_id).state == initial
    polls = sum(1 for method, _ in miio_camera.calls if method == "get_prop")

    for service, value in ((SERVICE_TURN_OFF, "off"), (SERVICE_TURN_ON, "on")):
        await hass.services.async_call(
            SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
        assert miio_camera.props[prop] == value
        assert hass.states.get(entity_id).state == value

    assert sum(1 for method, _ in miio_camera.calls if method == "get_prop") == polls


async def test_motion_record_stop_reads_as_off(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """A camera set to not record at all (stop) shows motion recording off."""
    miio_camera.props["motion_record"] = "stop"
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(f"{PREFIX}_motion_recording").state == STATE_OFF


@pytest.mark.usefixtures("fast_miio_timeout")
async def test_command_fails_state_kept(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """A command the camera does not answer raises a translated error; state unchanged."""
    entity_id = f"{PREFIX}_power"
    miio_camera.fault = Fault.SILENT
    with pytest.raises(HomeAssistantError) as excinfo:
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
    assert excinfo.value.translation_domain == DOMAIN
    assert excinfo.value.translation_key == "command_cannot_connect"
    assert entity_id in str(excinfo.value)
    assert hass.states.get(entity_id).state == STATE_ON
    assert miio_camera.props["power"] == "on"


async def test_command_token_refused_starts_reauth(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """A command refused for the token fails and asks the user for a new token."""
    miio_camera.fault = Fault.WRONG_TOKEN
    with pytest.raises(HomeAssistantError, match="command"):
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: f"{PREFIX}_flip_image"}, blocking=True
        )
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def _turn_off_fails(hass: HomeAssistant, entity_id: str) -> HomeAssistantError:
    with pytest.raises(HomeAssistantError) as excinfo:
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
    assert excinfo.value.translation_domain == DOMAIN
    assert entity_id in str(excinfo.value)
    return excinfo.value


async def test_command_token_refused_shows_at_once(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """A refused token has its own error, and the entities go unavailable without a poll."""
    entity_id = f"{PREFIX}_flip_image"
    miio_camera.fault = Fault.WRONG_TOKEN
    err = await _turn_off_fails(hass, entity_id)
    assert err.translation_key == "command_invalid_token"
    assert "rejected the token" in str(err)
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE


async def test_command_wrong_device_shows_at_once(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Another device answering has its own error; the repair issue is raised at once."""
    entity_id = f"{PREFIX}_power"
    miio_camera.fault = Fault.OTHER_DEVICE_ID
    err = await _turn_off_fails(hass, entity_id)
    assert err.translation_key == "command_wrong_device"
    assert "another device" in str(err)
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert issue_registry.async_get_issue(DOMAIN, wrong_device_issue_id(init_integration))
    assert miio_camera.props["power"] == "on"


async def test_command_unsupported_reply(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """A reply the client cannot use has its own error; the state is kept, no poll."""
    entity_id = f"{PREFIX}_wide_dynamic_range"
    polls = sum(1 for method, _ in miio_camera.calls if method == "get_prop")
    miio_camera.fault = Fault.BAD_PAYLOAD
    err = await _turn_off_fails(hass, entity_id)
    assert err.translation_key == "command_unsupported_reply"
    assert "unexpected reply" in str(err)
    assert hass.states.get(entity_id).state == STATE_ON
    assert sum(1 for method, _ in miio_camera.calls if method == "get_prop") == polls
