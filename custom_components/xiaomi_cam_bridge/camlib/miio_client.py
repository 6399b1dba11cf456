"""Async client for Xiaomi Mijia (chuangmi) cameras over miio, built on python-miio.

python-miio is blocking and its defaults are slow for a dead camera (a 5 s hello timeout,
tried 4 times, per command attempt). This client:

- runs every exchange in the default executor under `asyncio.timeout`, one at a time per
  client (python-miio's message ids are not thread safe);
- replaces python-miio's handshake with one that uses the client's timeout and retry
  count and checks the device id in the hello reply: with `lazy_discover=False`
  python-miio handshakes before every command, so every command verifies that the
  camera at the address is still the expected one (`WrongDevice` otherwise);
- maps python-miio's errors onto camlib.exceptions:

  =============================================  ================
  no hello reply, socket error, no command reply  CannotConnect
  garbage hello, reply not a miio packet /        CannotConnect
  cut short (construct errors other than the
  checksum: the bytes never formed a message)
  reply fails the checksum, or decrypts to bytes  InvalidToken
  that are not text (the key does not fit)
  device `error` object (code kept)               UnsupportedReply
  reply decrypts to non-JSON text, or JSON of     UnsupportedReply
  an unexpected shape
  hello from another device id                    WrongDevice
  =============================================  ================

The token never appears in `repr`, logs or exception messages: python-miio logs decrypted
payloads at debug level, and old firmware puts the token into miIO.info, so 32-hex-digit
strings are redacted from python-miio's log records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import logging
import re
import socket
import struct
from typing import Any, Final

from construct.core import (  # type: ignore[import-untyped]  # construct ships no types
    ChecksumError,
    ConstructError,
)
from miio.chuangmi_camera import ChuangmiCamera
from miio.exceptions import DeviceError, DeviceException, PayloadDecodeException
from miio.miioprotocol import MiIOProtocol

from .exceptions import CamError, CannotConnect, InvalidToken, UnsupportedReply, WrongDevice

_LOGGER = logging.getLogger(__name__)

_TOKEN_RE: Final = re.compile(r"[0-9a-fA-F]{32}")
_HEX32_RE: Final = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")

_HELLO: Final = bytes.fromhex("21310020") + b"\xff" * 28
_MAGIC: Final = 0x2131
_HEADER_LEN: Final = 32
# Seconds added to the worst case of python-miio's own timeouts before giving up on it.
_BUDGET_MARGIN: Final = 1.0


def is_valid_token(token: str) -> bool:
    """Return True for exactly 32 hexadecimal characters."""
    return isinstance(token, str) and _TOKEN_RE.fullmatch(token) is not None


class NightMode(StrEnum):
    """Night vision mode (miio 0 / 1 / 2)."""

    AUTO = "auto"
    OFF = "off"
    ON = "on"


class MotionRecord(StrEnum):
    """Recording mode: on motion, always (off), or not at all (stop)."""

    ON = "on"
    OFF = "off"
    STOP = "stop"


class OnOff(StrEnum):
    """An on/off setting; the value is the miio method that sets it."""

    POWER = "set_power"  # the camera itself: off is sleep (privacy) mode
    STATUS_LIGHT = "set_light"
    FULL_COLOR = "set_full_color"
    FLIP = "set_flip"  # rotates the image by 180 degrees
    WDR = "set_wdr"
    WATERMARK = "set_watermark"
    IMPROVE_PROGRAM = "set_improve_program"

    @property
    def status_field(self) -> str:
        """The CameraStatus field the setting shows in."""
        return self.name.lower()


class Direction(StrEnum):
    """Pan/tilt direction."""

    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"


_NIGHT_MODE_TO_MIIO: Final[Mapping[NightMode, int]] = {
    NightMode.AUTO: 0,
    NightMode.OFF: 1,
    NightMode.ON: 2,
}
_MIIO_TO_NIGHT_MODE: Final = {value: mode for mode, value in _NIGHT_MODE_TO_MIIO.items()}
_DIRECTION_TO_MIIO: Final[Mapping[Direction, int]] = {
    Direction.LEFT: 1,
    Direction.RIGHT: 2,
    Direction.UP: 3,
    Direction.DOWN: 4,
}

# Models with a pan/tilt motor (the 360° cameras python-miio supports).
MOTOR_MODELS: Final = frozenset(
    {"chuangmi.camera.ipc009", "chuangmi.camera.ipc019", "chuangmi.camera.038a2"}
)

# The properties ChuangmiCamera.status() asks for, in the same order.
_STATUS_PROPS: Final = (
    "power",
    "motion_record",
    "light",
    "full_color",
    "flip",
    "improve_program",
    "wdr",
    "track",
    "sdcard_status",
    "watermark",
    "max_client",
    "night_mode",
    "mini_level",
)


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """Identity of a camera, from miIO.info and the hello handshake."""

    model: str
    mac: str
    firmware: str
    hardware: str | None
    device_id: int

    @property
    def has_motor(self) -> bool:
        """Return True when the model can pan and tilt."""
        return self.model in MOTOR_MODELS


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One poll of the camera's properties.

    A property the camera does not know comes back as null; it reads as off / 0 /
    NightMode.AUTO / MotionRecord.OFF (the values miio's "off" and 0 stand for).
    """

    power: bool
    status_light: bool
    full_color: bool
    flip: bool
    improve_program: bool
    wdr: bool
    watermark: bool
    motion_record: MotionRecord
    night_mode: NightMode
    sdcard_status: int
    # Read for diagnostics only, so an odd value there reads as None instead of failing
    # the poll: nothing shows or sets them.
    track: bool | None
    max_client: int | None
    mini_level: int | None


class _RedactTokens(logging.Filter):
    """Blank 32-hex-digit strings (tokens) out of python-miio's log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _HEX32_RE.sub("**REDACTED**", message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def _install_log_redaction() -> None:
    for name in ("miio.miioprotocol", "miio.protocol", "miio.device"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())


_install_log_redaction()


class _CheckedProtocol(MiIOProtocol):
    """MiIOProtocol whose handshake is bounded and checks the device id."""

    def __init__(
        self, host: str, token: str, *, timeout: float, retries: int, expected_id: int | None
    ) -> None:
        super().__init__(host, token, lazy_discover=False)
        self._timeout = timeout  # type: ignore[assignment]  # python-miio hints int; float works
        self.retries = retries
        self.expected_id = expected_id
        self.last_device_id: int | None = None

    def send_handshake(self, *, retry_count: int = 3) -> None:
        """Send a hello, retrying `retries` times; python-miio's retry_count is ignored."""
        for attempt in range(self.retries + 1):
            try:
                reply = self._hello()
            except CannotConnect:
                if attempt == self.retries:
                    raise
                continue
            break
        device_id = int.from_bytes(reply[8:12], "big")
        if self.expected_id is not None and device_id != self.expected_id:
            raise WrongDevice(self.expected_id, device_id)
        stamp = int.from_bytes(reply[12:16], "big")
        # The checksum field (reply[16:32]) may hold the token on old firmware: unused.
        self._device_id = reply[8:12]
        self._device_ts = datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
        self._discovered = True
        self.last_device_id = device_id

    def _hello(self) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self._timeout)
            try:
                sock.sendto(_HELLO, (self.ip, self.port))
                data = sock.recv(1024)
            except TimeoutError as err:
                raise CannotConnect(f"no answer to hello from {self.ip}") from err
            except OSError as err:
                raise CannotConnect(f"cannot reach {self.ip}: {err.strerror}") from err
        if len(data) != _HEADER_LEN or struct.unpack(">HH", data[:4]) != (_MAGIC, _HEADER_LEN):
            raise CannotConnect(f"invalid hello reply from {self.ip}")
        return data


class CameraClient:
    """Async control of one camera; every call handshakes and checks the device id."""

    def __init__(
        self,
        host: str,
        token: str,
        *,
        device_id: int | None = None,
        timeout: float = 5.0,
        retries: int = 1,
    ) -> None:
        """Prepare the client; nothing is sent until the first call.

        Raises InvalidToken when the token is not 32 hexadecimal characters.
        """
        if not is_valid_token(token):
            raise InvalidToken("the token must be 32 hexadecimal characters")
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries not negative")
        self._host = host
        self._device_id = device_id
        self._timeout = timeout
        self._retries = retries
        self._protocol = _CheckedProtocol(
            host, token, timeout=timeout, retries=retries, expected_id=device_id
        )
        self._device = ChuangmiCamera(host, token, lazy_discover=False)
        # python-miio has no public way to give a device its protocol object.
        self._device._protocol = self._protocol  # noqa: SLF001
        self._device.retry_count = retries
        self._lock = asyncio.Lock()
        self._busy: asyncio.Future[Any] | None = None

    def __repr__(self) -> str:
        """Identify the client without its token."""
        return f"<CameraClient host={self._host} device_id={self._device_id}>"

    @property
    def host(self) -> str:
        """The camera's address."""
        return self._host

    @property
    def device_id(self) -> int | None:
        """The expected device id (pinned by the first info() when not given)."""
        return self._device_id

    # --- public commands -------------------------------------------------------------

    async def info(self) -> CameraInfo:
        """Read miIO.info; pins the device id when the client was created without one."""
        result = await self._call("miIO.info", [])
        device_id = self._protocol.last_device_id
        if not isinstance(result, dict) or device_id is None:
            raise UnsupportedReply("miIO.info: expected an object")
        model, mac, firmware = result.get("model"), result.get("mac"), result.get("fw_ver")
        hardware = result.get("hw_ver")
        if not (isinstance(model, str) and isinstance(mac, str) and isinstance(firmware, str)):
            raise UnsupportedReply("miIO.info: model, mac or fw_ver missing")
        if not (model and mac):
            raise UnsupportedReply("miIO.info: empty model or mac")
        if hardware is not None and not isinstance(hardware, str):
            raise UnsupportedReply("miIO.info: hw_ver is not a string")
        if self._device_id is None:
            self._device_id = device_id
            self._protocol.expected_id = device_id
        return CameraInfo(model, mac, firmware, hardware, device_id)

    async def status(self) -> CameraStatus:
        """Read the camera's properties."""
        result = await self._call("get_prop", list(_STATUS_PROPS))
        if not isinstance(result, list) or len(result) != len(_STATUS_PROPS):
            raise UnsupportedReply(f"get_prop: expected {len(_STATUS_PROPS)} values")
        values = dict(zip(_STATUS_PROPS, result, strict=True))
        return CameraStatus(
            power=_on_off(values, "power"),
            status_light=_on_off(values, "light"),
            full_color=_on_off(values, "full_color"),
            flip=_on_off(values, "flip"),
            improve_program=_on_off(values, "improve_program"),
            wdr=_on_off(values, "wdr"),
            watermark=_on_off(values, "watermark"),
            motion_record=_motion_record(values["motion_record"]),
            night_mode=_night_mode(values["night_mode"]),
            sdcard_status=_integer(values, "sdcard_status"),
            track=_lenient(_on_off, values, "track"),
            max_client=_lenient(_integer, values, "max_client"),
            mini_level=_lenient(_integer, values, "mini_level"),
        )

    async def set_on_off(self, setting: OnOff, on: bool) -> None:
        """Switch an on/off setting."""
        await self._command(OnOff(setting).value, [_on_off_param(on)])

    async def set_power(self, on: bool) -> None:
        """Switch the camera on or off (sleep mode)."""
        await self.set_on_off(OnOff.POWER, on)

    async def set_motion_record(self, mode: MotionRecord) -> None:
        """Set the recording mode."""
        await self._command("set_motion_record", [MotionRecord(mode).value])

    async def set_night_mode(self, mode: NightMode) -> None:
        """Set the night vision mode."""
        await self._command("set_night_mode", [_NIGHT_MODE_TO_MIIO[NightMode(mode)]])

    async def rotate(self, direction: Direction) -> None:
        """Pan or tilt one step; a camera without motor answers UnsupportedReply."""
        operation = _DIRECTION_TO_MIIO[Direction(direction)]
        await self._command("set_motor", {"operation": operation})

    async def sound_alarm(self) -> None:
        """Sound the built-in alarm (about 10 seconds)."""
        await self._command("alarm_sound", [])

    # --- plumbing --------------------------------------------------------------------

    def _budget(self) -> float:
        """Upper bound of one python-miio exchange including all its retries."""
        attempts = self._retries + 1
        hello = attempts * self._timeout
        return attempts * (hello + self._timeout) + _BUDGET_MARGIN

    async def _command(self, method: str, params: Any) -> None:
        result = await self._call(method, params)
        if result not in (["ok"], "ok"):
            raise UnsupportedReply(f"{method}: expected ok")

    async def _call(self, method: str, params: Any) -> Any:
        loop = asyncio.get_running_loop()
        async with self._lock:
            await self._wait_for_abandoned_exchange()
            future = loop.run_in_executor(None, self._send_blocking, method, params)
            future.add_done_callback(_retrieve_exception)
            self._busy = future
            try:
                async with asyncio.timeout(self._budget()):
                    # Shielded: a timed-out or cancelled caller must not pretend the
                    # thread stopped; the next call waits for it instead.
                    return await asyncio.shield(future)
            except TimeoutError:
                raise CannotConnect(f"{self._host}: {method} did not finish in time") from None

    async def _wait_for_abandoned_exchange(self) -> None:
        busy = self._busy
        if busy is None or busy.done():
            return
        try:
            async with asyncio.timeout(self._budget()):
                await asyncio.wait([busy])
        except TimeoutError:
            raise CannotConnect(f"{self._host}: a previous exchange is still running") from None

    def _send_blocking(self, method: str, params: Any) -> Any:
        """Run one python-miio exchange (executor thread) and map its errors."""
        try:
            return self._device.send(method, params, retry_count=self._retries)
        except CamError:
            raise
        except DeviceError as err:
            raise _device_error(method, err) from err
        except PayloadDecodeException as err:
            if isinstance(err.__cause__, UnicodeDecodeError):
                # Checked before the checksum by python-miio: random bytes from a wrong key.
                raise InvalidToken(f"{method}: reply does not decrypt, wrong token?") from err
            raise UnsupportedReply(f"{method}: reply is not JSON") from err
        except DeviceException as err:
            cause = err.__cause__
            if isinstance(cause, ChecksumError):
                raise InvalidToken(f"{method}: reply fails the checksum, wrong token?") from err
            if isinstance(cause, DeviceError):  # a retried recoverable error, exhausted
                raise _device_error(method, cause) from err
            raise CannotConnect(f"{self._host}: no answer to {method}") from err
        except ConstructError as err:
            raise CannotConnect(f"{self._host}: malformed reply to {method}") from err
        except UnboundLocalError as err:
            # python-miio 0.5.12 bug: bytes that decode to no text at all end in an
            # UnboundLocalError in its own log call instead of PayloadDecodeException.
            raise InvalidToken(f"{method}: reply does not decrypt, wrong token?") from err
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            # python-miio reads payload["id"] without checking the payload's shape.
            raise UnsupportedReply(f"{method}: malformed reply") from err


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned future's exception as seen (no 'never retrieved' warning)."""
    if not future.cancelled():
        future.exception()


def _device_error(method: str, err: DeviceError) -> UnsupportedReply:
    code = err.code if isinstance(err.code, int) else None
    return UnsupportedReply(f"{method}: device error {code}: {err.message}", code=code)


def _on_off_param(on: bool) -> str:
    return "on" if on else "off"


def _on_off(values: Mapping[str, Any], name: str) -> bool:
    value = values[name]
    if value is None or value == "off":
        return False
    if value == "on":
        return True
    raise UnsupportedReply(f"get_prop: unexpected value for {name}")


def _integer(values: Mapping[str, Any], name: str) -> int:
    value = values[name]
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdecimal():
        return int(value)
    raise UnsupportedReply(f"get_prop: unexpected value for {name}")


def _lenient[T](
    parse: Callable[[Mapping[str, Any], str], T], values: Mapping[str, Any], name: str
) -> T | None:
    """Parse a property only diagnostics show: an unexpected value reads as None."""
    try:
        return parse(values, name)
    except UnsupportedReply:
        return None


def _motion_record(value: Any) -> MotionRecord:
    if value is None:
        return MotionRecord.OFF
    if isinstance(value, str) and value in MotionRecord.__members__.values():
        return MotionRecord(value)
    raise UnsupportedReply("get_prop: unexpected value for motion_record")


def _night_mode(value: Any) -> NightMode:
    if value is None:
        return NightMode.AUTO
    if isinstance(value, str) and value.isdecimal():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _MIIO_TO_NIGHT_MODE:
        return _MIIO_TO_NIGHT_MODE[value]
    raise UnsupportedReply("get_prop: unexpected value for night_mode")
