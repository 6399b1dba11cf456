"""Tests of the camlib exception tree."""

from __future__ import annotations

import pytest

from custom_components.xiaomi_cam_bridge.camlib import exceptions as exc


@pytest.mark.parametrize(
    "cls",
    [
        exc.CannotConnect,
        exc.InvalidToken,
        exc.WrongDevice,
        exc.UnsupportedReply,
        exc.StreamError,
        exc.StreamUnreachable,
        exc.StreamAuthError,
        exc.NoVideoTrack,
        exc.UnsupportedCodec,
        exc.CorruptFrame,
    ],
)
def test_everything_is_a_cam_error(cls: type[Exception]) -> None:
    """One base class catches everything camlib raises."""
    assert issubclass(cls, exc.CamError)


@pytest.mark.parametrize(
    "cls",
    [
        exc.StreamUnreachable,
        exc.StreamAuthError,
        exc.NoVideoTrack,
        exc.UnsupportedCodec,
        exc.CorruptFrame,
    ],
)
def test_stream_errors(cls: type[Exception]) -> None:
    """The video errors share StreamError."""
    assert issubclass(cls, exc.StreamError)
    assert not issubclass(exc.CannotConnect, exc.StreamError)


def test_wrong_device_keeps_ids() -> None:
    """WrongDevice carries both ids."""
    err = exc.WrongDevice(0x1234ABCD, 7)
    assert (err.expected, err.actual) == (0x1234ABCD, 7)
    assert str(err) == f"expected device id {0x1234ABCD}, got 7"


@pytest.mark.parametrize("code", [None, -5001])
def test_unsupported_reply_keeps_code(code: int | None) -> None:
    """UnsupportedReply carries the device's error code."""
    err = exc.UnsupportedReply("set_motor: unsupported", code=code)
    assert err.code == code
    assert str(err) == "set_motor: unsupported"
