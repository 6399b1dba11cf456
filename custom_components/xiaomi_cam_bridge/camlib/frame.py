"""A still frame and the provenance that proves where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
import hashlib


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where and when a frame was captured; checked on every cache read."""

    camera_id: str  # the config entry's unique id (the camera's MAC)
    source_fingerprint: str  # sources.fingerprint() of the video source it came from
    captured_at: float  # wall-clock seconds (time.time()) when the keyframe arrived
    width: int
    height: int
    sha256: str  # hex digest of the JPEG bytes


@dataclass(frozen=True, slots=True)
class Frame:
    """An encoded JPEG still with its provenance."""

    jpeg: bytes = field(repr=False)  # a repr must not dump a whole picture
    provenance: Provenance

    def is_intact(self) -> bool:
        """Return True when the bytes still match the recorded hash."""
        return hashlib.sha256(self.jpeg).hexdigest() == self.provenance.sha256
