"""The device layer is tested without Home Assistant."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the root fixture: camlib needs no hass instance."""
