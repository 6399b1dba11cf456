"""The camera entity: stills from the snapshot engine and cache, live stream by URL.

A still shown for a camera is provably from that camera's configured source, complete
and recent, or nothing is shown: frames come from the camera's own SnapshotEngine
(complete keyframes only) or from the shared FrameCache, which checks the camera id and
the source fingerprint of every frame it returns and refuses frames older than asked.
While the camera's power is off (its privacy mode) nothing is shown at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
import logging
import time
from typing import Any

# CameraEntityFeature lives in camera.const in 2026.10 and is still re-exported by the
# package, which is the one place that has it in 2026.6 too.
from homeassistant.components.camera import (  # type: ignore[attr-defined, unused-ignore]
    Camera,
    CameraEntityFeature,
)
from homeassistant.components.stream import STREAM_OPTIONS_SCHEMA, Stream
from homeassistant.const import CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .camlib.exceptions import StreamError
from .camlib.frame import Frame
from .camlib.snapshot import target_size
from .const import DOMAIN, SNAPSHOT_FRESH_AGE, SNAPSHOT_MAX_AGE
from .coordinator import XiaomiCamConfigEntry, XiaomiCamCoordinator
from .entity import XiaomiCamEntity
from .google import check_stream_allowed

_LOGGER = logging.getLogger(__name__)

# Commands (power) go one at a time per camera anyway; stills are not entity updates.
PARALLEL_UPDATES = 1

ATTR_FRAME_CAPTURED_AT = "frame_captured_at"
# Seconds a scaled copy of a still just taken may take (an encode, normally milliseconds).
SCALE_TIMEOUT = 2.0

CAMERA = EntityDescription(key="camera", translation_key="camera")


# HA's stream takes a verify_ssl option (passed to FFmpeg as tls_verify) after 2026.6; the
# 2026.6 schema refuses unknown options, so it is offered only where it is understood.
_STREAM_TAKES_VERIFY_SSL = CONF_VERIFY_SSL in {str(key) for key in STREAM_OPTIONS_SCHEMA.schema}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: XiaomiCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the camera entity of one camera."""
    async_add_entities([XiaomiCamCamera(entry.runtime_data.coordinator, CAMERA)])


async def _async_stop_stream(stream: Stream) -> None:
    """Stop a stream: its outputs (HLS and their idle timers) first, then the worker.

    Stream.stop() alone would leave the outputs' idle timers armed. Without outputs and
    access token nothing can be played from the stream any more; the worker thread
    stops too, unless the user chose "preload stream" (Home Assistant keeps those).
    """
    for provider in list(stream.outputs().values()):
        await stream.remove_provider(provider)
    await stream.stop()


def _fits(frame: Frame, width: int | None, height: int | None) -> bool:
    """Whether a full-size frame answers a request for this size without scaling down."""
    size = (frame.provenance.width, frame.provenance.height)
    return target_size(*size, width, height) == size


class XiaomiCamCamera(XiaomiCamEntity, Camera):
    """One camera: stills, the RTSP stream for Home Assistant's player, power on/off."""

    # The camera is the device's main feature: it takes the device's name.
    _attr_name = None
    # Changes with every new still; it would only bloat the recorder.
    _unrecorded_attributes = frozenset({ATTR_FRAME_CAPTURED_AT})

    def __init__(self, coordinator: XiaomiCamCoordinator, description: EntityDescription) -> None:
        """Bind the entity to its camera's engine and the shared cache."""
        XiaomiCamEntity.__init__(self, coordinator, description)
        Camera.__init__(self)
        data = coordinator.config_entry.runtime_data
        self._engine = data.engine
        self._frame_cache = data.cache  # not `_cache`: Camera uses that name
        self._stream_url = data.stream_url
        if (
            self._engine is not None
            and self._stream_url is not None
            and self._stream_url.lower().startswith("rtsps://")
            and _STREAM_TAKES_VERIFY_SSL
        ):
            # Live view verifies (or not) as stills do.
            self.stream_options[CONF_VERIFY_SSL] = self._engine.verify_tls
        features = CameraEntityFeature.ON_OFF
        if self._engine is not None and self._stream_url is not None:
            features |= CameraEntityFeature.STREAM
        self._attr_supported_features = features
        self._attr_is_on = coordinator.data.power
        # When the camera was last seen coming out of privacy mode: frames captured
        # before that are never shown again.
        self._power_on_at: float | None = None
        self._captured_at: float | None = None  # of the still last served
        self._last_stored: str | None = None  # sha256 of the still last given to the cache
        self._stream_down = False

    @property
    def is_on(self) -> bool:
        """Always True for Home Assistant's camera component: this entity refuses itself.

        Home Assistant refuses an "off" camera before asking it, with a plain error its
        Google Assistant bridge turns into unknownError for every device of the request.
        Privacy mode (`_attr_is_on` follows the miio power) is enforced here instead: no
        stream source, no still, and a stream request answered with deviceTurnedOff.
        """
        return True

    @property
    def use_stream_for_stills(self) -> bool:
        """Stills come from the snapshot engine, never from Home Assistant's HLS worker."""
        return False

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """When the still last served was captured (not recorded, see above)."""
        if self._captured_at is None:
            return {}
        return {ATTR_FRAME_CAPTURED_AT: dt_util.utc_from_timestamp(self._captured_at).isoformat()}

    # -- privacy -----------------------------------------------------------------------

    def _may_show(self) -> bool:
        """Nothing is shown while the camera is off or its state is unknown."""
        return self.coordinator.last_update_success and self._attr_is_on

    @callback
    def _handle_coordinator_update(self) -> None:
        """Follow the camera's power: off stops the live stream at once."""
        power = self.coordinator.data.power
        if power and not self._attr_is_on:
            self._power_on_at = time.time()
        self._attr_is_on = power
        if not power:
            self._async_drop_stream()
        super()._handle_coordinator_update()

    @callback
    def _async_drop_stream(self) -> None:
        """Stop Home Assistant's stream worker of this camera and forget it."""
        if (stream := self.stream) is None:
            return
        self.stream = None
        self.coordinator.config_entry.async_create_background_task(
            self.hass, _async_stop_stream(stream), f"{DOMAIN} stop stream of {self.entity_id}"
        )

    async def async_will_remove_from_hass(self) -> None:
        """Stop the stream worker with the entity (unload, removal)."""
        await super().async_will_remove_from_hass()
        if (stream := self.stream) is not None:
            self.stream = None
            await _async_stop_stream(stream)

    async def async_turn_on(self) -> None:
        """Leave privacy mode: power the camera on."""
        await self._async_command(
            self.coordinator.client.set_power(True),
            lambda status: replace(status, power=True),
        )

    async def async_turn_off(self) -> None:
        """Enter privacy mode: power the camera off."""
        await self._async_command(
            self.coordinator.client.set_power(False),
            lambda status: replace(status, power=False),
        )

    # -- video -------------------------------------------------------------------------

    async def async_create_stream(self) -> Stream | None:
        """Refuse a stream while the camera is unreachable or off, as Google understands."""
        check_stream_allowed(self.entity_id, available=self.available, is_on=self._attr_is_on)
        return await super().async_create_stream()

    async def stream_source(self) -> str | None:
        """Return the stream URL; no network I/O (voice assistants allow ~2 s in all)."""
        if not self._may_show():
            return None
        return self._stream_url

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """Return a JPEG still of this camera, or None when there is none to show."""
        frame = await self._async_still(width, height)
        if frame is None:
            return None
        if frame.provenance.captured_at != self._captured_at:
            self._captured_at = frame.provenance.captured_at
            self.async_write_ha_state()
        return frame.jpeg

    async def _async_still(self, width: int | None, height: int | None) -> Frame | None:
        if self._engine is None or not self._may_show():
            return None
        engine = self._engine
        # Fast path: a still this recent is as new as the stream would give.
        cached = self._cached(SNAPSHOT_FRESH_AGE)
        if cached is not None and _fits(cached, width, height):
            return cached
        try:
            # Full size first: that is what the cache keeps, so a still scaled for one
            # request is never served for another size.
            full = await engine.async_get_frame(newer_than=self._power_on_at)
        except StreamError as err:
            if not self._stream_down:
                self._stream_down = True
                # The engine's messages carry the URL redacted, never its credentials.
                _LOGGER.info("Stream of %s is unavailable: %s", self.entity_id, err)
            return self._cached(SNAPSHOT_MAX_AGE) if self._may_show() else None
        if self._stream_down:
            self._stream_down = False
            _LOGGER.info("Stream of %s is available again", self.entity_id)
        self._store(full)
        frame = full
        if not _fits(full, width, height):
            try:
                # The tap has the picture: this is an encode, unless the stream just
                # dropped, and then the full-size still (which Home Assistant scales when
                # asked for both sides) is better than a new connection.
                async with asyncio.timeout(SCALE_TIMEOUT):
                    frame = await engine.async_get_frame(
                        width, height, newer_than=self._power_on_at
                    )
            except StreamError, TimeoutError:
                frame = full
        # The camera may have been switched off while the still was being taken.
        return frame if self._may_show() else None

    def _cached(self, max_age: float) -> Frame | None:
        """Return the newest cached still of this camera's source, if recent enough."""
        assert self._engine is not None
        frame = self._frame_cache.get(
            self._engine.camera_id, self._engine.source_fingerprint, max_age=max_age
        )
        if frame is None:
            return None
        if self._power_on_at is not None and frame.provenance.captured_at <= self._power_on_at:
            return None
        return frame

    def _store(self, frame: Frame) -> None:
        """Give a new still to the cache; its file is written without delaying the answer."""
        if frame.provenance.sha256 == self._last_stored:
            return
        self._last_stored = frame.provenance.sha256
        self.coordinator.config_entry.async_create_background_task(
            self.hass, self._async_put(frame), f"{DOMAIN} cache still of {self.entity_id}"
        )

    async def _async_put(self, frame: Frame) -> None:
        # Hashing and the atomic file write block: executor.
        await self.hass.async_add_executor_job(self._frame_cache.put, frame)
