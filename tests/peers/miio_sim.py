"""A real UDP miio camera simulator (chuangmi.camera.*).

It speaks the miio wire protocol over UDP like a Xiaomi camera does, with its own codec
(written independently of python-miio, using `cryptography` directly) so the client and
the simulator check each other. Each simulated camera binds its own loopback address on
port 54321, because python-miio always talks to that port.

Used by the test fixtures (tests/peers/miio_fixtures.py) and by scripts/develop:

    python -m tests.peers.miio_sim --host 127.0.0.2 --token <32 hex> --model ... --mac ...
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
import hashlib
import json
import logging
import os
import signal
import struct
import threading
import time
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_LOGGER = logging.getLogger(__name__)

MIIO_PORT = 54321
MAGIC = 0x2131
HEADER_LEN = 32
HELLO_REQUEST = bytes.fromhex("21310020") + b"\xff" * 28

DEFAULT_TOKEN = "7d3c5b8e9f1a2b4c6d8e0f1a3b5c7d9e"
# Replies under Fault.WRONG_TOKEN are sealed with this instead of the camera's token.
OTHER_TOKEN = "00112233445566778899aabbccddeeff"
# Under Fault.OTHER_DEVICE_ID the camera claims this id (xor keeps it distinct from any id).
OTHER_DEVICE_ID_XOR = 0x5A5A5A5A

# Models with a pan/tilt motor, kept here independently of the client's own list.
SIM_MOTOR_MODELS = frozenset(
    {
        "chuangmi.camera.ipc009",
        "chuangmi.camera.ipc019",
        "chuangmi.camera.038a2",
    }
)

ERROR_METHOD_NOT_FOUND = {"code": -32601, "message": "Method not found"}
ERROR_INVALID_PARAMS = {"code": -5001, "message": "invalid params"}
ERROR_UNSUPPORTED = {"code": -5001, "message": "unsupported"}


def default_props() -> dict[str, Any]:
    """Return the state of a freshly booted camera (values as the camera reports them)."""
    return {
        "power": "on",
        "motion_record": "on",
        "light": "on",
        "full_color": "off",
        "flip": "off",
        "improve_program": "off",
        "wdr": "on",
        "track": "off",
        "sdcard_status": 0,
        "watermark": "on",
        "max_client": 0,
        "night_mode": 0,
        "mini_level": 1,
    }


class Fault(StrEnum):
    """Misbehaviour the simulated camera can be told to show, at any time."""

    NONE = "none"
    SILENT = "silent"  # drops every datagram: no hello reply, no command reply
    GARBAGE = "garbage"  # answers every datagram (hello included) with random bytes
    TRUNCATED = "truncated"  # hello fine; command replies cut inside the header
    OTHER_DEVICE_ID = "other_device_id"  # hello and replies carry another device id
    WRONG_TOKEN = "wrong_token"  # hello fine; replies sealed with another token
    BAD_PAYLOAD = "bad_payload"  # hello fine; replies checksum fine but are not JSON


@dataclass
class SimConfig:
    """Identity and initial state of one simulated camera."""

    host: str = "127.0.0.2"
    port: int = MIIO_PORT
    token: str = DEFAULT_TOKEN
    device_id: int = 0x1234ABCD
    model: str = "chuangmi.camera.ipc019"
    mac: str = "78:11:DC:00:00:01"
    firmware: str = "3.5.8_0163"
    hardware: str = "Linux"
    props: dict[str, Any] = field(default_factory=default_props)
    has_motor: bool | None = None  # None: decided by the model
    # Older firmware put the token into miIO.info; used to test that it never leaks.
    info_includes_token: bool = False
    # Some cameras answer a request that fails the checksum (sealed with their own
    # token, so the client sees a checksum error); others stay silent.
    reply_to_bad_checksum: bool = True


# --- codec (independent of python-miio) -------------------------------------------


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # md5 is what the protocol uses


def _key_iv(token: bytes) -> tuple[bytes, bytes]:
    key = _md5(token)
    return key, _md5(key + token)


def encrypt(plaintext: bytes, token: bytes) -> bytes:
    """AES-128-CBC with PKCS#7 padding, key = md5(token), iv = md5(key + token)."""
    key, iv = _key_iv(token)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt(ciphertext: bytes, token: bytes) -> bytes:
    """Reverse of encrypt(); raises ValueError on bad length or padding."""
    key, iv = _key_iv(token)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


@dataclass(frozen=True)
class Header:
    """The fixed 32-byte miio header."""

    length: int
    unknown: int
    device_id: int
    stamp: int
    checksum: bytes


def parse_header(data: bytes) -> Header | None:
    """Return the header of a datagram, or None when it is not a miio packet."""
    if len(data) < HEADER_LEN:
        return None
    magic, length, unknown, device_id, stamp = struct.unpack(">HHIII", data[:16])
    if magic != MAGIC:
        return None
    return Header(length, unknown, device_id, stamp, data[16:32])


def build_packet(device_id: int, stamp: int, payload: bytes, token: bytes) -> bytes:
    """Seal an already encrypted payload: header + md5(header16 + token + payload)."""
    head = struct.pack(">HHIII", MAGIC, HEADER_LEN + len(payload), 0, device_id, stamp)
    return head + _md5(head + token + payload) + payload


def build_hello_reply(device_id: int, stamp: int) -> bytes:
    """A hello reply as current firmware sends it: checksum field all 0xFF."""
    head = struct.pack(">HHIII", MAGIC, HEADER_LEN, 0, device_id, stamp)
    return head + b"\xff" * 16


def seal_json(obj: Any, device_id: int, stamp: int, token: bytes) -> bytes:
    """Encrypt a JSON object and wrap it in a packet."""
    plain = json.dumps(obj, separators=(",", ":")).encode()
    return build_packet(device_id, stamp, encrypt(plain, token), token)


def open_packet(data: bytes, token: bytes) -> tuple[Header, Any] | None:
    """Check the checksum and decrypt a command packet; None when it fails."""
    header = parse_header(data)
    if header is None or header.length != len(data) or len(data) == HEADER_LEN:
        return None
    payload = data[HEADER_LEN:]
    if _md5(data[:16] + token + payload) != header.checksum:
        return None
    try:
        # python-miio appends a NUL to the JSON it sends.
        obj = json.loads(decrypt(payload, token).rstrip(b"\x00"))
    except ValueError:  # bad padding, not UTF-8 or not JSON
        return None
    return header, obj


def _garbage() -> bytes:
    """Random bytes that can never be mistaken for a miio packet."""
    data = os.urandom(16 + os.urandom(1)[0] % 64)
    if data[:2] == MAGIC.to_bytes(2, "big"):
        data = b"\x00" + data[1:]
    return data


# --- the camera ---------------------------------------------------------------------


_ON_OFF_SETTERS = {
    "set_power": "power",
    "set_light": "light",
    "set_full_color": "full_color",
    "set_flip": "flip",
    "set_improve_program": "improve_program",
    "set_wdr": "wdr",
    "set_watermark": "watermark",
}


class _Reply(Exception):
    """Raised by a method handler to answer with a miio error object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


class MiioCameraSimulator:
    """One simulated camera answering miio on (config.host, config.port)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        """Create a stopped simulator; props start as a copy of config.props."""
        self.config = config if config is not None else SimConfig()
        self.fault = Fault.NONE
        self.props: dict[str, Any] = dict(self.config.props)
        self.calls: list[tuple[str, Any]] = []
        # method -> whole reply to send instead of the real one (tests of odd replies):
        # bytes are encrypted as they are, anything else is encoded as JSON.
        self.reply_overrides: dict[str, Any] = {}
        self.hello_count = 0
        self.rejected_count = 0  # datagrams that failed the checksum or did not decrypt
        self._token = bytes.fromhex(self.config.token)
        self._booted = time.monotonic()
        self._transport: asyncio.DatagramTransport | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        """Identify the camera without its token."""
        return f"<MiioCameraSimulator {self.config.model} {self.config.host}>"

    @property
    def host(self) -> str:
        """The loopback address this camera answers on."""
        return self.config.host

    @property
    def has_motor(self) -> bool:
        """Whether set_motor is supported."""
        if self.config.has_motor is not None:
            return self.config.has_motor
        return self.config.model in SIM_MOTOR_MODELS

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the UDP endpoint (raises OSError when the address is taken)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SimProtocol(self),
            local_addr=(self.config.host, self.config.port),
        )
        self._transport = transport

    async def stop(self) -> None:
        """Close the endpoint; idempotent."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def start_in_thread(self) -> None:
        """Run the simulator on its own event loop in a thread (for sync callers)."""
        if self._thread is not None:
            raise RuntimeError("simulator thread already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as err:  # handed to the caller
                failure.append(err)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        thread = threading.Thread(target=run, name=f"miio-sim-{self.host}", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("simulator thread did not start")
        if failure:
            thread.join()
            raise failure[0]
        self._thread = thread
        self._thread_loop = loop

    def stop_thread(self) -> None:
        """Stop a simulator started with start_in_thread(); idempotent."""
        thread, loop = self._thread, self._thread_loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._thread_loop = None

    # --- protocol --------------------------------------------------------------------

    def _stamp(self) -> int:
        # Cameras report seconds since boot; start well above zero like a real one.
        return 1000 + int(time.monotonic() - self._booted)

    def handle_datagram(self, data: bytes) -> bytes | None:
        """Return the reply to one datagram, or None for no reply."""
        fault = self.fault
        if fault is Fault.SILENT:
            return None
        if fault is Fault.GARBAGE:
            return _garbage()
        device_id = self.config.device_id
        if fault is Fault.OTHER_DEVICE_ID:
            device_id ^= OTHER_DEVICE_ID_XOR
        header = parse_header(data)
        if header is None:
            return None
        if header.length == HEADER_LEN and len(data) == HEADER_LEN:
            self.hello_count += 1
            return build_hello_reply(device_id, self._stamp())
        opened = open_packet(data, self._token)
        if opened is None:
            self.rejected_count += 1
            if not self.config.reply_to_bad_checksum:
                return None
            # The camera cannot read the request, so it cannot echo its id.
            error = {"id": 0, "error": {"code": -32600, "message": "Invalid request"}}
            return seal_json(error, device_id, self._stamp(), self._token)
        _, request = opened
        return self._answer(request, device_id, fault)

    def _answer(self, request: Any, device_id: int, fault: Fault) -> bytes | None:
        """Run the request (state changes even when the reply is then spoiled)."""
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self.rejected_count += 1
            return None
        method: str = request["method"]
        params = request.get("params", [])
        self.calls.append((method, params))
        reply: dict[str, Any] = {"id": request.get("id", 0)}
        try:
            reply["result"] = self._dispatch(method, params)
        except _Reply as err:
            reply["error"] = err.error
        stamp = self._stamp()
        if method in self.reply_overrides:
            override = self.reply_overrides[method]
            if isinstance(override, bytes):
                return build_packet(device_id, stamp, encrypt(override, self._token), self._token)
            reply = override
        if fault is Fault.WRONG_TOKEN:
            return seal_json(reply, device_id, stamp, bytes.fromhex(OTHER_TOKEN))
        if fault is Fault.BAD_PAYLOAD:
            payload = encrypt(b"<html>not json</html>", self._token)
            return build_packet(device_id, stamp, payload, self._token)
        packet = seal_json(reply, device_id, stamp, self._token)
        if fault is Fault.TRUNCATED:
            return packet[: HEADER_LEN - 8]
        return packet

    def _dispatch(self, method: str, params: Any) -> Any:
        handler: Callable[[Any], Any] | None = {
            "miIO.info": self._info,
            "get_prop": self._get_prop,
            "set_motion_record": self._set_motion_record,
            "set_night_mode": self._set_night_mode,
            "set_motor": self._set_motor,
            "alarm_sound": self._alarm_sound,
        }.get(method)
        if handler is not None:
            return handler(params)
        if method in _ON_OFF_SETTERS:
            value = _single(params, ("on", "off"))
            self.props[_ON_OFF_SETTERS[method]] = value
            return ["ok"]
        raise _Reply(ERROR_METHOD_NOT_FOUND)

    def _info(self, _params: Any) -> dict[str, Any]:
        info: dict[str, Any] = {
            "life": self._stamp(),
            "cfg_time": 0,
            "uid": 1234567890,
            "model": self.config.model,
            "fw_ver": self.config.firmware,
            "hw_ver": self.config.hardware,
            "mac": self.config.mac,
            "wifi_fw_ver": "8.1.1-1",
            "ap": {"ssid": "sim-wifi", "bssid": "02:00:00:00:00:01", "rssi": -52, "primary": 6},
            "netif": {"localIp": self.config.host, "mask": "255.0.0.0", "gw": "127.0.0.1"},
            "mmfree": 21720,
            "ot": "otu",
            "ott_stat": [0, 0, 0, 0],
            "otu_stat": [12, 10, 0, 0, 0, 84],
        }
        if self.config.info_includes_token:
            info["token"] = self.config.token
        return info

    def _get_prop(self, params: Any) -> list[Any]:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise _Reply(ERROR_INVALID_PARAMS)
        return [self.props.get(name) for name in params]

    def _set_motion_record(self, params: Any) -> list[str]:
        self.props["motion_record"] = _single(params, ("on", "off", "stop"))
        return ["ok"]

    def _set_night_mode(self, params: Any) -> list[str]:
        self.props["night_mode"] = _single(params, (0, 1, 2))
        return ["ok"]

    def _set_motor(self, params: Any) -> list[str]:
        if not self.has_motor:
            raise _Reply(ERROR_UNSUPPORTED)
        operation = params.get("operation") if isinstance(params, dict) else None
        if operation not in (1, 2, 3, 4) or isinstance(operation, bool):
            raise _Reply(ERROR_INVALID_PARAMS)
        return ["ok"]

    def _alarm_sound(self, _params: Any) -> list[str]:
        return ["ok"]


def _single(params: Any, allowed: tuple[Any, ...]) -> Any:
    """Return the one parameter of a setter, checked against the allowed values."""
    if (
        not isinstance(params, list)
        or len(params) != 1
        or isinstance(params[0], bool)
        or params[0] not in allowed
    ):
        raise _Reply(ERROR_INVALID_PARAMS)
    return params[0]


class _SimProtocol(asyncio.DatagramProtocol):
    def __init__(self, sim: MiioCameraSimulator) -> None:
        self._sim = sim
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            reply = self._sim.handle_datagram(data)
        except Exception:  # a simulator bug must not kill the endpoint
            _LOGGER.exception("simulator failed to handle a datagram")
            return
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)


# --- command line -------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> SimConfig:
    parser = argparse.ArgumentParser(description="Simulated Xiaomi miio camera (UDP 54321)")
    defaults = SimConfig()
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--token", default=defaults.token)
    parser.add_argument("--device-id", type=lambda s: int(s, 0), default=defaults.device_id)
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--mac", default=defaults.mac)
    parser.add_argument("--firmware", default=defaults.firmware)
    args = parser.parse_args(argv)
    token = args.token.lower()
    if len(token) != 32 or any(c not in "0123456789abcdef" for c in token):
        parser.error("--token must be 32 hexadecimal characters")
    return SimConfig(
        host=args.host,
        port=args.port,
        token=token,
        device_id=args.device_id,
        model=args.model,
        mac=args.mac,
        firmware=args.firmware,
    )


async def _serve(config: SimConfig) -> None:
    sim = MiioCameraSimulator(config)
    await sim.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    # The token is deliberately not printed.
    print(
        f"miio camera {config.model} ({config.mac}, device id {config.device_id}) "
        f"on {config.host}:{config.port}; Ctrl-C to stop",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    """Run one simulated camera until Ctrl-C or SIGTERM."""
    config = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config))


if __name__ == "__main__":
    main()
