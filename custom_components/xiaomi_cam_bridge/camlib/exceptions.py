"""Exceptions raised by the device layer.

Everything camlib raises derives from CamError, so a caller can catch one base class.
Messages never contain a device token or stream credentials.
"""

from __future__ import annotations


class CamError(Exception):
    """Base of every error raised by camlib."""


class CannotConnect(CamError):
    """No (valid) answer from the camera: timeout, unreachable, garbage hello."""


class InvalidToken(CamError):
    """The handshake works but replies fail the checksum or do not decrypt."""


class WrongDevice(CamError):
    """The device answering at the address is not the expected camera."""

    def __init__(self, expected: int, actual: int) -> None:
        """Record both device ids; they are not secret."""
        super().__init__(f"expected device id {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class UnsupportedReply(CamError):
    """The reply decrypts but is malformed, has an unexpected shape, or is a device error."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        """Keep the device's error code (if any) for callers that branch on it."""
        super().__init__(message)
        self.code = code


class StreamError(CamError):
    """Base of the video stream errors."""


class StreamUnreachable(StreamError):
    """The stream server cannot be reached or does not answer in time."""


class StreamAuthError(StreamError):
    """The stream server rejected the credentials."""


class NoVideoTrack(StreamError):
    """The stream has no video track."""


class UnsupportedCodec(StreamError):
    """The video codec cannot be decoded."""


class CorruptFrame(StreamError):
    """A frame could not be decoded completely; it is never shown."""
