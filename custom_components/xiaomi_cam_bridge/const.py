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
