"""Button platform: alarm, and rotation on models with a motor."""

from __future__ import annotations

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.xiaomi_cam_bridge.const import DOMAIN
from tests.conftest import ConfigEntryFactory, SnapshotEntities
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.miio_sim import MiioCameraSimulator

PREFIX = "button.mi_home_security_camera_360deg"


pytestmark = pytest.mark.platforms(Platform.BUTTON)  # set up only this platform


async def test_entities(snapshot_entities: SnapshotEntities) -> None:
    """A camera with a motor has the alarm and four rotation buttons."""
    await snapshot_entities()


async def test_alarm(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """The alarm button sounds the camera's siren."""
    entity_id = f"{PREFIX}_sound_alarm"
    assert hass.states.get(entity_id).state == STATE_UNKNOWN
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    assert miio_camera.calls[-1] == ("alarm_sound", [])
    assert hass.states.get(entity_id).state != STATE_UNKNOWN  # last press time


@pytest.mark.parametrize(
    ("direction", "operation"), [("left", 1), ("right", 2), ("up", 3), ("down", 4)]
)
async def test_rotate(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
    direction: str,
    operation: int,
) -> None:
    """Each rotation button moves the motor in its direction."""
    await hass.services.async_call(
        BUTTON_DOMAIN,
        SERVICE_PRESS,
        {ATTR_ENTITY_ID: f"{PREFIX}_rotate_{direction}"},
        blocking=True,
    )
    assert miio_camera.calls[-1] == ("set_motor", {"operation": operation})


async def test_no_motor_no_rotation(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    miio_camera_factory: MiioCameraFactory,
    config_entry_factory: ConfigEntryFactory,
) -> None:
    """A model without a motor only gets the alarm button."""
    sim = await miio_camera_factory(model="isa.camera.hlc7")
    entry = config_entry_factory(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    buttons = [e.translation_key for e in entities if e.domain == BUTTON_DOMAIN]
    assert buttons == ["alarm"]


async def test_press_error(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """A camera error (here: the motor refusing) surfaces as a translated error."""
    miio_camera.config.has_motor = False
    with pytest.raises(HomeAssistantError) as excinfo:
        await hass.services.async_call(
            BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: f"{PREFIX}_rotate_up"}, blocking=True
        )
    assert excinfo.value.translation_domain == DOMAIN
    assert excinfo.value.translation_key == "command_unsupported_reply"
    assert "unsupported" in str(excinfo.value)
