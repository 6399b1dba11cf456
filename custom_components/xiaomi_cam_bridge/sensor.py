"""Sensors of a Xiaomi camera: SD card status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camlib.miio_client import CameraStatus
from .coordinator import XiaomiCamConfigEntry
from .entity import XiaomiCamEntity

# Read-only: state comes from the coordinator, no per-entity update calls.
PARALLEL_UPDATES = 0

# miio `sdcard_status` codes of Chuangmi cameras. Only 0 (card working) is confirmed by
# python-miio's sample replies; 1-4 follow the order of the Mi Home app's card states and
# may differ between firmwares. Any other code is shown as unknown rather than guessed.
SDCARD_STATES: Final[dict[int, str]] = {
    0: "normal",
    1: "no_card",
    2: "full",
    3: "error",
    4: "formatting",
}


@dataclass(frozen=True, kw_only=True)
class XiaomiCamSensorEntityDescription(SensorEntityDescription):
    """How to read one sensor from the status."""

    value_fn: Callable[[CameraStatus], str | None]


SENSORS: tuple[XiaomiCamSensorEntityDescription, ...] = (
    XiaomiCamSensorEntityDescription(
        key="sdcard_status",
        translation_key="sdcard_status",
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=list(SDCARD_STATES.values()),
        value_fn=lambda status: SDCARD_STATES.get(status.sdcard_status),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: XiaomiCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of one camera."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(XiaomiCamSensor(coordinator, description) for description in SENSORS)


class XiaomiCamSensor(XiaomiCamEntity, SensorEntity):
    """A read-only value from the camera's status."""

    entity_description: XiaomiCamSensorEntityDescription

    @property
    def native_value(self) -> str | None:
        """Return the mapped state, None (unknown) for an unexpected code."""
        return self.entity_description.value_fn(self.coordinator.data)
