"""Diagnostics of a camera entry, with the token and other identifying data redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_UNIQUE_ID,
    CONF_URL,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant

from .camlib.sources import redact_url
from .const import CONF_MAC, CONF_STREAM_URL, CONF_VIDEO_SOURCE
from .coordinator import XiaomiCamConfigEntry

# The token controls the camera; stream URLs and credentials give its video. The MAC
# (also the unique id) identifies the household's hardware; the host is kept because
# it is needed to debug reachability and is a private address. Stream URLs appear only
# through redact_url.
TO_REDACT = {
    CONF_TOKEN,
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_URL,
    CONF_MAC,
    CONF_UNIQUE_ID,
    CONF_STREAM_URL,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: XiaomiCamConfigEntry
) -> dict[str, Any]:
    """Return the entry, the camera's identity and its last status."""
    data = entry.runtime_data
    coordinator = data.coordinator
    return {
        "entry": async_redact_data(
            {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            TO_REDACT,
        ),
        "info": async_redact_data(asdict(coordinator.info), TO_REDACT),
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "last_exception": (
                f"{type(err).__name__}: {err}" if (err := coordinator.last_exception) else None
            ),
            "update_interval": coordinator.update_interval.total_seconds()
            if coordinator.update_interval
            else None,
        },
        "status": asdict(coordinator.data),
        "video": _video_diagnostics(entry),
    }


def _video_diagnostics(entry: XiaomiCamConfigEntry) -> dict[str, Any]:
    """Return the video source (URL with credentials masked), the engine and the cached stills."""
    data = entry.runtime_data
    engine = data.engine
    camera_id = engine.camera_id if engine is not None else None
    cached = [camera for camera in data.cache.stats().cameras if camera.camera_id == camera_id]
    return {
        "source": entry.options.get(CONF_VIDEO_SOURCE),
        "redacted_url": redact_url(data.stream_url) if data.stream_url else None,
        "engine": None
        if engine is None
        else {
            "tap_running": engine.tap_running,
            "connections": engine.connections,
            "captures": engine.captures,
            "decodes": engine.decodes,
        },
        "cached_frames": cached[0].frames if cached else 0,
    }
