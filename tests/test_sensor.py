"""Sensor platform: SD card status."""

from __future__ import annotations

from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from tests.peers.miio_sim import MiioCameraSimulator

SDCARD = "sensor.mi_home_security_camera_360deg_sd_card"


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the sensor platform."""
    return [Platform.SENSOR]


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """The SD card sensor: an enum, diagnostic category."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.parametrize(
    ("code", "state"),
    [
        (0, "normal"),
        (1, "no_card"),
        (2, "full"),
        (3, "error"),
        (4, "formatting"),
        (5, STATE_UNKNOWN),
        (99, STATE_UNKNOWN),
        ("3", "error"),
        (None, "normal"),
    ],
)
async def test_sdcard_states(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
    code: int | str | None,
    state: str,
) -> None:
    """Known codes map to states; unknown codes show unknown and never break the entity."""
    miio_camera.props["sdcard_status"] = code
    await init_integration.runtime_data.coordinator.async_refresh()
    assert hass.states.get(SDCARD).state == state
