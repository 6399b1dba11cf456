"""Switches of a Xiaomi camera: power (privacy) and image / recording settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camlib.miio_client import CameraClient, CameraStatus, MotionRecord, OnOff
from .coordinator import XiaomiCamConfigEntry
from .entity import XiaomiCamEntity

# Commands go one at a time per camera anyway (the client serialises them).
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class XiaomiCamSwitchEntityDescription(SwitchEntityDescription):
    """How to read, set and locally update one on/off setting."""

    value_fn: Callable[[CameraStatus], bool]
    set_fn: Callable[[CameraClient, bool], Awaitable[None]]
    update_fn: Callable[[CameraStatus, bool], CameraStatus]


def _on_off_switch(setting: OnOff, **kwargs: Any) -> XiaomiCamSwitchEntityDescription:
    """Describe the switch of a plain on/off setting, keyed by its status field."""
    name = setting.status_field

    def update(status: CameraStatus, on: bool) -> CameraStatus:
        changes: dict[str, Any] = {name: on}
        return replace(status, **changes)

    return XiaomiCamSwitchEntityDescription(
        key=name,
        translation_key=name,
        value_fn=lambda status: bool(getattr(status, name)),
        set_fn=lambda client, on: client.set_on_off(setting, on),
        update_fn=update,
        **kwargs,
    )


def _motion_record(on: bool) -> MotionRecord:
    return MotionRecord.ON if on else MotionRecord.OFF


SWITCHES: tuple[XiaomiCamSwitchEntityDescription, ...] = (
    # The camera's own power: off stops video and recording (privacy mode).
    _on_off_switch(OnOff.POWER),
    *(
        _on_off_switch(setting, entity_category=EntityCategory.CONFIG)
        for setting in (
            OnOff.STATUS_LIGHT,
            OnOff.FLIP,
            OnOff.FULL_COLOR,
            OnOff.WDR,
            OnOff.WATERMARK,
        )
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
    _on_off_switch(
        OnOff.IMPROVE_PROGRAM,
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
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
