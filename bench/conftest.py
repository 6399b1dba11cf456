"""Fixtures for the benchmark's Home Assistant part (bench/ha_camera_proxy.py).

scripts/bench runs that file with pytest by its path; bench/ is outside pyproject's
testpaths, so the normal test run never collects it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

# As in tests/conftest.py: bind `custom_components` to this repository's package before
# Home Assistant's loader puts phcc's testing_config (with its own) on sys.path.
import custom_components  # noqa: F401

pytest_plugins = ["tests.peers.miio_fixtures"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None, hass: HomeAssistant, tmp_path: Path
) -> None:
    """Load custom_components/, with a configuration folder (snapshot cache) of its own."""
    hass.config.config_dir = str(tmp_path / "config")


@pytest.fixture(autouse=True)
async def enable_event_loop_debug() -> None:
    """Override phcc's fixture of that name: a real Home Assistant does not run its loop
    in asyncio debug mode, whose checks would be timed with every request."""
    asyncio.get_running_loop().set_debug(False)
