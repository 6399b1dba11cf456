"""Factories and setting helpers shared by setup, the config flow and the entities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME, CONF_VERIFY_SSL

from .camlib.miio_client import CameraClient
from .camlib.snapshot import SnapshotEngine
from .camlib.sources import SourcePreset, build_url
from .camlib.worker import StillWorker
from .const import (
    CONF_GO2RTC_HOST,
    CONF_GO2RTC_NAME,
    CONF_STREAM_URL,
    CONF_VIDEO_SOURCE,
    MIIO_RETRIES,
    MIIO_TIMEOUT,
    MODEL_NAMES,
    SNAPSHOT_WARM_PERIOD,
    STREAM_FRAME_TIMEOUT,
    STREAM_OPEN_TIMEOUT,
)


def create_client(host: str, token: str, device_id: int | None = None) -> CameraClient:
    """Build a client with the integration's short timeout.

    Kept in one place so setup, the config flow and tests share the same timeout: an
    unreachable camera must make setup fail fast (HA retries in the background).
    """
    return CameraClient(
        host, token, device_id=device_id, timeout=MIIO_TIMEOUT, retries=MIIO_RETRIES
    )


def create_engine(
    camera_id: str,
    url: str,
    *,
    warm_period: float = SNAPSHOT_WARM_PERIOD,
    worker: StillWorker | None = None,
    verify_tls: bool = True,
) -> SnapshotEngine:
    """Build a snapshot engine with the integration's timeouts.

    Blocking (it derives the key-stretched source fingerprint): call it in an executor.
    The timeouts add up to less than Home Assistant's image timeout, so a request for a
    dead stream still gets an answer from the cache.
    """
    return SnapshotEngine(
        camera_id,
        url,
        warm_period=warm_period,
        open_timeout=STREAM_OPEN_TIMEOUT,
        frame_timeout=STREAM_FRAME_TIMEOUT,
        worker=worker,
        verify_tls=verify_tls,
    )


def verify_tls(options: Mapping[str, Any]) -> bool:
    """Whether an rtsps:// source's certificate is checked (on unless turned off)."""
    return bool(options.get(CONF_VERIFY_SSL, True))


def video_url(data: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """Return the stream URL the settings describe, or None for no video.

    Raises ValueError (sources.InvalidSource for a bad setting) when they make no URL.
    The camera presets use the camera's current address, so a camera that moves keeps
    its video.
    """
    return build_url(
        options.get(CONF_VIDEO_SOURCE, SourcePreset.NONE),
        data[CONF_HOST],
        go2rtc_host=options.get(CONF_GO2RTC_HOST),
        name=options.get(CONF_GO2RTC_NAME),
        custom_url=options.get(CONF_STREAM_URL),
        username=options.get(CONF_USERNAME),
        password=options.get(CONF_PASSWORD),
    )


def model_name(model: str) -> str:
    """Return a friendly name for a model id, or the id itself."""
    return MODEL_NAMES.get(model, model)
