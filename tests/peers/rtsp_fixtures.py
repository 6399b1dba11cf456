"""Pytest fixtures running the GStreamer RTSP server (tests/peers/rtsp_server.py).

The server runs as a subprocess of the SYSTEM interpreter (/usr/bin/python3 with
python3-gi; scripts/setup installs it). Every camera's picture is a solid colour of its
own, so a test can tell from a still's mean colour which camera it shows.

    async def test_x(rtsp_server: RtspServer) -> None:
        url = rtsp_server.url("cam1")
        rtsp_server.colour("cam1")          # expected mean RGB of a still
        rtsp_server.swap("cam1", "cam2")    # cam1's URL now shows cam2's colour

`rtsp_server_factory(cameras=[...], size="1280x720")` starts servers with other mounts.
`start_rtsp_server(...)` does the same outside pytest (benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
import queue
import subprocess
import tempfile
import threading
from typing import IO
from urllib.parse import quote, urlsplit

from PIL import Image, ImageStat
import pytest

from tests.peers.tls_proxy import TlsProxy, tls_proxy

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
START_TIMEOUT = 15.0
COMMAND_TIMEOUT = 10.0

type Rgb = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One mount of the test server (see rtsp_server.py for the options)."""

    name: str
    rgb: Rgb = (128, 128, 128)
    codec: str = "h264"  # h264, h265, mjpeg, vp8, audio
    audio: str | None = None  # an audio track next to the video: aac, mp3, pcmu, gst, mpa-bad
    user: str | None = None
    password: str | None = None
    damage: str | None = None  # drop-slice, cut-idr
    slices: int | None = None
    size: str | None = None  # "WxH"
    pattern: str | None = None

    def argument(self) -> str:
        """The server's --mount value."""
        opts = {
            "name": self.name,
            "codec": self.codec,
            "audio": self.audio,
            "color": "{:02x}{:02x}{:02x}".format(*self.rgb),
            "user": self.user,
            "password": self.password,
            "damage": self.damage,
            "slices": None if self.slices is None else str(self.slices),
            "size": self.size,
            "pattern": self.pattern,
        }
        return ",".join(f"{key}={value}" for key, value in opts.items() if value is not None)


# Colours far apart in RGB (and inside what survives YUV 4:2:0 and back).
DEFAULT_CAMERAS: tuple[CameraSpec, ...] = (
    CameraSpec("cam1", (220, 40, 40)),
    CameraSpec("cam2", (40, 200, 40)),
    CameraSpec("cam3", (40, 60, 220)),
    CameraSpec("cam4", (220, 210, 40)),
    CameraSpec("auth", (200, 60, 200), user="viewer", password="s3cret:p@ss"),
    CameraSpec("hevc", (40, 200, 200), codec="h265"),
    CameraSpec("mjpeg", (240, 140, 20), codec="mjpeg"),
    CameraSpec("vp8", (120, 120, 120), codec="vp8"),
    CameraSpec("audio", codec="audio"),
    CameraSpec("drop_slice", (220, 40, 40), damage="drop-slice"),
    CameraSpec("cut_idr", (220, 40, 40), damage="cut-idr"),
)


class RtspServerError(RuntimeError):
    """The server did not start or did not answer a command."""


class RtspServer:
    """A running server: URLs, expected colours and control."""

    def __init__(
        self,
        cameras: Iterable[CameraSpec] = DEFAULT_CAMERAS,
        *,
        size: str = "640x360",
        fps: int = 15,
        gop: int = 15,
    ) -> None:
        """Start the server and wait for READY (raises RtspServerError)."""
        self.cameras = {spec.name: spec for spec in cameras}
        self._colours = {name: spec.rgb for name, spec in self.cameras.items()}
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        command = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", "0", "--size", size]
        command += ["--fps", str(fps), "--gop", str(gop)]
        for spec in self.cameras.values():
            command += ["--mount", spec.argument()]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
                bufsize=1,
            )
        except OSError as err:
            self._stderr.close()
            raise RtspServerError(
                f"cannot run {SYSTEM_PYTHON}: install python3-gi and "
                "gir1.2-gst-rtsp-server-1.0 (scripts/setup)"
            ) from err
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read_lines, args=(self._process.stdout,), name="rtsp-server-stdout"
        )
        self._reader.start()
        line = self._next_line(START_TIMEOUT)
        if line is None or not line.startswith("READY "):
            self.close()
            raise RtspServerError(f"server did not start: {line!r}\n{self.stderr()}")
        self.port = int(line.split()[1])

    def _read_lines(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # EOF: the server is gone

    def _next_line(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def stderr(self) -> str:
        """What the server wrote on stderr so far (for failure messages)."""
        if self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    # -- addresses and content --------------------------------------------------------

    def url(
        self,
        name: str,
        *,
        user: str | None = None,
        password: str | None = None,
        credentials: bool = True,
    ) -> str:
        """The RTSP URL of a mount; an auth mount's own credentials unless told otherwise."""
        spec = self.cameras[name]
        if credentials and user is None and spec.user is not None:
            user, password = spec.user, spec.password
        auth = ""
        if user is not None:
            auth = quote(user, safe="")
            if password is not None:
                auth += ":" + quote(password, safe="")
            auth += "@"
        return f"rtsp://{auth}127.0.0.1:{self.port}/{name}"

    def colour(self, name: str) -> Rgb:
        """The colour the mount shows now (follows swaps)."""
        return self._colours[name]

    # -- control ----------------------------------------------------------------------

    def command(self, line: str) -> str:
        """Send a control command; return the reply after "OK " (raises on ERR)."""
        if self._process.poll() is not None or self._process.stdin is None:
            raise RtspServerError("server is not running")
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        reply = self._next_line(COMMAND_TIMEOUT)
        if reply is None or not reply.startswith("OK"):
            raise RtspServerError(f"{line!r} -> {reply!r}\n{self.stderr()}")
        return reply[3:]

    def stop_mount(self, name: str) -> None:
        """Stop serving a mount and close its clients' connections."""
        self.command(f"stop {name}")

    def start_mount(self, name: str) -> None:
        """Serve a stopped mount again."""
        self.command(f"start {name}")

    def kick(self, name: str) -> int:
        """Close the connections of a mount's clients; return how many there were."""
        return int(self.command(f"kick {name}").split()[-1])

    def clients(self, name: str) -> int:
        """Open client connections on a mount."""
        return int(self.command(f"clients {name}"))

    def swap(self, first: str, second: str) -> None:
        """Exchange two mounts' content, live (with a forced keyframe) and for new clients."""
        self.command(f"swap {first} {second}")
        self._colours[first], self._colours[second] = (
            self._colours[second],
            self._colours[first],
        )

    def set_colour(self, name: str, rgb: Rgb) -> None:
        """Change a mount's colour, live and for new clients."""
        self.command("color {} {:02x}{:02x}{:02x}".format(name, *rgb))
        self._colours[name] = rgb

    def kill(self) -> None:
        """Kill the server process at once (like a camera losing power)."""
        self._process.kill()
        self._process.wait(timeout=COMMAND_TIMEOUT)

    def close(self) -> None:
        """Stop the server (politely, then not) and its reader thread."""
        if self._process.poll() is None:
            try:
                assert self._process.stdin is not None
                self._process.stdin.write("quit\n")
                self._process.stdin.flush()
                self._process.wait(timeout=5)
            except OSError, subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=COMMAND_TIMEOUT)
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._reader.join(timeout=COMMAND_TIMEOUT)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()


def start_rtsp_server(
    cameras: Iterable[CameraSpec] = DEFAULT_CAMERAS,
    *,
    size: str = "640x360",
    fps: int = 15,
    gop: int = 15,
) -> RtspServer:
    """Start a server outside pytest; call `close()` when done."""
    return RtspServer(cameras, size=size, fps=fps, gop=gop)


type RtspServerFactory = Callable[..., RtspServer]


@pytest.fixture
def rtsp_server_factory(socket_enabled: None) -> Generator[RtspServerFactory]:
    """Start servers: `rtsp_server_factory(cameras=[CameraSpec(...)], size="1280x720")`."""
    servers: list[RtspServer] = []

    def factory(
        cameras: Iterable[CameraSpec] = DEFAULT_CAMERAS,
        *,
        size: str = "640x360",
        fps: int = 15,
        gop: int = 15,
    ) -> RtspServer:
        server = RtspServer(cameras, size=size, fps=fps, gop=gop)
        servers.append(server)
        return server

    try:
        yield factory
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def rtsp_server(rtsp_server_factory: RtspServerFactory) -> RtspServer:
    """A running server with DEFAULT_CAMERAS at 640x360, 15 fps, a keyframe per second."""
    return rtsp_server_factory()


@pytest.fixture
def rtsps_proxy(rtsp_server: RtspServer, tmp_path: Path) -> Iterator[TlsProxy]:
    """rtsps:// in front of rtsp_server's mounts, with a self-signed certificate."""
    port = urlsplit(rtsp_server.url("cam1")).port
    assert port is not None
    with tls_proxy(port, tmp_path) as proxy:
        yield proxy


def mean_rgb(jpeg: bytes) -> Rgb:
    """Mean colour of a JPEG still."""
    with Image.open(BytesIO(jpeg)) as image:
        stat = ImageStat.Stat(image.convert("RGB"))
    red, green, blue = (round(v) for v in stat.mean)
    return red, green, blue


def colour_spread(jpeg: bytes) -> float:
    """Largest per-channel standard deviation: near 0 for a uniform picture."""
    with Image.open(BytesIO(jpeg)) as image:
        stat = ImageStat.Stat(image.convert("RGB"))
    return max(stat.stddev)


# Largest colour_distance from a mount's colour still counted as that mount's picture:
# JPEG and YUV rounding move it by up to ~4 (~21 for MJPEG sources); the mounts' colours
# are > 75 apart.
SAME_COLOUR = 25


def colour_distance(first: Rgb, second: Rgb) -> float:
    """Euclidean distance between two colours."""
    return sum((a - b) ** 2 for a, b in zip(first, second, strict=True)) ** 0.5
