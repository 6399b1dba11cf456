"""Shared fixtures for the xiaomi_cam_bridge tests."""

from __future__ import annotations

import pytest

# Real peers (UDP miio simulator, GStreamer RTSP server) live in tests/peers.
pytest_plugins = ["tests.peers.miio_fixtures"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""
