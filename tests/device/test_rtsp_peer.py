"""The GStreamer RTSP test server itself, checked with plain PyAV (no engine code)."""

from __future__ import annotations

import av
import av.error
import pytest

from tests.peers.rtsp_fixtures import (
    CameraSpec,
    Rgb,
    RtspServer,
    RtspServerError,
    RtspServerFactory,
    colour_distance,
)

OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}


def decoded_pictures(url: str, count: int) -> list[av.VideoFrame]:
    """Decode the first `count` pictures after the first keyframe, the ordinary way."""
    pictures: list[av.VideoFrame] = []
    with av.open(url, options=OPTIONS, timeout=(5, 5)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"  # so that damaged pictures are flagged
        keyed = False
        for packet in container.demux(stream):
            keyed = keyed or packet.is_keyframe
            if not keyed:
                continue
            pictures += stream.codec_context.decode(packet)
            if len(pictures) >= count:
                break
    return pictures


def mean(picture: av.VideoFrame) -> Rgb:
    """Mean RGB of a decoded picture."""
    red, green, blue = (round(v) for v in picture.to_ndarray(format="rgb24").mean(axis=(0, 1)))
    return red, green, blue


def test_each_mount_shows_its_colour(rtsp_server: RtspServer) -> None:
    """Every video mount is a live stream of its own colour."""
    for name in ("cam1", "cam2", "cam3", "cam4", "hevc", "mjpeg"):
        pictures = decoded_pictures(rtsp_server.url(name), 5)
        assert len(pictures) == 5
        assert (pictures[-1].width, pictures[-1].height) == (640, 360)
        assert colour_distance(mean(pictures[-1]), rtsp_server.colour(name)) < 30


def test_size_option(rtsp_server_factory: RtspServerFactory) -> None:
    """The server's size applies to its mounts."""
    server = rtsp_server_factory([CameraSpec("big", (10, 200, 10))], size="1280x720")
    picture = decoded_pictures(server.url("big"), 1)[0]
    assert (picture.width, picture.height) == (1280, 720)


def test_auth_mount_wants_credentials(rtsp_server: RtspServer) -> None:
    """Without (right) credentials the server answers 401."""
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(rtsp_server.url("auth", credentials=False), options=OPTIONS, timeout=(5, 5))
    bad = rtsp_server.url("auth", user="viewer", password="nope")
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(bad, options=OPTIONS, timeout=(5, 5))
    assert decoded_pictures(rtsp_server.url("auth"), 1)


def test_audio_mount_has_no_video(rtsp_server: RtspServer) -> None:
    """The audio-only mount has one audio stream and nothing else."""
    with av.open(rtsp_server.url("audio"), options=OPTIONS, timeout=(5, 5)) as container:
        assert not container.streams.video
        assert len(container.streams.audio) == 1


def test_damaged_mount_is_flagged_by_a_careful_decoder(rtsp_server: RtspServer) -> None:
    """drop-slice keyframes decode with concealment (corrupt flag) when single-threaded."""
    pictures = decoded_pictures(rtsp_server.url("drop_slice"), 1)
    assert pictures[0].key_frame
    assert pictures[0].is_corrupt


def test_control_commands(rtsp_server: RtspServer) -> None:
    """stop/start/kick/swap/color/clients do what they say; bad commands raise."""
    with av.open(rtsp_server.url("cam1"), options=OPTIONS, timeout=(5, 5)) as container:
        next(container.demux(container.streams.video[0]))
        assert rtsp_server.clients("cam1") == 1
        assert rtsp_server.kick("cam1") == 1
    assert rtsp_server.clients("cam1") == 0
    rtsp_server.stop_mount("cam2")
    with pytest.raises(av.error.HTTPNotFoundError):
        av.open(rtsp_server.url("cam2"), options=OPTIONS, timeout=(5, 5))
    rtsp_server.start_mount("cam2")
    assert decoded_pictures(rtsp_server.url("cam2"), 1)
    red, green = rtsp_server.colour("cam1"), rtsp_server.colour("cam2")
    rtsp_server.swap("cam1", "cam2")
    assert rtsp_server.colour("cam1") == green
    assert colour_distance(mean(decoded_pictures(rtsp_server.url("cam1"), 3)[-1]), green) < 30
    assert colour_distance(mean(decoded_pictures(rtsp_server.url("cam2"), 3)[-1]), red) < 30
    rtsp_server.set_colour("cam3", (250, 250, 250))
    assert colour_distance(mean(decoded_pictures(rtsp_server.url("cam3"), 3)[-1]), (250,) * 3) < 30
    with pytest.raises(RtspServerError):
        rtsp_server.command("explode now")
    with pytest.raises(RtspServerError):
        rtsp_server.stop_mount("no-such-mount")
