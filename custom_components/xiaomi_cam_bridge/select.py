"""Selects of a Xiaomi camera: night mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camlib.miio_client import CameraClient, CameraStatus, NightMode
from .coordinator import XiaomiCamConfigEntry
from .entity import XiaomiCamEntity

# Commands go one at a time per camera anyway (the client serialises them).
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class XiaomiCamSelectEntityDescription(SelectEntityDescription):
    """How to read, set and locally update one multiple-choice setting."""

    value_fn: Callable[[CameraStatus], str]
    set_fn: Callable[[CameraClient, str], Awaitable[None]]
    update_fn: Callable[[CameraStatus, str], CameraStatus]


SELECTS: tuple[XiaomiCamSelectEntityDescription, ...] = (
    XiaomiCamSelectEntityDescription(
        key="night_mode",
        translation_key="night_mode",
        entity_category=EntityCategory.CONFIG,
        options=[mode.value for mode in NightMode],
        value_fn=lambda status: status.night_mode.value,
        set_fn=lambda client, option: client.set_night_mode(NightMode(option)),
        update_fn=lambda status, option: replace(status, night_mode=NightMode(option)),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: XiaomiCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the selects of one camera."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(XiaomiCamSelect(coordinator, description) for description in SELECTS)


class XiaomiCamSelect(XiaomiCamEntity, SelectEntity):
    """A multiple-choice setting of the camera."""

    entity_description: XiaomiCamSelectEntityDescription

    @property
    def current_option(self) -> str:
        """Return the option the camera last reported (or was last set to)."""
        return self.entity_description.value_fn(self.coordinator.data)

    async def async_select_option(self, option: str) -> None:
        """Set the option (HA has already checked it is one of `options`)."""
        description = self.entity_description
        await self._async_command(
            description.set_fn(self.coordinator.client, option),
            lambda status: description.update_fn(status, option),
        )
