"""Constants for the Xiaomi Camera Bridge integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "xiaomi_cam_bridge"

CONF_DEVICE_ID: Final = "device_id"
CONF_MAC: Final = "mac"
CONF_MODEL: Final = "model"

DEFAULT_SCAN_INTERVAL: Final = 30
MIN_SCAN_INTERVAL: Final = 5
MAX_SCAN_INTERVAL: Final = 3600

# Seconds a single miio exchange may take before the camera counts as unreachable.
MIIO_TIMEOUT: Final = 5.0
# One retry: a lost UDP datagram is common, a second one means the camera is away.
MIIO_RETRIES: Final = 1

# Marketing names for the entry title and device model; other models show their model id.
MODEL_NAMES: Final[dict[str, str]] = {
    "chuangmi.camera.ipc009": "Mi Home Security Camera 360°",
    "chuangmi.camera.ipc019": "Mi Home Security Camera 360°",
}

# Prefixes of the zeroconf names (`_miio._udp.local.`) of the cameras this integration handles.
ZEROCONF_PREFIXES: Final = ("chuangmi-camera-", "mijia-camera-", "isa-camera-")
