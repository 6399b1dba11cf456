"""SnapshotEngine against a real GStreamer RTSP server (and a few deliberately bad ones).

Every camera of the test server shows a solid colour of its own, so a still's mean
colour says which camera it came from, and its colour spread says whether it is one
whole picture (a half-decoded or mixed picture is not uniform).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from fractions import Fraction
import hashlib
from io import BytesIO
import logging
import random
import sys
import threading
import time
import traceback
from typing import Any

import av
import numpy as np
from PIL import Image
import pytest

from custom_components.xiaomi_cam_bridge.camlib import snapshot
from custom_components.xiaomi_cam_bridge.camlib.exceptions import (
    CorruptFrame,
    NoVideoTrack,
    StreamAuthError,
    StreamUnreachable,
    UnsupportedCodec,
)
from custom_components.xiaomi_cam_bridge.camlib.frame import Frame
from custom_components.xiaomi_cam_bridge.camlib.snapshot import (
    MediaInfo,
    SnapshotEngine,
    target_size,
)
from custom_components.xiaomi_cam_bridge.camlib.sources import fingerprint
from tests.peers.rtsp_fixtures import (
    CameraSpec,
    Rgb,
    RtspServer,
    RtspServerFactory,
    colour_distance,
    colour_spread,
    mean_rgb,
)
from tests.peers.tls_proxy import TlsProxy

# JPEG and YUV 4:2:0 round trips move a solid colour by a few units (MJPEG sources by
# up to ~20); the test cameras' colours are more than 150 apart.
COLOUR_TOLERANCE = 30.0
# A whole solid-colour picture has a spread of ~0; half a picture is > 50.
MAX_SPREAD = 4.0

type EngineFactory = Callable[..., SnapshotEngine]


@pytest.fixture
async def make_engine() -> AsyncGenerator[EngineFactory]:
    """Create engines that are closed (threads joined) at teardown."""
    engines: list[SnapshotEngine] = []

    def make(camera_id: str, url: str, **kwargs: Any) -> SnapshotEngine:
        engine = SnapshotEngine(camera_id, url, **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.async_close()


def _size_and_codec(info: MediaInfo) -> tuple[int, int, str]:
    return info.width, info.height, info.video_codec


def assert_shows(frame: Frame, expected: Rgb) -> None:
    """The still is one whole picture of the expected colour."""
    assert frame.is_intact()
    assert colour_spread(frame.jpeg) < MAX_SPREAD, "not a whole, uniform picture"
    got = mean_rgb(frame.jpeg)
    assert colour_distance(got, expected) < COLOUR_TOLERANCE, f"{got} is not {expected}"


def tap_thread(camera_id: str) -> threading.Thread | None:
    """The engine's tap thread, found by its name."""
    for thread in threading.enumerate():
        if thread.name == f"snapshot-tap-{camera_id}":
            return thread
    return None


async def join(thread: threading.Thread) -> None:
    """Wait (at most 15 s) for a thread to end without blocking the loop."""
    await asyncio.get_running_loop().run_in_executor(None, thread.join, 15.0)


# -- colours: each camera's still is its own ---------------------------------------------


async def test_cold_grab_shows_each_cameras_own_colour(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """A cold grab of each camera returns that camera's picture and nobody else's."""
    names = ["cam1", "cam2", "cam3", "cam4"]
    frames = {}
    for name in names:
        engine = make_engine(name, rtsp_server.url(name), warm_period=0)
        frames[name] = await engine.async_get_frame()
        assert engine.connections == 1
        assert engine.captures == 1
    for name, frame in frames.items():
        assert_shows(frame, rtsp_server.colour(name))
        for other in names:
            if other != name:
                distance = colour_distance(mean_rgb(frame.jpeg), rtsp_server.colour(other))
                assert distance > 100
        assert (frame.provenance.width, frame.provenance.height) == (640, 360)


@pytest.mark.parametrize("name", ["hevc", "mjpeg", "auth"])
async def test_other_codecs_and_credentials(
    rtsp_server: RtspServer, make_engine: EngineFactory, name: str
) -> None:
    """H.265, MJPEG and a password-protected H.264 mount all give their own colour."""
    engine = make_engine(name, rtsp_server.url(name), warm_period=0)
    assert_shows(await engine.async_get_frame(), rtsp_server.colour(name))


@pytest.mark.parametrize("slices", [1, 4])
async def test_keyframe_split_over_several_packets_is_joined(
    rtsp_server_factory: RtspServerFactory, make_engine: EngineFactory, slices: int
) -> None:
    """A keyframe whose slices come as separate packets is decoded whole, never half."""
    server = rtsp_server_factory([CameraSpec("cam", (40, 60, 220), slices=slices)])
    engine = make_engine("cam", server.url("cam"))
    first = await engine.async_get_frame()
    second = await engine.async_get_frame(newer_than=first.provenance.captured_at)
    for frame in (first, second):
        assert_shows(frame, server.colour("cam"))


async def test_probe(rtsp_server_factory: RtspServerFactory, make_engine: EngineFactory) -> None:
    """Probe reports the decoded size and codec."""
    server = rtsp_server_factory(
        [CameraSpec("small", (220, 40, 40)), CameraSpec("hevc", (40, 200, 40), codec="h265")]
    )
    big = rtsp_server_factory([CameraSpec("big", (40, 60, 220))], size="1280x720")
    assert _size_and_codec(await make_engine("a", server.url("small")).async_probe_media()) == (
        640,
        360,
        "h264",
    )
    assert _size_and_codec(await make_engine("b", server.url("hevc")).async_probe_media()) == (
        640,
        360,
        "hevc",
    )
    assert _size_and_codec(await make_engine("c", big.url("big")).async_probe_media()) == (
        1280,
        720,
        "h264",
    )


# Audio track of the test camera (CameraSpec.audio) -> the codec the probe reports.
AUDIO_CODECS: dict[str | None, str | None] = {
    None: None,
    "aac": "aac",
    "mp3": "mp3",
    "pcmu": "pcm_mulaw",
    "gst": None,  # GStreamer's own payload: FFmpeg knows no codec for it
}


async def test_probe_reports_the_audio_codec(
    rtsp_server_factory: RtspServerFactory, make_engine: EngineFactory
) -> None:
    """The probe names the codec of the first audio track, None without a known one."""
    server = rtsp_server_factory(
        [CameraSpec(f"cam_{audio}", (220, 40, 40), audio=audio) for audio in AUDIO_CODECS]
        + [CameraSpec("hevc_aac", (40, 200, 40), codec="h265", audio="aac")]
    )
    for audio, codec in AUDIO_CODECS.items():
        engine = make_engine(f"cam_{audio}", server.url(f"cam_{audio}"), warm_period=0)
        assert await engine.async_probe_media() == MediaInfo(640, 360, "h264", codec), audio
        assert engine.connections == 1
        # The tuple callers had before audio was reported.
        assert _size_and_codec(await engine.async_probe_media()) == (640, 360, "h264")
    engine = make_engine("hevc_aac", server.url("hevc_aac"))
    assert await engine.async_probe_media() == MediaInfo(640, 360, "hevc", "aac")


async def test_mp3_is_told_from_its_frames(
    rtsp_server_factory: RtspServerFactory, make_engine: EngineFactory
) -> None:
    """RTP's MPEG audio payload does not name the layer: every connection still says mp3.

    From the SDP alone FFmpeg says "mp2", and "mp3" (as decoder "mp3float") only when an
    audio frame happened to arrive during its short probe.
    """
    server = rtsp_server_factory([CameraSpec("mp3", (40, 60, 220), audio="mp3")])
    for attempt in range(6):
        engine = make_engine(f"mp3_{attempt}", server.url("mp3"), warm_period=0)
        assert (await engine.async_probe_media()).audio_codec == "mp3", attempt
        # The keyframe held back until the audio was known is the camera's, whole.
        assert_shows(await engine.async_get_frame(), server.colour("mp3"))


async def test_mpeg_audio_without_frames_does_not_hold_stills(
    rtsp_server_factory: RtspServerFactory, make_engine: EngineFactory
) -> None:
    """An MPEG audio track that never carries a frame: FFmpeg's guess, after a short wait."""
    server = rtsp_server_factory([CameraSpec("bad", (40, 200, 40), audio="mpa-bad")])
    engine = make_engine("bad", server.url("bad"))
    # Asked together: the probe does not keep the tap warm, so a still asked after it
    # would share its connection only if the tap had not left yet (a race).
    info, frame = await asyncio.gather(engine.async_probe_media(), engine.async_get_frame())
    assert info == MediaInfo(640, 360, "h264", "mp2")
    assert_shows(frame, server.colour("bad"))
    assert engine.connections == 1


async def test_probe_of_a_warm_tap_needs_no_connection(
    rtsp_server_factory: RtspServerFactory, make_engine: EngineFactory
) -> None:
    """While stills are being taken, the probe answers from the open connection."""
    server = rtsp_server_factory([CameraSpec("aac", (220, 210, 40), audio="aac")])
    engine = make_engine("aac", server.url("aac"))
    assert_shows(await engine.async_get_frame(), server.colour("aac"))
    assert await engine.async_probe_media() == MediaInfo(640, 360, "h264", "aac")
    assert engine.connections == 1
    assert engine.tap_running


async def test_provenance(rtsp_server: RtspServer, make_engine: EngineFactory) -> None:
    """The frame says which camera and source it is from, when, and its own hash."""
    url = rtsp_server.url("cam2")
    engine = make_engine("78:11:dc:00:00:02", url)
    before = time.time()
    frame = await engine.async_get_frame()
    after = time.time()
    provenance = frame.provenance
    assert provenance.camera_id == "78:11:dc:00:00:02"
    assert provenance.source_fingerprint == fingerprint(url) == engine.source_fingerprint
    assert before <= provenance.captured_at <= after
    assert provenance.sha256 == hashlib.sha256(frame.jpeg).hexdigest()
    with Image.open(BytesIO(frame.jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == (provenance.width, provenance.height)


# -- warm tap --------------------------------------------------------------------------


async def test_warm_tap_reuses_the_connection(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """While warm, requests are served from the open connection's last keyframe."""
    engine = make_engine("cam1", rtsp_server.url("cam1"), warm_period=60)
    first = await engine.async_get_frame()
    assert engine.tap_running
    again = await engine.async_get_frame()
    # Same keyframe: no second decode, same still.
    assert again.provenance.captured_at == first.provenance.captured_at
    assert engine.captures == 1
    later = await engine.async_get_frame(newer_than=first.provenance.captured_at)
    assert later.provenance.captured_at > first.provenance.captured_at
    assert_shows(later, rtsp_server.colour("cam1"))
    assert engine.connections == 1
    assert engine.captures == 2
    assert rtsp_server.clients("cam1") == 1


async def test_idle_tap_disconnects_after_warm_period(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """The tap leaves warm_period after the last request; the next request reconnects."""
    engine = make_engine("cam1", rtsp_server.url("cam1"), warm_period=0.5)
    first = await engine.async_get_frame()
    asked = time.monotonic()
    thread = tap_thread("cam1")
    assert thread is not None
    await join(thread)
    assert not thread.is_alive()
    assert time.monotonic() - asked >= 0.5
    assert not engine.tap_running
    second = await engine.async_get_frame()
    assert engine.connections == 2
    assert second.provenance.captured_at > first.provenance.captured_at
    assert_shows(second, rtsp_server.colour("cam1"))


async def test_cold_grab_disconnects_at_once(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """With warm_period 0 the connection ends right after the keyframe."""
    engine = make_engine("cam3", rtsp_server.url("cam3"), warm_period=0)
    assert_shows(await engine.async_get_frame(), rtsp_server.colour("cam3"))
    thread = tap_thread("cam3")
    if thread is not None:
        await join(thread)
        assert not thread.is_alive()
    assert not engine.tap_running


async def test_close_stops_the_thread(rtsp_server: RtspServer, make_engine: EngineFactory) -> None:
    """async_close stops the tap thread; a closed engine serves nothing."""
    engine = make_engine("cam4", rtsp_server.url("cam4"), warm_period=60)
    await engine.async_get_frame()
    thread = tap_thread("cam4")
    assert thread is not None
    assert thread.is_alive()
    await engine.async_close()
    assert not thread.is_alive()
    assert not engine.tap_running
    with pytest.raises(StreamUnreachable):
        await engine.async_get_frame()


# -- the source changes, stops or goes away ---------------------------------------------


async def test_swapped_content_shows_new_picture_never_a_mix(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """URL cam1 starts showing cam2's picture: stills switch whole, never blend."""
    old, new = rtsp_server.colour("cam1"), rtsp_server.colour("cam2")
    engine = make_engine("cam1", rtsp_server.url("cam1"), warm_period=60)
    frame = await engine.async_get_frame()
    assert_shows(frame, old)
    swapped_at = time.time()
    rtsp_server.swap("cam1", "cam2")
    seen: list[Rgb] = []
    for _ in range(5):
        frame = await engine.async_get_frame(newer_than=frame.provenance.captured_at)
        assert colour_spread(frame.jpeg) < MAX_SPREAD, "a mixed picture was served"
        colour = mean_rgb(frame.jpeg)
        if colour_distance(colour, new) < COLOUR_TOLERANCE:
            # Content seen after the swap was asked for, of course.
            assert frame.provenance.captured_at > swapped_at
            seen.append(new)
            break
        assert colour_distance(colour, old) < COLOUR_TOLERANCE
        seen.append(old)
    assert seen[-1] == new, f"still showing the old content after {len(seen)} keyframes"
    assert engine.connections == 1
    # A new connection to either URL gets the swapped content right away.
    for name, expected in (("cam1", new), ("cam2", old)):
        cold = make_engine(name, rtsp_server.url(name), warm_period=0)
        assert_shows(await cold.async_get_frame(), expected)


async def test_stopped_stream_raises_and_serves_no_stale_frame(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """Once the stream is gone its last keyframe is forgotten; it comes back when it does."""
    engine = make_engine("cam1", rtsp_server.url("cam1"), warm_period=60)
    first = await engine.async_get_frame()
    rtsp_server.stop_mount("cam1")
    stopped_at = time.time()
    with pytest.raises(StreamUnreachable):
        await engine.async_get_frame(newer_than=stopped_at)
    # Not the keyframe from before the stop: the mount is gone (404).
    with pytest.raises(StreamUnreachable, match="404"):
        await engine.async_get_frame()
    assert not engine.tap_running
    rtsp_server.start_mount("cam1")
    back = await engine.async_get_frame()
    assert back.provenance.captured_at > stopped_at > first.provenance.captured_at
    assert_shows(back, rtsp_server.colour("cam1"))


async def test_dropped_connection_reconnects_on_next_request(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """A camera that drops its clients (reboot) is reconnected to, not served stale."""
    engine = make_engine("cam2", rtsp_server.url("cam2"), warm_period=60)
    first = await engine.async_get_frame()
    assert rtsp_server.kick("cam2") == 1
    kicked_at = time.time()
    try:
        frame = await engine.async_get_frame(newer_than=kicked_at)
    except StreamUnreachable:  # the request met the dropping connection
        frame = await engine.async_get_frame()
    assert frame.provenance.captured_at > kicked_at > first.provenance.captured_at
    assert_shows(frame, rtsp_server.colour("cam2"))
    assert engine.connections == 2


async def test_killed_server(rtsp_server: RtspServer, make_engine: EngineFactory) -> None:
    """A server that dies mid-stream gives StreamUnreachable, then refused connections."""
    engine = make_engine("cam1", rtsp_server.url("cam1"), warm_period=60, open_timeout=2)
    await engine.async_get_frame()
    rtsp_server.kill()
    killed_at = time.time()
    with pytest.raises(StreamUnreachable):
        await engine.async_get_frame(newer_than=killed_at)
    with pytest.raises(StreamUnreachable):
        await engine.async_get_frame()


async def test_unreachable_port(make_engine: EngineFactory, socket_enabled: None) -> None:
    """Nothing listening: StreamUnreachable, at once."""
    engine = make_engine("cam", "rtsp://127.0.0.1:9/nothing", open_timeout=2)
    with pytest.raises(StreamUnreachable):
        await engine.async_get_frame()
    assert engine.captures == 0


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password"),
    [(None, None), ("viewer", "wrong-password"), ("intruder", "s3cret:p@ss")],
)
async def test_credentials_refused(
    rtsp_server: RtspServer,
    make_engine: EngineFactory,
    caplog: pytest.LogCaptureFixture,
    user: str | None,
    password: str | None,
) -> None:
    """Missing or wrong credentials give StreamAuthError; no secret leaks anywhere."""
    caplog.set_level(logging.DEBUG)
    url = rtsp_server.url("auth", user=user, password=password, credentials=False)
    engine = make_engine("auth", url, warm_period=0)
    with pytest.raises(StreamAuthError) as info:
        await engine.async_get_frame()
    texts = [repr(engine), caplog.text]
    texts += traceback.format_exception(info.value)
    error: BaseException | None = info.value
    while error is not None:  # the whole chain, shown or not
        texts += [str(error), repr(error.args)]
        error = error.__cause__ or error.__context__
    for text in texts:
        assert "s3cret" not in text
        assert "wrong-password" not in text
        assert "p@ss" not in text


async def test_no_video_track(rtsp_server: RtspServer, make_engine: EngineFactory) -> None:
    """An audio-only stream has nothing to show."""
    engine = make_engine("audio", rtsp_server.url("audio"))
    with pytest.raises(NoVideoTrack):
        await engine.async_get_frame()
    with pytest.raises(NoVideoTrack):
        await engine.async_probe_media()


async def test_unsupported_codec(rtsp_server: RtspServer, make_engine: EngineFactory) -> None:
    """VP8 is not a camera codec the engine accepts."""
    engine = make_engine("vp8", rtsp_server.url("vp8"))
    with pytest.raises(UnsupportedCodec, match="vp8"):
        await engine.async_get_frame()


# -- damaged and garbage streams ---------------------------------------------------------


@pytest.mark.parametrize("name", ["drop_slice", "cut_idr"])
async def test_damaged_keyframes_raise_corrupt_frame(
    rtsp_server: RtspServer, make_engine: EngineFactory, name: str
) -> None:
    """Keyframes missing a slice or cut short are refused, cold and warm, every time.

    Decoded naively (PyAV's default slice threads) these keyframes come out as half
    red, half green pictures with no error at all.
    """
    cold = make_engine(name, rtsp_server.url(name), warm_period=0)
    with pytest.raises(CorruptFrame):
        await cold.async_get_frame()
    warm = make_engine(name + "-warm", rtsp_server.url(name), warm_period=60)
    with pytest.raises(CorruptFrame):
        await warm.async_get_frame()
    started = time.time()
    with pytest.raises(CorruptFrame):
        await warm.async_get_frame(newer_than=started)
    assert warm.captures == 2
    assert warm.connections == 1


def _h264_pictures(rgb: Rgb, count: int) -> tuple[bytes, bytes, list[bytes]]:
    """Encode `count` pictures with PyAV's libx264: (sps, pps, Annex B access units)."""
    encoder = av.codec.Codec("libx264", "w").create("video")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 180, "yuv420p"
    encoder.time_base = Fraction(1, 15)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "keyint=2"}
    pixels = np.zeros((180, 320, 3), np.uint8)
    pixels[:] = rgb
    pictures = []
    for pts in range(count):
        frame = av.VideoFrame.from_ndarray(pixels, "rgb24").reformat(format="yuv420p")
        frame.pts = pts
        pictures += [bytes(p) for p in encoder.encode(frame)]
    pictures += [bytes(p) for p in encoder.encode(None)]
    nals = pictures[0].split(b"\x00\x00\x01")
    sps = next(n for n in nals if n and n[0] & 0x1F == 7).rstrip(b"\x00")
    pps = next(n for n in nals if n and n[0] & 0x1F == 8).rstrip(b"\x00")
    return sps, pps, pictures


class FakeRtspServer:
    """Just enough RTSP over TCP to feed the engine a stream of our own making.

    mode "garbage": answers every request with random bytes; "silent": accepts and
    never answers; "stream": a correct handshake, then `pictures` as RTP (one NAL per
    packet), then it waits for the client to leave.
    """

    def __init__(
        self, mode: str, pictures: Sequence[bytes] = (), sps: bytes = b"", pps: bytes = b""
    ) -> None:
        self.mode = mode
        self.pictures = list(pictures)
        self.sps, self.pps = sps, pps
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FakeRtspServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:
            writer.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/fake"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                if self.mode == "silent":
                    continue
                if self.mode == "garbage":
                    writer.write(random.Random(7).randbytes(512))
                    await writer.drain()
                    continue
                await self._answer(request.decode(), writer)
        except asyncio.IncompleteReadError, ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(self, request: str, writer: asyncio.StreamWriter) -> None:
        method = request.split(" ", 1)[0]
        cseq = next(
            line.split(":", 1)[1].strip()
            for line in request.split("\r\n")
            if line.lower().startswith("cseq:")
        )
        headers = {"CSeq": cseq}
        body = ""
        if method == "OPTIONS":
            headers["Public"] = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"
        elif method == "DESCRIBE":
            sprop = ",".join(base64.b64encode(n).decode() for n in (self.sps, self.pps))
            body = (
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                f"a=fmtp:96 packetization-mode=1;sprop-parameter-sets={sprop}\r\n"
                "a=control:track1\r\n"
            )
            headers["Content-Type"] = "application/sdp"
            headers["Content-Base"] = self.url + "/"
        elif method == "SETUP":
            headers["Transport"] = "RTP/AVP/TCP;unicast;interleaved=0-1"
            headers["Session"] = "12345678"
        elif method == "PLAY":
            headers["Session"] = "12345678"
        headers["Content-Length"] = str(len(body))
        head = "RTSP/1.0 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write((head + "\r\n" + body).encode())
        if method == "PLAY":
            writer.write(self._rtp())
        await writer.drain()

    def _rtp(self) -> bytes:
        out = bytearray()
        seq = 0
        for index, picture in enumerate(self.pictures):
            nals = [n.rstrip(b"\x00") for n in picture.split(b"\x00\x00\x01") if n.strip(b"\x00")]
            for position, nal in enumerate(nals):
                marker = 0x80 if position == len(nals) - 1 else 0
                header = bytes([0x80, marker | 96]) + seq.to_bytes(2, "big")
                header += (index * 6000).to_bytes(4, "big") + b"\x12\x34\x56\x78"
                packet = header + nal
                out += b"$\x00" + len(packet).to_bytes(2, "big") + packet
                seq += 1
        return bytes(out)


async def test_garbage_rtsp_answer(make_engine: EngineFactory, socket_enabled: None) -> None:
    """A server answering random bytes is unreachable, not a picture."""
    async with FakeRtspServer("garbage") as server:
        engine = make_engine("cam", server.url, open_timeout=1)
        with pytest.raises(StreamUnreachable):
            await engine.async_get_frame()


async def test_silent_server_times_out(make_engine: EngineFactory, socket_enabled: None) -> None:
    """A server that accepts and never answers does not hang the engine."""
    async with FakeRtspServer("silent") as server:
        engine = make_engine("cam", server.url, open_timeout=1, frame_timeout=1)
        started = time.monotonic()
        with pytest.raises(StreamUnreachable, match="timed out"):
            await engine.async_get_frame()
        assert time.monotonic() - started < 6


@pytest.mark.parametrize("damage", ["none", "garbage", "truncated"])
async def test_stream_of_our_own_making(
    make_engine: EngineFactory, socket_enabled: None, damage: str
) -> None:
    """Clean keyframes show their colour; garbage or truncated ones raise CorruptFrame."""
    sps, pps, pictures = _h264_pictures((220, 40, 40), 6)
    rng = random.Random(3)
    damaged = []
    for picture in pictures:
        nals = [n.rstrip(b"\x00") for n in picture.split(b"\x00\x00\x01") if n.strip(b"\x00")]
        for index, nal in enumerate(nals):
            if nal[0] & 0x1F != 5:  # only keyframe (IDR) slices are damaged
                continue
            third = len(nal) // 3
            if damage == "garbage":
                nals[index] = nal[:third] + rng.randbytes(third) + nal[2 * third :]
            elif damage == "truncated":
                nals[index] = nal[: len(nal) // 2]
        damaged.append(b"".join(b"\x00\x00\x00\x01" + nal for nal in nals))
    async with FakeRtspServer("stream", damaged, sps, pps) as server:
        engine = make_engine("cam", server.url, warm_period=0)
        if damage == "none":
            assert_shows(await engine.async_get_frame(), (220, 40, 40))
        else:
            with pytest.raises(CorruptFrame):
                await engine.async_get_frame()


# -- single flight, resizing, cancellation -------------------------------------------------


async def test_single_flight(rtsp_server: RtspServer, make_engine: EngineFactory) -> None:
    """100 concurrent requests: one connection, one decode, one encode per size."""
    engine = make_engine("cam1", rtsp_server.url("cam1"), warm_period=60)
    frames = await asyncio.gather(*(engine.async_get_frame() for _ in range(100)))
    assert engine.connections == 1
    assert engine.captures == 1
    assert all(frame is frames[0] for frame in frames)
    assert_shows(frames[0], rtsp_server.colour("cam1"))
    # Warm, waiting for the next keyframe, two sizes: still one decode.
    after = frames[0].provenance.captured_at
    mixed = await asyncio.gather(
        *(engine.async_get_frame(320 if i % 2 else None, newer_than=after) for i in range(100))
    )
    assert engine.captures == 2
    assert engine.connections == 1
    assert len({id(frame) for frame in mixed}) == 2
    assert {(f.provenance.width, f.provenance.height) for f in mixed} == {(640, 360), (320, 180)}
    assert len({frame.provenance.captured_at for frame in mixed}) == 1
    assert engine.decodes == 2  # one picture per keyframe, both sizes made from it


async def test_cancelled_request_spares_the_others(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """A caller giving up does not cancel the shared capture for the others."""
    engine = make_engine("cam2", rtsp_server.url("cam2"), warm_period=60)
    quitter = asyncio.create_task(engine.async_get_frame())
    stayer = asyncio.create_task(engine.async_get_frame())
    await asyncio.sleep(0)  # let both start waiting on the same connection
    assert engine.connections == 1
    quitter.cancel()
    frame = await stayer
    assert quitter.cancelled()
    assert_shows(frame, rtsp_server.colour("cam2"))
    assert_shows(await engine.async_get_frame(), rtsp_server.colour("cam2"))
    assert engine.captures == 1


async def test_resize_keeps_aspect_and_never_upscales(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """A width/height is a bounding box hint; the picture never grows."""
    engine = make_engine("cam3", rtsp_server.url("cam3"), warm_period=60)
    cases = {
        (320, None): (320, 180),
        (None, 90): (160, 90),
        (320, 90): (160, 90),
        (4000, None): (640, 360),
        (None, None): (640, 360),
        (0, None): (640, 360),
    }
    for (width, height), expected in cases.items():
        frame = await engine.async_get_frame(width, height)
        assert (frame.provenance.width, frame.provenance.height) == expected
        with Image.open(BytesIO(frame.jpeg)) as image:
            assert image.size == expected
        assert_shows(frame, rtsp_server.colour("cam3"))
    assert engine.captures == 1


async def test_picture_is_let_go_between_requests(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """The decoded picture lives while requests use it; JPEGs stay memoised after."""
    engine = make_engine("cam2", rtsp_server.url("cam2"), warm_period=60)
    first = await asyncio.gather(*(engine.async_get_frame(320) for _ in range(10)))
    assert (engine.captures, engine.decodes) == (1, 1)
    # Same keyframe, same size: the memoised JPEG, no picture needed.
    assert await engine.async_get_frame(320) is first[0]
    assert engine.decodes == 1
    # Same keyframe, a size nobody asked for while the picture was in use: decoded again.
    full = await engine.async_get_frame()
    assert (engine.captures, engine.decodes) == (1, 2)
    assert full.provenance.captured_at == first[0].provenance.captured_at
    assert (full.provenance.width, full.provenance.height) == (640, 360)
    assert_shows(full, rtsp_server.colour("cam2"))
    # The size of a released picture is still known: its memo is found without decoding.
    assert await engine.async_get_frame(320) is first[0]
    assert await engine.async_get_frame() is full
    assert engine.decodes == 2
    info = await engine.async_probe_media()
    assert (info.width, info.height) == (640, 360)
    assert engine.decodes == 2


async def test_many_sizes_of_one_keyframe_at_once(
    rtsp_server: RtspServer, make_engine: EngineFactory
) -> None:
    """Several sizes of one decoded keyframe are encoded in parallel threads.

    Each encode converts the same shared picture; PyAV keeps one swscale context on a
    frame, and sharing it between threads crashed the process (CI, exit 134).
    """
    engine = make_engine("cam3", rtsp_server.url("cam3"), warm_period=60)
    await engine.async_get_frame()
    for round_ in range(30):
        # Four sizes never asked for before: four encodes of one picture at once.
        widths = [32 + 4 * (4 * round_ + i) for i in range(4)]
        frames = await asyncio.gather(*(engine.async_get_frame(width) for width in widths))
        assert [frame.provenance.width for frame in frames] == widths
        for frame in frames:
            assert_shows(frame, rtsp_server.colour("cam3"))
    assert engine.captures == 1


def test_target_size() -> None:
    """The sizing rule on its own, with odd inputs."""
    assert target_size(1280, 720, 640, None) == (640, 360)
    assert target_size(1280, 720, None, 180) == (320, 180)
    assert target_size(1280, 720, 500, 500) == (500, 281)
    assert target_size(1280, 720, 1, None) == (1, 1)
    assert target_size(1280, 720, -5, 0) == (1280, 720)
    assert target_size(640, 360, 1920, 1080) == (640, 360)


def test_engine_repr_hides_credentials() -> None:
    """Neither repr nor attributes show the URL's password."""
    engine = SnapshotEngine("cam", "rtsp://admin:hunter2@127.0.0.1:8554/live")
    assert "hunter2" not in repr(engine)
    assert "hunter2" not in engine.source_fingerprint


# -- JPEG encoding: TurboJPEG straight from YUV, Pillow as the fallback --------------------

# Mean absolute difference (0-255) between a still and the RGB picture it was made from:
# JPEG and 4:2:0 rounding give ~1-3 on this picture; limited-range luma left as it is
# (black at 16, white at 235) gives > 10.
MAX_PICTURE_ERROR = 4.0


@pytest.fixture
def reload_turbojpeg() -> Iterator[None]:
    """Forget the loaded TurboJPEG encoder before and after the test."""
    saved = list(snapshot._TURBOJPEG)
    snapshot._TURBOJPEG.clear()
    yield
    snapshot._TURBOJPEG[:] = saved


def _test_picture() -> np.ndarray:
    """Black, white and colour blocks: shows lost contrast and swapped chroma."""
    pixels = np.zeros((360, 640, 3), np.uint8)
    pixels[:, 160:320] = (255, 255, 255)
    pixels[:, 320:480] = (220, 40, 40)
    pixels[:, 480:] = (30, 60, 200)
    pixels[270:, :] = (40, 190, 90)
    return pixels


def _encode(pixels: np.ndarray, size: tuple[int, int]) -> Frame:
    # Limited-range 4:2:0, like a decoded H.264 picture.
    frame = av.VideoFrame.from_ndarray(pixels, "rgb24").reformat(format="yuv420p")
    keyframe = snapshot._Keyframe(1, "h264", None, None, b"", 1.0)
    return snapshot._encode_jpeg(frame, size, keyframe, "cam", "fp")


def _picture_error(jpeg: bytes, pixels: np.ndarray) -> float:
    """Mean absolute difference from the RGB picture, scaled to the still's size."""
    with Image.open(BytesIO(jpeg)) as image:
        got = np.asarray(image.convert("RGB"), np.float64)
        size = image.size
    reference = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX))
    return float(np.abs(got - reference).mean())


@pytest.mark.parametrize("size", [(640, 360), (320, 180), (322, 182), (321, 181), (2, 2), (1, 1)])
def test_still_matches_the_rgb_picture(size: tuple[int, int]) -> None:
    """Every size, even or odd, gives a whole still of that size close to the picture."""
    pixels = _test_picture()
    frame = _encode(pixels, size)
    assert frame.is_intact()
    assert (frame.provenance.width, frame.provenance.height) == size
    with Image.open(BytesIO(frame.jpeg)) as image:
        assert image.size == size
    if min(size) >= 100:  # a tiny still is mostly chroma rounding
        assert _picture_error(frame.jpeg, pixels) < MAX_PICTURE_ERROR


@pytest.mark.parametrize("size", [(640, 360), (322, 182)])
def test_turbojpeg_keeps_full_range_contrast(size: tuple[int, int]) -> None:
    """TurboJPEG's still has true black and white, and the Pillow path's colours."""
    pixels = _test_picture()
    frame = av.VideoFrame.from_ndarray(pixels, "rgb24").reformat(format="yuv420p")
    jpeg = snapshot._encode_turbojpeg(frame, size)
    assert jpeg is not None, "libturbojpeg (Debian libturbojpeg0) is installed by scripts/setup"
    assert _picture_error(jpeg, pixels) < MAX_PICTURE_ERROR
    with Image.open(BytesIO(jpeg)) as image:
        assert image.size == size
        got = np.asarray(image.convert("RGB"), np.float64)
    black = got[: size[1] // 2, size[0] // 16 : size[0] // 8].mean()
    white = got[: size[1] // 2, size[0] * 5 // 16 : size[0] * 7 // 16].mean()
    assert black < 6
    assert white > 249
    pillow = snapshot._encode_pillow(frame, size)
    assert colour_distance(mean_rgb(jpeg), mean_rgb(pillow)) < 4


def test_odd_sizes_are_left_to_pillow() -> None:
    """TurboJPEG's 4:2:0 planes of an odd size do not match libav's: not used for them."""
    frame = av.VideoFrame.from_ndarray(_test_picture(), "rgb24").reformat(format="yuv420p")
    assert snapshot._encode_turbojpeg(frame, (321, 180)) is None
    assert snapshot._encode_turbojpeg(frame, (320, 181)) is None


@pytest.mark.usefixtures("reload_turbojpeg")
async def test_without_turbojpeg_pillow_encodes(
    rtsp_server: RtspServer,
    make_engine: EngineFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No TurboJPEG: stills still come, from Pillow, and that is said once at debug."""
    monkeypatch.setitem(sys.modules, "turbojpeg", None)  # import turbojpeg fails
    caplog.set_level(logging.DEBUG, logger=snapshot.__name__)
    pixels = _test_picture()
    for size in ((640, 360), (320, 180)):
        frame = _encode(pixels, size)
        assert frame.is_intact()
        assert _picture_error(frame.jpeg, pixels) < MAX_PICTURE_ERROR
    engine = make_engine("cam1", rtsp_server.url("cam1"), warm_period=60)
    assert_shows(await engine.async_get_frame(), rtsp_server.colour("cam1"))
    assert_shows(await engine.async_get_frame(320), rtsp_server.colour("cam1"))
    assert snapshot._TURBOJPEG == [None]
    notes = [r for r in caplog.records if "TurboJPEG cannot be used" in r.getMessage()]
    assert len(notes) == 1
    assert notes[0].levelno == logging.DEBUG


@pytest.mark.usefixtures("reload_turbojpeg")
async def test_missing_libturbojpeg_falls_back(
    rtsp_server: RtspServer, make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyTurboJPEG installed but the system library missing: Pillow encodes."""
    turbojpeg = pytest.importorskip("turbojpeg")

    def no_library(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Unable to locate turbojpeg library automatically")

    monkeypatch.setattr(turbojpeg.TurboJPEG, "__init__", no_library)
    engine = make_engine("cam2", rtsp_server.url("cam2"), warm_period=60)
    assert_shows(await engine.async_get_frame(), rtsp_server.colour("cam2"))
    assert snapshot._TURBOJPEG == [None]


@pytest.mark.parametrize("failure", ["raises", "truncated"])
def test_failed_turbojpeg_encode_falls_back(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """A TurboJPEG error or an incomplete JPEG is never served: Pillow encodes instead."""
    real = snapshot._turbojpeg_encoder()
    assert real is not None

    def broken(frame: av.VideoFrame) -> bytes:
        if failure == "raises":
            raise OSError("tjCompressFromYUV failed")
        assert real is not None
        return real(frame)[:-100]

    monkeypatch.setattr(snapshot, "_turbojpeg_encoder", lambda: broken)
    pixels = _test_picture()
    frame = av.VideoFrame.from_ndarray(pixels, "rgb24").reformat(format="yuv420p")
    assert snapshot._encode_turbojpeg(frame, (640, 360)) is None
    still = _encode(pixels, (640, 360))
    assert still.is_intact()
    assert still.jpeg == snapshot._encode_pillow(frame, (640, 360))


async def test_rtsps_certificate_is_verified_unless_turned_off(
    rtsp_server: RtspServer, rtsps_proxy: TlsProxy, make_engine: EngineFactory
) -> None:
    """A self-signed rtsps:// server: refused by default, shown when verification is off."""
    url = rtsps_proxy.url("cam1")
    verifying = make_engine("cam1", url)
    with pytest.raises(StreamUnreachable):
        await verifying.async_get_frame()
    trusting = make_engine("cam1", url, verify_tls=False)
    assert_shows(await trusting.async_get_frame(), rtsp_server.colour("cam1"))
