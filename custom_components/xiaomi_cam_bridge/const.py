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

# Seconds a single miio exchange may take before the camera counts as unreachable. A
# mains-powered camera on the LAN answers in milliseconds; python-miio's 5 s default would
# hold Home Assistant's start 10 s per unreachable camera (with the retry), this 4 s.
MIIO_TIMEOUT: Final = 2.0
# One retry: a lost UDP datagram is common, a second one means the camera is away.
MIIO_RETRIES: Final = 1

# Marketing names for the entry title and device model; other models show their model id.
MODEL_NAMES: Final[dict[str, str]] = {
    "chuangmi.camera.ipc009": "Mi Home Security Camera 360°",
    "chuangmi.camera.ipc019": "Mi Home Security Camera 360°",
}

# Prefixes of the zeroconf names (`_miio._udp.local.`) of the cameras this integration handles.
ZEROCONF_PREFIXES: Final = ("chuangmi-camera-", "mijia-camera-", "isa-camera-")

# Video settings (entry options). Credentials use homeassistant.const CONF_USERNAME /
# CONF_PASSWORD.
CONF_VIDEO_SOURCE: Final = "video_source"
CONF_STREAM_URL: Final = "stream_url"
CONF_GO2RTC_HOST: Final = "go2rtc_host"
CONF_GO2RTC_NAME: Final = "go2rtc_name"
# Whether the camera entity is offered to Google Assistant through Home Assistant Cloud.
CONF_EXPOSE_TO_GOOGLE: Final = "expose_to_google"
DEFAULT_EXPOSE_TO_GOOGLE: Final = False

# Seconds to connect to a stream (and the longest a read may stall), and to wait for a
# complete keyframe once connected. Their sum stays under Home Assistant's 10 s image
# timeout, so a dead stream still leaves time to answer from the cache.
STREAM_OPEN_TIMEOUT: Final = 4.0
STREAM_FRAME_TIMEOUT: Final = 4.0
# Seconds the keyframe tap stays connected after the last still request.
SNAPSHOT_WARM_PERIOD: Final = 60.0
# A cached still this recent is served without asking the stream (keyframes are about
# one second apart, so the live path would not give a newer picture).
SNAPSHOT_FRESH_AGE: Final = 1.0
# The oldest cached still served while the stream is down; older ones are never shown.
SNAPSHOT_MAX_AGE: Final = 30.0
