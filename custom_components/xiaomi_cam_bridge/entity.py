"""Base entity of the integration: device info, naming, availability, commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import CONNECTION_NETWORK_MAC, DeviceInfo, format_mac
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .camlib.exceptions import (
    CamError,
    CannotConnect,
    InvalidToken,
    UnsupportedReply,
    WrongDevice,
)
from .camlib.miio_client import CameraStatus
from .const import DOMAIN
from .coordinator import XiaomiCamCoordinator
from .helpers import model_name

# The translation key of a failed command, by cause (first match wins).
_COMMAND_ERRORS: tuple[tuple[type[CamError], str], ...] = (
    (WrongDevice, "command_wrong_device"),
    (InvalidToken, "command_invalid_token"),
    (CannotConnect, "command_cannot_connect"),
    (UnsupportedReply, "command_unsupported_reply"),
)


class XiaomiCamEntity(CoordinatorEntity[XiaomiCamCoordinator]):
    """An entity of one camera; unavailable while the coordinator's polls fail."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: XiaomiCamCoordinator, description: EntityDescription) -> None:
        """Bind the entity to its camera and description."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        info = coordinator.info
        # The entry's unique id is the MAC; it survives IP changes and token resets.
        camera_id = entry.unique_id or format_mac(info.mac)
        self._attr_unique_id = f"{camera_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, camera_id)},
            connections={(CONNECTION_NETWORK_MAC, format_mac(info.mac))},
            manufacturer="Xiaomi",
            model=model_name(info.model),
            model_id=info.model,
            name=entry.title,
            sw_version=info.firmware,
            hw_version=info.hardware,
        )

    async def _async_command(
        self,
        command: Awaitable[None],
        update: Callable[[CameraStatus], CameraStatus] | None = None,
    ) -> None:
        """Send a command; on success publish the state it produced without a new poll.

        On failure nothing is published, so the entity keeps showing the last state the
        camera reported, and the caller gets an error translated for its cause.
        """
        try:
            await command
        except CamError as err:
            if isinstance(err, WrongDevice | InvalidToken):
                # A poll now makes the entities (and the repair issue or reauth flow)
                # show the cause at once instead of at the next scheduled poll.
                await self.coordinator.async_request_refresh()
            key = next(
                (key for cause, key in _COMMAND_ERRORS if isinstance(err, cause)),
                "command_failed",
            )
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={
                    "entity": self.entity_id,
                    "host": self.coordinator.client.host,
                    "error": str(err) or type(err).__name__,
                },
            ) from err
        # Applied to the data current *after* the command, in case a poll landed meanwhile.
        if update is not None:
            self.coordinator.async_set_updated_data(update(self.coordinator.data))
