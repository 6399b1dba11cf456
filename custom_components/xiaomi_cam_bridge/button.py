"""Buttons of a Xiaomi camera: siren, and pan/tilt steps on models with a motor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camlib.miio_client import CameraClient, CameraInfo, Direction
from .coordinator import XiaomiCamConfigEntry
from .entity import XiaomiCamEntity

# Commands go one at a time per camera anyway (the client serialises them).
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class XiaomiCamButtonEntityDescription(ButtonEntityDescription):
    """What a button sends, and on which models it exists."""

    press_fn: Callable[[CameraClient], Awaitable[None]]
    supported_fn: Callable[[CameraInfo], bool] = lambda info: True


def _rotate(direction: Direction) -> XiaomiCamButtonEntityDescription:
    return XiaomiCamButtonEntityDescription(
        key=f"rotate_{direction.value}",
        translation_key=f"rotate_{direction.value}",
        press_fn=lambda client: client.rotate(direction),
        supported_fn=lambda info: info.has_motor,
    )


BUTTONS: tuple[XiaomiCamButtonEntityDescription, ...] = (
    XiaomiCamButtonEntityDescription(
        key="alarm",
        translation_key="alarm",
        press_fn=lambda client: client.sound_alarm(),
    ),
    *(_rotate(direction) for direction in Direction),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: XiaomiCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the buttons the camera's model supports."""
    data = entry.runtime_data
    async_add_entities(
        XiaomiCamButton(data.coordinator, description)
        for description in BUTTONS
        if description.supported_fn(data.coordinator.info)
    )


class XiaomiCamButton(XiaomiCamEntity, ButtonEntity):
    """A one-shot command; it changes no polled state."""

    entity_description: XiaomiCamButtonEntityDescription

    async def async_press(self) -> None:
        """Send the command."""
        await self._async_command(self.entity_description.press_fn(self.coordinator.client))
