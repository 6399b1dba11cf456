"""Tests of camlib.miio_client against the UDP miio camera simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import logging
from typing import Any

import pytest

from custom_components.xiaomi_cam_bridge.camlib.exceptions import (
    CamError,
    CannotConnect,
    InvalidToken,
    UnsupportedReply,
    WrongDevice,
)
from custom_components.xiaomi_cam_bridge.camlib.miio_client import (
    MOTOR_MODELS,
    CameraClient,
    CameraStatus,
    Direction,
    MotionRecord,
    NightMode,
    OnOff,
    is_valid_token,
)
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.miio_sim import OTHER_DEVICE_ID_XOR, Fault, MiioCameraSimulator

FAST = 0.3  # seconds: short timeouts keep the failure tests quick
OTHER_TOKEN = "0f" * 16


def make_client(sim: MiioCameraSimulator, **kwargs: Any) -> CameraClient:
    """A client for the simulated camera, with short timeouts unless given."""
    kwargs.setdefault("timeout", FAST)
    token = kwargs.pop("token", sim.config.token)
    return CameraClient(sim.host, token, **kwargs)


@pytest.fixture
def client(miio_camera: MiioCameraSimulator) -> CameraClient:
    """A client that knows the simulated camera's device id."""
    return make_client(miio_camera, device_id=miio_camera.config.device_id)


# --- happy paths ----------------------------------------------------------------------


async def test_info_pins_device_id(miio_camera: MiioCameraSimulator) -> None:
    """info() reports the identity and pins the device id seen in the hello."""
    client = make_client(miio_camera)
    unpinned = client.device_id
    info = await client.info()
    assert unpinned is None
    assert info.model == "chuangmi.camera.ipc019"
    assert info.mac == miio_camera.config.mac
    assert info.firmware == miio_camera.config.firmware
    assert info.hardware == miio_camera.config.hardware
    assert info.device_id == miio_camera.config.device_id
    assert info.has_motor is True
    assert client.device_id == miio_camera.config.device_id
    assert client.host == miio_camera.host
    assert miio_camera.calls == [("miIO.info", [])]

    # Pinned: the same camera now claiming another id is refused.
    miio_camera.fault = Fault.OTHER_DEVICE_ID
    with pytest.raises(WrongDevice):
        await client.info()


async def test_status_defaults(client: CameraClient) -> None:
    """A freshly booted camera's properties map onto CameraStatus."""
    assert await client.status() == CameraStatus(
        power=True,
        status_light=True,
        full_color=False,
        flip=False,
        improve_program=False,
        wdr=True,
        track=False,
        watermark=True,
        motion_record=MotionRecord.ON,
        night_mode=NightMode.AUTO,
        sdcard_status=0,
        max_client=0,
        mini_level=1,
    )


@pytest.mark.parametrize(
    ("setting", "prop", "status_field"),
    [
        (OnOff.POWER, "power", "power"),
        (OnOff.STATUS_LIGHT, "light", "status_light"),
        (OnOff.FULL_COLOR, "full_color", "full_color"),
        (OnOff.FLIP, "flip", "flip"),
        (OnOff.WDR, "wdr", "wdr"),
        (OnOff.WATERMARK, "watermark", "watermark"),
        (OnOff.IMPROVE_PROGRAM, "improve_program", "improve_program"),
    ],
)
async def test_switch_setters(
    client: CameraClient,
    miio_camera: MiioCameraSimulator,
    setting: OnOff,
    prop: str,
    status_field: str,
) -> None:
    """Each on/off setting changes the camera's property both ways."""
    assert setting.status_field == status_field
    for on, expected in ((True, "on"), (False, "off"), (True, "on")):
        await client.set_on_off(setting, on)
        assert miio_camera.props[prop] == expected
        assert getattr(await client.status(), status_field) is on


@pytest.mark.parametrize("mode", list(MotionRecord))
async def test_set_motion_record(
    client: CameraClient, miio_camera: MiioCameraSimulator, mode: MotionRecord
) -> None:
    """Every recording mode reaches the camera and reads back."""
    await client.set_motion_record(mode)
    assert miio_camera.props["motion_record"] == mode.value
    assert (await client.status()).motion_record is mode


@pytest.mark.parametrize(
    ("mode", "miio_value"), [(NightMode.AUTO, 0), (NightMode.OFF, 1), (NightMode.ON, 2)]
)
async def test_set_night_mode(
    client: CameraClient, miio_camera: MiioCameraSimulator, mode: NightMode, miio_value: int
) -> None:
    """Night modes map onto miio 0 / 1 / 2 and read back."""
    miio_camera.props["night_mode"] = (miio_value + 1) % 3
    await client.set_night_mode(mode)
    assert miio_camera.props["night_mode"] == miio_value
    assert (await client.status()).night_mode is mode


async def test_rotate_on_motor_model(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """Each direction sends its set_motor operation."""
    assert miio_camera.config.model in MOTOR_MODELS
    for direction in Direction:
        await client.rotate(direction)
    assert miio_camera.calls == [
        ("set_motor", {"operation": 1}),
        ("set_motor", {"operation": 2}),
        ("set_motor", {"operation": 3}),
        ("set_motor", {"operation": 4}),
    ]


async def test_rotate_without_motor(miio_camera_factory: MiioCameraFactory) -> None:
    """A camera without motor refuses; the device's error code is kept."""
    sim = await miio_camera_factory(model="chuangmi.camera.xiaobai")
    client = make_client(sim)
    info = await client.info()
    assert info.has_motor is False
    with pytest.raises(UnsupportedReply) as err:
        await client.rotate(Direction.LEFT)
    assert err.value.code == -5001
    assert "unsupported" in str(err.value)


async def test_sound_alarm(client: CameraClient, miio_camera: MiioCameraSimulator) -> None:
    """The alarm command reaches the camera."""
    await client.sound_alarm()
    assert miio_camera.calls == [("alarm_sound", [])]


async def test_handshake_before_every_command(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """Every command is preceded by a hello, so every command checks the device id."""
    for _ in range(3):
        await client.set_on_off(OnOff.FLIP, True)
    assert miio_camera.hello_count == 3
    assert len(miio_camera.calls) == 3


async def test_concurrent_calls_are_serialised(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """Many overlapping calls on one client all get their own, correct answer."""
    statuses = [asyncio.create_task(client.status()) for _ in range(5)]
    setter = asyncio.create_task(client.set_on_off(OnOff.WATERMARK, False))
    info = await client.info()
    await asyncio.gather(setter, *statuses)
    assert all(isinstance(task.result(), CameraStatus) for task in statuses)
    assert info.mac == miio_camera.config.mac
    assert len(miio_camera.calls) == 7
    assert miio_camera.props["watermark"] == "off"


# --- failures ---------------------------------------------------------------------------


async def test_wrong_token_rejected_by_camera(miio_camera: MiioCameraSimulator) -> None:
    """A camera that answers a request it cannot check yields InvalidToken."""
    client = make_client(miio_camera, token=OTHER_TOKEN)
    with pytest.raises(InvalidToken):
        await client.status()
    assert miio_camera.calls == []
    assert miio_camera.rejected_count >= 1


async def test_wrong_token_silent_camera(miio_camera: MiioCameraSimulator) -> None:
    """A camera that ignores a request it cannot check: no answer within the budget."""
    miio_camera.config.reply_to_bad_checksum = False
    client = make_client(miio_camera, token=OTHER_TOKEN, retries=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CannotConnect):
        await client.set_power(False)
    elapsed = loop.time() - start
    # Two attempts of (hello + command timeout); the hellos are answered at once.
    assert 2 * FAST <= elapsed < 4 * FAST + 1.0
    assert miio_camera.props["power"] == "on"


async def test_replies_sealed_with_other_token(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """Replies that fail the checksum mean the token is wrong."""
    miio_camera.fault = Fault.WRONG_TOKEN
    for _ in range(5):  # several replies: each is a different ciphertext
        with pytest.raises(InvalidToken):
            await client.status()


async def test_other_device_id_is_refused_before_sending(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """The command is never sent to a device whose hello carries another id."""
    miio_camera.fault = Fault.OTHER_DEVICE_ID
    with pytest.raises(WrongDevice) as err:
        await client.set_power(False)
    assert err.value.expected == miio_camera.config.device_id
    assert err.value.actual == miio_camera.config.device_id ^ OTHER_DEVICE_ID_XOR
    assert miio_camera.calls == []
    assert miio_camera.props["power"] == "on"


async def test_address_taken_over_by_other_camera(
    miio_camera: MiioCameraSimulator, miio_camera_factory: MiioCameraFactory
) -> None:
    """A client pinned to camera A refuses camera B, even with the same token."""
    other = await miio_camera_factory(token=miio_camera.config.token)
    client = CameraClient(
        other.host, miio_camera.config.token, device_id=miio_camera.config.device_id, timeout=FAST
    )
    with pytest.raises(WrongDevice):
        await client.sound_alarm()
    assert other.calls == []


async def test_silent_camera_fails_fast(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """No hello reply: CannotConnect after (retries + 1) hello timeouts, not 20 s."""
    miio_camera.fault = Fault.SILENT
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CannotConnect):
        await client.status()
    elapsed = loop.time() - start
    assert 2 * FAST <= elapsed < 2 * FAST + 1.0


async def test_silent_camera_no_retries(miio_camera: MiioCameraSimulator) -> None:
    """With retries=0 one hello timeout is all it costs."""
    miio_camera.fault = Fault.SILENT
    client = make_client(miio_camera, retries=0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CannotConnect):
        await client.info()
    assert FAST <= loop.time() - start < FAST + 1.0
    assert client.device_id is None


async def test_camera_recovers(client: CameraClient, miio_camera: MiioCameraSimulator) -> None:
    """After a fault clears, the same client works again."""
    miio_camera.fault = Fault.SILENT
    with pytest.raises(CannotConnect):
        await client.status()
    miio_camera.fault = Fault.NONE
    assert (await client.status()).power is True


async def test_garbage(client: CameraClient, miio_camera: MiioCameraSimulator) -> None:
    """Random bytes instead of a hello reply: CannotConnect."""
    miio_camera.fault = Fault.GARBAGE
    with pytest.raises(CannotConnect):
        await client.status()


async def test_truncated_reply(client: CameraClient, miio_camera: MiioCameraSimulator) -> None:
    """A reply cut inside its header never formed a message: CannotConnect."""
    miio_camera.fault = Fault.TRUNCATED
    with pytest.raises(CannotConnect):
        await client.set_on_off(OnOff.FLIP, True)
    # The camera did act on the request; only the answer was lost.
    assert miio_camera.props["flip"] == "on"


async def test_reply_not_json(client: CameraClient, miio_camera: MiioCameraSimulator) -> None:
    """A reply that decrypts to text that is not JSON: UnsupportedReply."""
    miio_camera.fault = Fault.BAD_PAYLOAD
    with pytest.raises(UnsupportedReply):
        await client.status()


@pytest.mark.parametrize(
    "payload",
    [
        bytes(range(128, 256)),  # no text at all
        b"abc\x00\xff\xfe",  # text up to a NUL, then none
    ],
)
async def test_reply_not_text(
    client: CameraClient, miio_camera: MiioCameraSimulator, payload: bytes
) -> None:
    """Decrypted bytes that are not text are what a wrong key produces: InvalidToken."""
    miio_camera.reply_overrides["get_prop"] = payload
    with pytest.raises(InvalidToken):
        await client.status()


async def test_unreachable_address(socket_enabled: None) -> None:
    """A socket error on send (here: broadcast not allowed) is CannotConnect."""
    client = CameraClient("255.255.255.255", "ab" * 16, timeout=FAST, retries=0)
    with pytest.raises(CannotConnect):
        await client.info()


@pytest.mark.parametrize(
    "reply",
    [
        {"result": ["ok"]},  # no id
        ["not", "an", "object"],
        {"id": 1, "result": ["ok"], "error": "flat string"},
    ],
)
async def test_malformed_reply_object(
    client: CameraClient, miio_camera: MiioCameraSimulator, reply: Any
) -> None:
    """JSON that is not a proper miio reply: UnsupportedReply."""
    miio_camera.reply_overrides["set_power"] = reply
    with pytest.raises(UnsupportedReply):
        await client.set_power(True)


async def test_recoverable_device_error_exhausted(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """A 'try again' error that persists through the retries keeps its code."""
    miio_camera.reply_overrides["get_prop"] = {
        "id": 1,
        "error": {"code": -9999, "message": "user ack timeout"},
    }
    with pytest.raises(UnsupportedReply) as err:
        await client.status()
    assert err.value.code == -9999
    assert [c[0] for c in miio_camera.calls] == ["get_prop", "get_prop"]


@pytest.mark.parametrize(
    ("method", "result"),
    [
        ("miIO.info", ["a", "list"]),
        ("miIO.info", {"model": "chuangmi.camera.ipc019", "fw_ver": "1"}),  # no mac
        ("miIO.info", {"model": "", "mac": "78:11:DC:00:00:01", "fw_ver": "1"}),
        ("miIO.info", {"model": "m", "mac": "78:11:DC:00:00:01", "fw_ver": "1", "hw_ver": 5}),
        ("get_prop", "ok"),
        ("get_prop", ["on", "on"]),
        ("set_power", ["error"]),
        ("set_power", None),
    ],
)
async def test_unexpected_result_shape(
    client: CameraClient, miio_camera: MiioCameraSimulator, method: str, result: Any
) -> None:
    """A well-formed reply whose result has the wrong shape: UnsupportedReply."""
    miio_camera.reply_overrides[method] = {"id": 1, "result": result}
    call = {"miIO.info": client.info, "get_prop": client.status}.get(
        method, lambda: client.set_power(True)
    )
    with pytest.raises(UnsupportedReply):
        await call()


async def test_info_without_hardware(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """hw_ver is optional."""
    miio_camera.reply_overrides["miIO.info"] = {
        "id": 1,
        "result": {"model": "chuangmi.camera.ipc009", "mac": "78:11:DC:00:00:09", "fw_ver": "1"},
    }
    info = await client.info()
    assert info.hardware is None
    assert info.model == "chuangmi.camera.ipc009"


async def test_unknown_props_read_as_off(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """Properties an older camera does not have (null) read as off / 0 / defaults."""
    for name in ("track", "mini_level", "max_client", "night_mode", "motion_record", "light"):
        del miio_camera.props[name]
    status = await client.status()
    assert status.track is False
    assert status.status_light is False
    assert status.mini_level == 0
    assert status.max_client == 0
    assert status.night_mode is NightMode.AUTO
    assert status.motion_record is MotionRecord.OFF
    assert status.power is True


async def test_numeric_strings_accepted(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """Some firmware reports numbers as strings."""
    miio_camera.props.update(sdcard_status="1", night_mode="2", mini_level="3")
    status = await client.status()
    assert (status.sdcard_status, status.night_mode, status.mini_level) == (1, NightMode.ON, 3)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("power", "maybe"),
        ("flip", 1),
        ("motion_record", "sometimes"),
        ("motion_record", 1),
        ("night_mode", 7),
        ("night_mode", True),
        ("night_mode", "auto"),
        ("sdcard_status", True),
        ("sdcard_status", "-1"),
    ],
)
async def test_unexpected_prop_values(
    client: CameraClient, miio_camera: MiioCameraSimulator, prop: str, value: Any
) -> None:
    """Values outside the known vocabulary are refused, not guessed."""
    miio_camera.props[prop] = value
    with pytest.raises(UnsupportedReply) as err:
        await client.status()
    assert prop in str(err.value)


@pytest.mark.parametrize(
    ("prop", "value"), [("track", "maybe"), ("max_client", [1]), ("mini_level", "-1")]
)
async def test_unexpected_diagnostic_prop_values(
    client: CameraClient, miio_camera: MiioCameraSimulator, prop: str, value: Any
) -> None:
    """A property only diagnostics show reads as None: the poll does not fail for it."""
    miio_camera.props[prop] = value
    status = await client.status()
    assert getattr(status, prop) is None
    assert status.power is True


# --- the executor budget ------------------------------------------------------------------


class _ImpatientClient(CameraClient):
    """A client whose overall budget is shorter than python-miio's own timeouts."""

    budget = 0.05

    def _budget(self) -> float:
        return self.budget


async def test_budget_exceeded_then_waits_for_abandoned_thread(
    miio_camera: MiioCameraSimulator,
) -> None:
    """The budget bounds a call; the next call waits until the abandoned thread ends."""
    miio_camera.fault = Fault.SILENT
    client = _ImpatientClient(miio_camera.host, miio_camera.config.token, timeout=FAST, retries=0)
    with pytest.raises(CannotConnect, match="did not finish in time"):
        await client.status()
    # The thread is still waiting for its hello: a short budget cannot wait it out.
    with pytest.raises(CannotConnect, match="still running"):
        await client.status()
    miio_camera.fault = Fault.NONE
    client.budget = 5.0
    assert (await client.status()).power is True
    # Only the last call reached the camera: the earlier hellos were dropped.
    assert [method for method, _ in miio_camera.calls] == ["get_prop"]


async def test_cancelled_call_does_not_break_the_client(
    client: CameraClient, miio_camera: MiioCameraSimulator
) -> None:
    """A caller cancelled mid-exchange (here by wait_for) leaves the client usable."""
    miio_camera.fault = Fault.SILENT
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.status(), 0.05)
    miio_camera.fault = Fault.NONE
    assert (await client.status()).power is True


# --- construction and secrecy -----------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "valid"),
    [
        ("0123456789abcdefABCDEF0123456789", True),
        ("0123456789abcdef0123456789abcde", False),
        ("0123456789abcdef0123456789abcdef0", False),
        ("0123456789abcdef0123456789abcdeg", False),
        (" 0123456789abcdef0123456789abcde", False),
        ("", False),
    ],
)
def test_is_valid_token(token: str, valid: bool) -> None:
    """Exactly 32 hexadecimal characters."""
    assert is_valid_token(token) is valid


def test_bad_token_refused_without_echo() -> None:
    """A malformed token is refused and not repeated in the message."""
    bad = "secret-not-hex-secret-not-hex-xx"
    with pytest.raises(InvalidToken) as err:
        CameraClient("127.0.0.2", bad)
    assert bad not in str(err.value)
    assert not is_valid_token(123)  # type: ignore[arg-type]


@pytest.mark.parametrize(("timeout", "retries"), [(0, 1), (-1.0, 1), (1.0, -1)])
def test_bad_limits_refused(timeout: float, retries: int) -> None:
    """Timeouts must be positive and retries not negative."""
    with pytest.raises(ValueError):
        CameraClient("127.0.0.2", "ab" * 16, timeout=timeout, retries=retries)


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


async def test_token_never_exposed(
    miio_camera: MiioCameraSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither repr, nor any exception in the chain, nor any log line shows the token."""
    caplog.set_level(logging.DEBUG)
    token = miio_camera.config.token
    miio_camera.config.info_includes_token = True  # old firmware echoes the token
    client = make_client(miio_camera, retries=0)
    info = await client.info()
    await client.status()
    assert token not in repr(client)
    assert token not in repr(info)
    assert token.lower() not in repr(miio_camera).lower()

    errors: list[CamError] = []
    for fault in (Fault.WRONG_TOKEN, Fault.OTHER_DEVICE_ID, Fault.SILENT, Fault.BAD_PAYLOAD):
        miio_camera.fault = fault
        with pytest.raises(CamError) as err:
            await client.info()
        errors.append(err.value)
    miio_camera.fault = Fault.NONE
    wrong = make_client(miio_camera, token=OTHER_TOKEN, retries=0)
    with pytest.raises(InvalidToken) as err:
        await wrong.info()
    errors.append(err.value)

    for error in errors:
        for link in _chain(error):
            assert token not in str(link).lower()
            assert token not in repr(link).lower()
            assert OTHER_TOKEN not in str(link).lower()
    # Debug logging was on, and python-miio did log the miIO.info payload.
    assert "miIO.info" in caplog.text
    assert token not in caplog.text.lower()
    assert OTHER_TOKEN not in caplog.text.lower()
    assert "**REDACTED**" in caplog.text
