"""Select platform: night mode."""

from __future__ import annotations

from homeassistant.components.select import (
    ATTR_OPTION,
    ATTR_OPTIONS,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.xiaomi_cam_bridge.const import DOMAIN
from tests.conftest import SnapshotEntities
from tests.peers.miio_sim import Fault, MiioCameraSimulator

NIGHT_MODE = "select.mi_home_security_camera_360deg_night_vision"


pytestmark = pytest.mark.platforms(Platform.SELECT)  # set up only this platform


async def test_entities(snapshot_entities: SnapshotEntities) -> None:
    """The night mode select, its options and state."""
    await snapshot_entities()


@pytest.mark.parametrize(("option", "miio_value"), [("on", 2), ("off", 1), ("auto", 0)])
async def test_select_night_mode(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
    option: str,
    miio_value: int,
) -> None:
    """Each option reaches the camera as its miio value; the state follows at once."""
    # Start from a different mode so every case is a change.
    miio_camera.props["night_mode"] = 1 if miio_value != 1 else 2
    await init_integration.runtime_data.coordinator.async_refresh()
    assert hass.states.get(NIGHT_MODE).state != option

    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: NIGHT_MODE, ATTR_OPTION: option},
        blocking=True,
    )
    assert miio_camera.props["night_mode"] == miio_value
    assert hass.states.get(NIGHT_MODE).state == option
    assert hass.states.get(NIGHT_MODE).attributes[ATTR_OPTIONS] == ["auto", "off", "on"]


async def test_invalid_option_not_sent(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """An option outside the list is refused by Home Assistant before any command."""
    calls = len(miio_camera.calls)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: NIGHT_MODE, ATTR_OPTION: "infrared"},
            blocking=True,
        )
    assert len(miio_camera.calls) == calls


async def test_command_error_keeps_state(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """A reply the client cannot use fails the command; the state stays as it was."""
    miio_camera.fault = Fault.BAD_PAYLOAD
    with pytest.raises(HomeAssistantError) as excinfo:
        await hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: NIGHT_MODE, ATTR_OPTION: "on"},
            blocking=True,
        )
    assert excinfo.value.translation_domain == DOMAIN
    assert excinfo.value.translation_key == "command_unsupported_reply"
    assert hass.states.get(NIGHT_MODE).state == "auto"
