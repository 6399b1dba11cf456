"""Polls the camera's miio status and maps device errors to Home Assistant errors.

Also holds what a loaded entry keeps (its runtime data) and the typed entry alias.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
import logging

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_SCAN_INTERVAL
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .camlib.cache import FrameCache
from .camlib.exceptions import CannotConnect, InvalidToken, UnsupportedReply, WrongDevice
from .camlib.miio_client import CameraClient, CameraInfo, CameraStatus
from .camlib.snapshot import SnapshotEngine
from .const import DEFAULT_SCAN_INTERVAL, DOMAIN

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class XiaomiCamData:
    """What a loaded entry keeps: its coordinator (client and identity), its video."""

    coordinator: XiaomiCamCoordinator
    cache: FrameCache
    engine: SnapshotEngine | None = None  # None: no video source configured
    # The URL may carry credentials: kept out of repr so no log of this object leaks them.
    stream_url: str | None = field(default=None, repr=False)


type XiaomiCamConfigEntry = ConfigEntry[XiaomiCamData]


def wrong_device_issue_id(entry: XiaomiCamConfigEntry) -> str:
    """Return the id of the repair issue raised when another device answers at the host."""
    return f"wrong_device_{entry.entry_id}"


class XiaomiCamCoordinator(DataUpdateCoordinator[CameraStatus]):
    """Fetches CameraStatus every scan_interval seconds.

    A different device answering at the camera's address (WrongDevice) is treated as a
    temporary failure, not a fatal one: the usual cause is a DHCP lease handed to another
    device, which zeroconf discovery repairs by updating the host and reloading the entry.
    A ConfigEntryError would stop the entry and block that automatic recovery. The user
    is told through a repair issue (pointing at "Reconfigure") for as long as it lasts.
    """

    config_entry: XiaomiCamConfigEntry
    info: CameraInfo  # set by the first refresh, before any entity exists

    def __init__(
        self, hass: HomeAssistant, config_entry: XiaomiCamConfigEntry, client: CameraClient
    ) -> None:
        """Set up the coordinator for one camera."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=config_entry,
            name=f"{DOMAIN} {config_entry.data[CONF_HOST]}",
            update_interval=timedelta(
                seconds=config_entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
            ),
        )
        self.client = client

    async def _async_setup(self) -> None:
        """Read the camera's identity once, before the first status poll."""
        self.info = await self._translate_errors(self.client.info())

    async def _async_update_data(self) -> CameraStatus:
        """Fetch the status."""
        return await self._translate_errors(self.client.status())

    async def _translate_errors[T](self, request: Awaitable[T]) -> T:
        """Await a client request; turn camlib errors into translated HA errors."""
        placeholders = {"host": self.client.host}
        try:
            result = await request
        except InvalidToken as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="invalid_token",
                translation_placeholders=placeholders,
            ) from err
        except WrongDevice as err:
            self._set_wrong_device_issue(active=True)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="wrong_device",
                translation_placeholders=placeholders,
            ) from err
        except CannotConnect as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders=placeholders,
            ) from err
        except UnsupportedReply as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="unsupported_reply",
                translation_placeholders={**placeholders, "error": str(err)},
            ) from err
        self._set_wrong_device_issue(active=False)
        return result

    def _set_wrong_device_issue(self, *, active: bool) -> None:
        issue_id = wrong_device_issue_id(self.config_entry)
        if not active:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="wrong_device",
            translation_placeholders={
                "name": self.config_entry.title,
                "host": self.client.host,
            },
        )
