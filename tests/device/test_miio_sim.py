"""Tests of the UDP miio camera simulator, checked against python-miio's own codec.

The simulator's codec is written independently of python-miio; these tests make the two
agree, so a bug on either side shows up instead of cancelling out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
import json
from pathlib import Path
import random
import signal
import sys
from typing import Any

from miio.chuangmi_camera import ChuangmiCamera, Direction as MiioDirection
from miio.exceptions import DeviceError
from miio.protocol import Message, Utils
import pytest

from tests.peers.miio_fixtures import MiioCameraFactory, _start_on_free_host
from tests.peers.miio_sim import (
    HELLO_REQUEST,
    Fault,
    MiioCameraSimulator,
    SimConfig,
    _garbage,
    _parse_args,
    _SimProtocol,
    build_packet,
    decrypt,
    encrypt,
    open_packet,
    parse_header,
    seal_json,
)

TOKEN = bytes.fromhex(SimConfig().token)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def in_executor[T](func: Callable[[], T]) -> T:
    """Run blocking python-miio code off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, func)


def python_miio(sim: MiioCameraSimulator) -> ChuangmiCamera:
    """python-miio's own camera class, pointed at the simulator."""
    cam = ChuangmiCamera(sim.host, sim.config.token, lazy_discover=False, timeout=2)
    cam.retry_count = 0
    return cam


def request(method: str, params: Any = None, *, token: bytes = TOKEN, msg_id: int = 7) -> bytes:
    """A command packet as python-miio builds it (python-miio's codec)."""
    body = {"id": msg_id, "method": method, "params": params if params is not None else []}
    header = {
        "length": 0,
        "unknown": 0,
        "device_id": bytes.fromhex("1234abcd"),
        "ts": datetime(2025, 1, 1),
    }
    msg = {"data": {"value": body}, "header": {"value": header}, "checksum": 0}
    return bytes(Message.build(msg, token=token))


def answer(sim: MiioCameraSimulator, packet: bytes) -> Any:
    """Feed one datagram to the simulator and decode its reply with python-miio."""
    reply = sim.handle_datagram(packet)
    assert reply is not None
    return Message.parse(reply, token=bytes.fromhex(sim.config.token)).data.value


# --- codec cross-checks -----------------------------------------------------------------


def test_cipher_matches_python_miio() -> None:
    """Both implementations of the cipher produce the same bytes, both ways."""
    plain = b'{"id":1,"method":"get_prop","params":["power"]}\x00'
    assert encrypt(plain, TOKEN) == Utils.encrypt(plain, TOKEN)
    assert decrypt(Utils.encrypt(plain, TOKEN), TOKEN) == plain


def test_python_miio_reads_sim_packets() -> None:
    """A packet sealed by the simulator passes python-miio's checksum and decryption."""
    packet = seal_json({"id": 3, "result": ["ok"]}, 0x1234ABCD, 1234, TOKEN)
    parsed = Message.parse(packet, token=TOKEN)
    assert parsed.data.value == {"id": 3, "result": ["ok"]}
    assert parsed.header.value.device_id == bytes.fromhex("1234abcd")
    assert parsed.header.value.length == len(packet)


def test_sim_reads_python_miio_packets() -> None:
    """A request built by python-miio opens with the simulator's codec."""
    opened = open_packet(request("get_prop", ["power"]), TOKEN)
    assert opened is not None
    header, body = opened
    assert body == {"id": 7, "method": "get_prop", "params": ["power"]}
    assert header.device_id == 0x1234ABCD


def test_open_packet_rejects() -> None:
    """Wrong token, tampering, wrong length field, hello and non-JSON are refused."""
    good = request("get_prop", ["power"])
    assert open_packet(good, bytes.fromhex("00" * 16)) is None
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    assert open_packet(tampered, TOKEN) is None
    assert open_packet(good + b"\x00", TOKEN) is None
    assert open_packet(HELLO_REQUEST, TOKEN) is None
    assert open_packet(b"\x00" * 40, TOKEN) is None
    not_json = build_packet(1, 1, encrypt(b"{nope", TOKEN), TOKEN)
    assert open_packet(not_json, TOKEN) is None
    bad_padding = build_packet(1, 1, b"\x01" * 16, TOKEN)
    assert open_packet(bad_padding, TOKEN) is None


def test_parse_header() -> None:
    """Short or foreign datagrams have no header."""
    assert parse_header(b"\x21\x31") is None
    assert parse_header(b"\x00" * 32) is None
    header = parse_header(HELLO_REQUEST)
    assert header is not None
    assert (header.length, header.unknown, header.device_id) == (32, 0xFFFFFFFF, 0xFFFFFFFF)


def test_garbage_never_looks_like_miio() -> None:
    """Random replies never start with the miio magic, whatever the random bytes."""
    for _ in range(2000):
        data = _garbage()
        assert 16 <= len(data) < 80
        assert parse_header(data) is None


# --- behaviour, datagram by datagram -------------------------------------------------------


def test_hello_reply() -> None:
    """The hello reply carries the device id, a stamp and no token."""
    sim = MiioCameraSimulator()
    reply = sim.handle_datagram(HELLO_REQUEST)
    assert reply is not None
    header = parse_header(reply)
    assert header is not None
    assert (header.length, header.device_id) == (32, 0x1234ABCD)
    assert header.stamp >= 1000
    assert header.checksum == b"\xff" * 16
    assert sim.hello_count == 1
    sim.fault = Fault.OTHER_DEVICE_ID
    other = parse_header(sim.handle_datagram(HELLO_REQUEST) or b"")
    assert other is not None
    assert other.device_id != 0x1234ABCD


def test_ignored_datagrams() -> None:
    """Foreign datagrams and unreadable requests get no answer when so configured."""
    sim = MiioCameraSimulator(SimConfig(reply_to_bad_checksum=False))
    assert sim.handle_datagram(b"hello?") is None
    assert sim.handle_datagram(request("get_prop", ["power"], token=b"\x00" * 16)) is None
    assert sim.rejected_count == 1
    not_request = build_packet(1, 1, encrypt(b'["x"]', TOKEN), TOKEN)
    assert sim.handle_datagram(not_request) is None
    assert sim.rejected_count == 2
    assert sim.calls == []


def test_bad_checksum_answered_with_own_token() -> None:
    """By default the camera answers an unreadable request, sealed with its own token."""
    sim = MiioCameraSimulator()
    reply = sim.handle_datagram(request("get_prop", ["power"], token=b"\x00" * 16))
    assert reply is not None
    assert Message.parse(reply, token=TOKEN).data.value["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("nope", [], -32601),
        ("set_power", ["maybe"], -5001),
        ("set_power", [], -5001),
        ("set_power", "on", -5001),
        ("set_motion_record", ["sometimes"], -5001),
        ("set_night_mode", [3], -5001),
        ("set_night_mode", [True], -5001),
        ("set_motor", {"operation": 5}, -5001),
        ("set_motor", {"operation": True}, -5001),
        ("set_motor", [1], -5001),
        ("get_prop", "power", -5001),
        ("get_prop", [1], -5001),
    ],
)
def test_error_replies(method: str, params: Any, code: int) -> None:
    """Unknown methods and bad parameters get miio error objects; state is unchanged."""
    sim = MiioCameraSimulator()
    before = dict(sim.props)
    reply = answer(sim, request(method, params))
    assert reply["id"] == 7
    assert reply["error"]["code"] == code
    assert sim.props == before
    assert sim.calls == [(method, params)]


def test_motor_depends_on_model() -> None:
    """set_motor works on 360° models only, unless overridden."""
    assert MiioCameraSimulator().has_motor is True
    fixed = MiioCameraSimulator(SimConfig(model="chuangmi.camera.xiaobai"))
    assert fixed.has_motor is False
    reply = answer(fixed, request("set_motor", {"operation": 1}))
    assert reply["error"] == {"code": -5001, "message": "unsupported"}
    forced = MiioCameraSimulator(SimConfig(model="chuangmi.camera.xiaobai", has_motor=True))
    assert answer(forced, request("set_motor", {"operation": 1}))["result"] == ["ok"]


def test_info_hides_token_unless_asked() -> None:
    """miIO.info has the usual fields and no token; old firmware mode adds it."""
    info = answer(MiioCameraSimulator(), request("miIO.info"))["result"]
    assert {"model", "mac", "fw_ver", "hw_ver", "ap", "netif", "life"} <= info.keys()
    assert "token" not in info
    assert SimConfig().token not in json.dumps(info)
    old = MiioCameraSimulator(SimConfig(info_includes_token=True))
    assert answer(old, request("miIO.info"))["result"]["token"] == SimConfig().token


def test_faults_spoil_replies_but_not_state() -> None:
    """Truncated / wrongly sealed replies still carry out the command."""
    sim = MiioCameraSimulator()
    sim.fault = Fault.TRUNCATED
    reply = sim.handle_datagram(request("set_flip", ["on"]))
    assert reply is not None
    assert len(reply) < 32
    sim.fault = Fault.WRONG_TOKEN
    reply = sim.handle_datagram(request("set_wdr", ["off"]))
    assert reply is not None
    assert Message.parse(reply, token=bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert sim.props["flip"] == "on"
    assert sim.props["wdr"] == "off"
    sim.fault = Fault.SILENT
    assert sim.handle_datagram(request("set_flip", ["off"])) is None
    assert sim.handle_datagram(HELLO_REQUEST) is None
    assert sim.props["flip"] == "on"
    sim.fault = Fault.GARBAGE
    assert parse_header(sim.handle_datagram(HELLO_REQUEST) or b"\x21\x31") is None


def test_reply_overrides() -> None:
    """Tests can replace a method's whole reply, as JSON or as raw plaintext."""
    sim = MiioCameraSimulator()
    sim.reply_overrides["get_prop"] = {"id": 99, "result": "odd"}
    assert answer(sim, request("get_prop", ["power"])) == {"id": 99, "result": "odd"}
    sim.reply_overrides["get_prop"] = b"<raw>"
    reply = sim.handle_datagram(request("get_prop", ["power"]))
    assert reply is not None
    assert decrypt(reply[32:], TOKEN) == b"<raw>"


def test_handler_bug_does_not_kill_endpoint() -> None:
    """A crash while handling one datagram is logged, and the next is served."""
    sim = MiioCameraSimulator()
    sim.reply_overrides["get_prop"] = {"not": {"serialisable"}}
    sent: list[bytes] = []

    class _Transport(asyncio.DatagramTransport):
        def sendto(self, data: Any, addr: Any = None) -> None:
            sent.append(bytes(data))

    proto = _SimProtocol(sim)
    proto.connection_made(_Transport())
    proto.datagram_received(request("get_prop", ["power"]), ("127.0.0.1", 1))
    assert sent == []
    proto.datagram_received(HELLO_REQUEST, ("127.0.0.1", 1))
    assert len(sent) == 1


# --- over real UDP, with python-miio's own client ------------------------------------------


async def test_python_miio_end_to_end(miio_camera: MiioCameraSimulator) -> None:
    """python-miio's ChuangmiCamera reads and changes the simulated camera."""
    cam = python_miio(miio_camera)
    info = await in_executor(cam.info)
    assert info.model == miio_camera.config.model
    assert info.mac_address == miio_camera.config.mac
    status = await in_executor(cam.status)
    assert (status.power, status.light, status.night_mode) == (True, True, 0)

    await in_executor(cam.off)
    await in_executor(cam.light_off)
    await in_executor(cam.night_mode_on)
    await in_executor(cam.motion_record_stop)
    await in_executor(lambda: cam.rotate(MiioDirection.Down))
    await in_executor(cam.alarm)
    assert miio_camera.props["power"] == "off"
    assert miio_camera.props["light"] == "off"
    assert miio_camera.props["night_mode"] == 2
    assert miio_camera.props["motion_record"] == "stop"
    assert ("set_motor", {"operation": 4}) in miio_camera.calls
    assert miio_camera.calls[-1] == ("alarm_sound", [])
    status = await in_executor(cam.status)
    assert (status.power, status.light, status.night_mode) == (False, False, 2)

    with pytest.raises(DeviceError) as err:
        await in_executor(lambda: cam.raw_command("no_such_method", []))
    assert err.value.code == -32601


async def test_fixture_cameras_are_distinct(
    miio_camera: MiioCameraSimulator, miio_camera_factory: MiioCameraFactory
) -> None:
    """The factory gives each camera its own address, id, MAC and token."""
    first = await miio_camera_factory()
    second = await miio_camera_factory(model="chuangmi.camera.xiaobai")
    sims = (miio_camera, first, second)
    for attribute in ("host", "device_id", "mac", "token"):
        values = {getattr(sim.config, attribute) for sim in sims}
        assert len(values) == 3, attribute
    assert second.config.model == "chuangmi.camera.xiaobai"
    # Each really answers on its own address with its own token.
    for sim in sims:
        info = await in_executor(python_miio(sim).info)
        assert info.mac_address == sim.config.mac


async def test_taken_address_falls_back(
    socket_enabled: None, miio_camera: MiioCameraSimulator
) -> None:
    """A second camera asking for a taken address gets a free one instead."""
    with pytest.raises(OSError):
        await MiioCameraSimulator(SimConfig(host=miio_camera.host)).start()
    other = await _start_on_free_host(SimConfig(host=miio_camera.host, device_id=1))
    try:
        assert other.host != miio_camera.host
        assert other.host.startswith("127.")
        info = await in_executor(python_miio(other).info)
        assert info.model == other.config.model
    finally:
        await other.stop()


async def test_thread_mode(socket_enabled: None) -> None:
    """start_in_thread / stop_thread serve sync callers and clean up."""
    host = f"127.0.{random.randint(100, 200)}.{random.randint(2, 254)}"
    sim = MiioCameraSimulator(SimConfig(host=host))
    await in_executor(sim.start_in_thread)
    try:
        with pytest.raises(RuntimeError):
            sim.start_in_thread()
        # Same address again from another simulator: the bind error reaches the caller.
        with pytest.raises(OSError):
            await in_executor(MiioCameraSimulator(SimConfig(host=host)).start_in_thread)
        status = await in_executor(python_miio(sim).status)
        assert status.power is True
    finally:
        await in_executor(sim.stop_thread)
    sim.stop_thread()  # idempotent
    assert "token" not in repr(sim)
    assert sim.config.token not in repr(sim)


def test_command_line_arguments() -> None:
    """The command line builds a SimConfig and refuses a malformed token."""
    config = _parse_args(
        ["--host", "127.0.0.3", "--token", "AB" * 16, "--device-id", "0x10", "--model", "m"]
    )
    assert (config.host, config.token, config.device_id, config.model) == (
        "127.0.0.3",
        "ab" * 16,
        16,
        "m",
    )
    with pytest.raises(SystemExit):
        _parse_args(["--token", "xyz"])


async def test_runs_as_a_program(socket_enabled: None) -> None:
    """`python -m tests.peers.miio_sim` serves until interrupted (scripts/develop)."""
    host = f"127.0.{random.randint(201, 250)}.{random.randint(2, 254)}"
    token = "c0ffee00" * 4
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.peers.miio_sim",
        "--host",
        host,
        "--token",
        token,
        "--mac",
        "78:11:DC:AA:BB:CC",
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert host in banner
        assert token not in banner
        cam = ChuangmiCamera(host, token, lazy_discover=False, timeout=2)
        info = await in_executor(cam.info)
        assert info.mac_address == "78:11:DC:AA:BB:CC"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
