"""Sensor platform: SD card status."""

from __future__ import annotations

from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.conftest import SnapshotEntities
from tests.peers.miio_sim import MiioCameraSimulator

SDCARD = "sensor.mi_home_security_camera_360deg_sd_card"


pytestmark = pytest.mark.platforms(Platform.SENSOR)  # set up only this platform


async def test_entities(snapshot_entities: SnapshotEntities) -> None:
    """The SD card sensor: an enum, diagnostic category."""
    await snapshot_entities()


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
