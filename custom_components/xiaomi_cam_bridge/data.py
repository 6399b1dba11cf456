"""Runtime data of a config entry and the helpers that build it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

from .camlib.miio_client import CameraClient, CameraInfo
from .const import MIIO_RETRIES, MIIO_TIMEOUT, MODEL_NAMES

if TYPE_CHECKING:
    from .coordinator import XiaomiCamCoordinator


@dataclass(slots=True)
class XiaomiCamData:
    """What a loaded entry keeps: the device client, its coordinator, its identity."""

    client: CameraClient
    coordinator: XiaomiCamCoordinator
    info: CameraInfo


type XiaomiCamConfigEntry = ConfigEntry[XiaomiCamData]


def create_client(host: str, token: str, device_id: int | None = None) -> CameraClient:
    """Build a client with the integration's short timeout.

    Kept in one place so setup, the config flow and tests share the same timeout: an
    unreachable camera must make setup fail fast (HA retries in the background).
    """
    return CameraClient(
        host, token, device_id=device_id, timeout=MIIO_TIMEOUT, retries=MIIO_RETRIES
    )


def model_name(model: str) -> str:
    """Return a friendly name for a model id, or the id itself."""
    return MODEL_NAMES.get(model, model)
