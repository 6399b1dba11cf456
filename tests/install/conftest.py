"""These tests run Home Assistant's installer and processes, not a test instance."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the root fixture: no hass test instance is needed here."""
