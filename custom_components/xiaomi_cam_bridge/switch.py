"""Switches of a Xiaomi camera: power (privacy) and image / recording settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camlib.miio_client import CameraClient, CameraStatus, MotionRecord
from .data import XiaomiCamConfigEntry
from .entity import XiaomiCamEntity

# Commands go one at a time per camera anyway (the client serialises them).
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class XiaomiCamSwitchEntityDescription(SwitchEntityDescription):
    """How to read, set and locally update one on/off setting."""

    value_fn: Callable[[CameraStatus], bool]
    set_fn: Callable[[CameraClient, bool], Awaitable[None]]
    update_fn: Callable[[CameraStatus, bool], CameraStatus]


def _motion_record(on: bool) -> MotionRecord:
    return MotionRecord.ON if on else MotionRecord.OFF


SWITCHES: tuple[XiaomiCamSwitchEntityDescription, ...] = (
    # The camera's own power: off stops video and recording (privacy mode).
    XiaomiCamSwitchEntityDescription(
        key="power",
        translation_key="power",
        value_fn=lambda status: status.power,
        set_fn=lambda client, on: client.set_power(on),
        update_fn=lambda status, on: replace(status, power=on),
    ),
    XiaomiCamSwitchEntityDescription(
        key="status_light",
        translation_key="status_light",
        entity_category=EntityCategory.CONFIG,
        value_fn=lambda status: status.status_light,
        set_fn=lambda client, on: client.set_status_light(on),
        update_fn=lambda status, on: replace(status, status_light=on),
    ),
    XiaomiCamSwitchEntityDescription(
        key="flip",
        translation_key="flip",
        entity_category=EntityCategory.CONFIG,
        value_fn=lambda status: status.flip,
        set_fn=lambda client, on: client.set_flip(on),
        update_fn=lambda status, on: replace(status, flip=on),
    ),
    XiaomiCamSwitchEntityDescription(
        key="full_color",
        translation_key="full_color",
        entity_category=EntityCategory.CONFIG,
        value_fn=lambda status: status.full_color,
        set_fn=lambda client, on: client.set_full_color(on),
        update_fn=lambda status, on: replace(status, full_color=on),
    ),
    XiaomiCamSwitchEntityDescription(
        key="wdr",
        translation_key="wdr",
        entity_category=EntityCategory.CONFIG,
        value_fn=lambda status: status.wdr,
        set_fn=lambda client, on: client.set_wdr(on),
        update_fn=lambda status, on: replace(status, wdr=on),
    ),
    XiaomiCamSwitchEntityDescription(
        key="watermark",
        translation_key="watermark",
        entity_category=EntityCategory.CONFIG,
        value_fn=lambda status: status.watermark,
        set_fn=lambda client, on: client.set_watermark(on),
        update_fn=lambda status, on: replace(status, watermark=on),
    ),
    XiaomiCamSwitchEntityDescription(
        key="motion_record",
        translation_key="motion_record",
        entity_category=EntityCategory.CONFIG,
        value_fn=lambda status: status.motion_record == MotionRecord.ON,
        set_fn=lambda client, on: client.set_motion_record(_motion_record(on)),
        update_fn=lambda status, on: replace(status, motion_record=_motion_record(on)),
    ),
    # Xiaomi's "user experience programme" telemetry: rarely wanted, hidden by default.
    XiaomiCamSwitchEntityDescription(
        key="improve_program",
        translation_key="improve_program",
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        value_fn=lambda status: status.improve_program,
        set_fn=lambda client, on: client.set_improve_program(on),
        update_fn=lambda status, on: replace(status, improve_program=on),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: XiaomiCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches of one camera."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(XiaomiCamSwitch(coordinator, description) for description in SWITCHES)


class XiaomiCamSwitch(XiaomiCamEntity, SwitchEntity):
    """An on/off setting of the camera."""

    entity_description: XiaomiCamSwitchEntityDescription

    @property
    def is_on(self) -> bool:
        """Return the state the camera last reported (or was last set to)."""
        return self.entity_description.value_fn(self.coordinator.data)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn the setting on."""
        await self._async_set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the setting off."""
        await self._async_set(False)

    async def _async_set(self, on: bool) -> None:
        description = self.entity_description
        await self._async_command(
            description.set_fn(self.coordinator.client, on),
            lambda status: description.update_fn(status, on),
        )
