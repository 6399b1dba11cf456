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

from .const import CONF_MAC
from .data import XiaomiCamConfigEntry

# The token controls the camera; stream URLs and credentials (issue 3) give its video.
# The MAC (also the unique id) identifies the household's hardware; the host is kept
# because it is needed to debug reachability and is a private address.
TO_REDACT = {
    CONF_TOKEN,
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_URL,
    CONF_MAC,
    CONF_UNIQUE_ID,
    "stream_url",
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
        "info": async_redact_data(asdict(data.info), TO_REDACT),
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
    }
