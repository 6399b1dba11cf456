"""JPEG stills from a camera's RTSP stream: keyframe tap, cold grab, single flight.

Only keyframes are ever decoded, each on its own with a fresh decoder. A picture
decoded from P-frames depends on every reference since the last keyframe; after a
reconnect, a lost packet or a source that changed under the same URL those references
are missing or belong to another picture, and a decoder reused across them paints a
mix. A keyframe decoded alone depends on nothing else: the still is either complete or
rejected (CorruptFrame).

A background thread (PyAV blocks) keeps the connection open while stills are being
asked for and `warm_period` seconds after the last request. It demuxes without
decoding and keeps only the last *complete* keyframe: the packets of one picture,
joined, closed by the first packet of the next picture. A picture that was cut short
by a dropped connection is therefore never kept. When the stream drops the keyframe
is forgotten with it, so a stale picture is never served as current; the next request
reconnects. With no tap running a request is a cold grab: connect, first complete
keyframe, decode (and disconnect when `warm_period` is 0).

Audio is not decoded. The codec of the first audio track is noted when the stream is
opened, from the SDP, for callers that must know what a player will be sent. RTP's
MPEG audio payload does not say which layer it carries (MP3 or MP2): the tap then reads
the layer from the first audio frame on the same connection, and holds its first
keyframe back until it knows (at most `_AUDIO_SETTLE` seconds; audio frames come every
few tens of milliseconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import hashlib
import io
import itertools
import logging
import threading
import time
from typing import Final

import av
from av.audio.stream import AudioStream
from av.codec.codec import Codec
from av.container import InputContainer
import av.error
from av.packet import Packet
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from .exceptions import (
    CorruptFrame,
    NoVideoTrack,
    StreamAuthError,
    StreamError,
    StreamUnreachable,
    UnsupportedCodec,
)
from .frame import Frame, Provenance
from .sources import fingerprint, redact_url
from .worker import StillWorker, release_free_memory

_LOGGER = logging.getLogger(__name__)

SUPPORTED_CODECS: Final = frozenset({"h264", "hevc", "mjpeg"})
JPEG_QUALITY: Final = 85
DEFAULT_FRAME_TIMEOUT: Final = 10.0
# A camera's keyframe is at most a few hundred KiB; anything bigger is a broken stream.
_MAX_PICTURE_BYTES: Final = 8 * 1024 * 1024
# Distinct output sizes memoised per capture (the frontend asks for one or two).
_MAX_SIZES_PER_CAPTURE: Final = 4
_H264_VCL: Final = frozenset({1, 2, 5})  # coded slice NAL types (2: data partition A)
_START_CODE: Final = b"\x00\x00\x01"
# PyAV names the decoder, not the codec, and FFmpeg has two decoders (float and fixed
# point) for some codecs: report the codec's own name (FFmpeg's avcodec_get_name, which
# PyAV does not expose), the one players and muxers go by.
_DECODER_CODEC_NAMES: Final = {
    "aac_fixed": "aac",
    "ac3_fixed": "ac3",
    "mp1float": "mp1",
    "mp2float": "mp2",
    "mp3float": "mp3",
    "mp3adufloat": "mp3adu",
    "mp3on4float": "mp3on4",
}

# FFmpeg's guess from an SDP "MPA" payload (any MPEG audio layer): see _AudioTrack.
_MPEG_AUDIO: Final = frozenset({"mp1", "mp2", "mp3"})
_MPEG_AUDIO_LAYERS: Final = {1: "mp3", 2: "mp2", 3: "mp1"}  # header bits -> codec
# How long a tap waits for the first MPEG audio frame before it reports FFmpeg's guess.
_AUDIO_SETTLE: Final = 2.0


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What a stream carries, as found by `SnapshotEngine.async_probe_media`.

    Codecs are FFmpeg's codec names ("h264", "hevc", "mjpeg"; "aac", "mp3",
    "pcm_mulaw"...). audio_codec is the first audio track's: None when the stream has
    no audio track or FFmpeg does not know its codec.
    """

    width: int  # of a decoded keyframe
    height: int
    video_codec: str
    audio_codec: str | None


@dataclass(frozen=True, slots=True)
class _Keyframe:
    """One complete keyframe picture as it came off the wire, not decoded."""

    seq: int  # unique per engine, increasing
    codec: str
    audio_codec: str | None  # of the stream it came from (see MediaInfo)
    extradata: bytes | None  # parameter sets from the SDP, if any
    data: bytes  # every packet of the picture, joined
    arrived: float  # time.time() when its first packet was read


# -- bitstream helpers ------------------------------------------------------------------


def _starts_picture(codec: str, data: bytes) -> bool | None:
    """Tell whether a demuxed packet begins a new picture.

    True: its first slice is the first slice of a picture. False: it continues the
    current picture (libavformat's parser splits a picture in two when the camera
    repeats SPS/PPS before every slice). None: no slice at all (parameter sets, SEI).
    A packet that is not Annex B (no start code) holds a whole picture.
    """
    start = data.find(_START_CODE)
    if start < 0:
        return True
    header = 2 if codec == "hevc" else 1
    while start >= 0:
        nal = start + 3
        if nal + header >= len(data):
            return None
        if codec == "hevc":
            nal_type = (data[nal] >> 1) & 0x3F
            is_slice = nal_type < 32
        else:
            nal_type = data[nal] & 0x1F
            is_slice = nal_type in _H264_VCL
        if is_slice:
            # H.264 first_mb_in_slice is ue(v): a leading 1 bit codes 0. HEVC has a
            # first_slice_segment_in_pic_flag bit at the same place.
            return bool(data[nal + header] & 0x80)
        start = data.find(_START_CODE, nal)
    return None


def _is_whole_jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")


class _PictureAssembler:
    """Joins demuxed packets into pictures; returns a keyframe once it is complete."""

    def __init__(self, codec: str) -> None:
        self._codec = codec
        self._parts: list[bytes] = []
        self._size = 0
        self._key = False
        self._damaged = False
        self._arrived = 0.0
        self._prefix: list[bytes] = []  # parameter sets / SEI waiting for their picture

    def feed(
        self, data: bytes, *, key: bool, corrupt: bool, now: float
    ) -> tuple[bytes, float] | None:
        """Add a packet; return (picture, arrival) when a keyframe has just completed."""
        if self._codec == "mjpeg":
            # RTP/JPEG is reassembled into one whole JPEG per packet.
            ok = key and not corrupt and _is_whole_jpeg(data)
            return (data, now) if ok else None
        starts = _starts_picture(self._codec, data)
        if starts is None:
            # Kept for the next picture; bounded against a stream of nothing but these.
            self._prefix = [*self._prefix[-15:], data]
            return None
        done: tuple[bytes, float] | None = None
        if starts:
            if self._parts and self._key and not self._damaged:
                done = (b"".join(self._parts), self._arrived)
            self._parts = [*self._prefix, data]
            self._size = sum(map(len, self._parts))
            self._key, self._damaged, self._arrived = key, corrupt, now
        elif self._parts:
            self._parts += [*self._prefix, data]
            self._size += sum(map(len, self._prefix)) + len(data)
            self._damaged |= corrupt
        # else: joined the stream in the middle of a picture; wait for the next one.
        self._prefix = []
        if self._size > _MAX_PICTURE_BYTES:
            self._parts, self._size, self._damaged = [], 0, True
        return done


# -- errors ------------------------------------------------------------------------------


def _map_av_error(err: Exception, redacted: str, action: str, *, timed_out: bool) -> StreamError:
    """Translate a PyAV / OS error; never uses str(err), which contains the URL.

    timed_out: the call lasted its whole timeout. PyAV's timeout interrupts libav, which
    then reports whatever the interrupted step makes of it (often "invalid data").
    """
    if isinstance(err, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return StreamAuthError(f"{redacted}: credentials refused")
    if isinstance(err, av.error.HTTPNotFoundError):
        return StreamUnreachable(f"{redacted}: no such stream (404)")
    if timed_out or isinstance(err, av.error.ExitError):
        return StreamUnreachable(f"{redacted}: {action} timed out")
    if isinstance(err, EOFError):
        return StreamUnreachable(f"{redacted}: stream ended")
    reason = getattr(err, "strerror", None)
    if not isinstance(reason, str) or not reason:
        reason = type(err).__name__
    return StreamUnreachable(f"{redacted}: {action} failed: {reason}")


def _copy_error(err: StreamError) -> StreamError:
    """Return a fresh instance per raiser: one shared exception would collect every traceback."""
    return type(err)(*err.args)


# -- blocking work (tap thread / executor) ----------------------------------------------


def _open(
    url: str, redacted: str, open_timeout: float, read_timeout: float, *, verify_tls: bool
) -> InputContainer:
    # The SDP says all the engine needs (codec, parameter sets); probing the stream
    # for the rest costs about 2 s per connection.
    options = {"analyzeduration": "0", "probesize": "32"}
    if url.lower().startswith(("rtsp://", "rtsps://")):
        options["rtsp_transport"] = "tcp"
    if url.lower().startswith("rtsps://"):
        # Said either way: FFmpeg's default changed (8 and later verify), and a camera's
        # own certificate is often self-signed.
        options["tls_verify"] = "1" if verify_tls else "0"
    started = time.monotonic()
    try:
        return av.open(url, "r", options=options, timeout=(open_timeout, read_timeout))
    except (av.error.FFmpegError, OSError) as err:
        timed_out = time.monotonic() - started >= open_timeout
        error = _map_av_error(err, redacted, "open", timed_out=timed_out)
    # Raised outside the except block: PyAV's error (its text holds the URL and its
    # credentials) must not even be kept as the __context__.
    raise error


# PyAV 19 types Packet by its stream (Packet[VideoStream]); PyAV 16 has a plain Packet.
def _next_packet(
    packets: Iterator[Packet],  # type: ignore[type-arg, unused-ignore]
    redacted: str,
    read_timeout: float,
) -> Packet:  # type: ignore[type-arg, unused-ignore]
    error: StreamError
    started = time.monotonic()
    try:
        return next(packets)
    except StopIteration:
        error = StreamUnreachable(f"{redacted}: stream ended")
    except (av.error.FFmpegError, OSError) as err:
        timed_out = time.monotonic() - started >= read_timeout
        error = _map_av_error(err, redacted, "read", timed_out=timed_out)
    raise error  # outside the except block, for the reason given in _open


def _video_stream(container: InputContainer, redacted: str) -> VideoStream:
    if not container.streams.video:
        raise NoVideoTrack(f"{redacted}: no video track")
    stream = container.streams.video[0]
    codec = getattr(stream.codec_context, "name", None)
    if codec not in SUPPORTED_CODECS:
        raise UnsupportedCodec(f"{redacted}: video codec {codec or 'unknown'} is not supported")
    return stream


def _mpeg_audio_layer(data: bytes) -> str | None:
    """Return the codec an MPEG audio frame header names ("mp3", "mp2", "mp1") if data starts one."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return None
    return _MPEG_AUDIO_LAYERS.get((data[1] >> 1) & 0x03)


class _AudioTrack:
    """The codec of a stream's first audio track, as far as the tap can tell."""

    def __init__(self, container: InputContainer, now: float) -> None:
        """Read the codec from what the SDP said (see MediaInfo)."""
        self.stream: AudioStream | None = None
        self.codec: str | None = None
        if container.streams.audio:
            self.stream = container.streams.audio[0]
            name = getattr(self.stream.codec_context, "name", None)
            if isinstance(name, str) and name:
                self.codec = _DECODER_CODEC_NAMES.get(name, name)
        # FFmpeg names an SDP's MPEG audio "mp2" until it has parsed a frame, which it
        # does only when one came during the short probe: the frame header tells.
        self.pending = self.codec in _MPEG_AUDIO
        self._give_up = now + _AUDIO_SETTLE

    def feed(self, data: bytes) -> None:
        """Learn the codec from an audio packet while it is pending."""
        if self.pending and (codec := _mpeg_audio_layer(data)) is not None:
            self.codec, self.pending = codec, False

    def settled(self, now: float) -> bool:
        """Return True once the codec is known, or no audio frame came in time (FFmpeg's guess)."""
        if self.pending and now >= self._give_up:
            self.pending = False
        return not self.pending


def _decode_keyframe(keyframe: _Keyframe) -> VideoFrame:
    """Decode one keyframe with a fresh decoder, or raise CorruptFrame."""
    ctx = Codec(keyframe.codec, "r").create("video")
    if keyframe.extradata:
        ctx.extradata = keyframe.extradata
    # Without slice threads libavcodec runs error concealment, which is what flags a
    # picture with missing or broken slices as corrupt; with them it returns it clean.
    ctx.thread_type = "NONE"
    ctx.thread_count = 1
    frames: list[VideoFrame] = []
    error: CorruptFrame | None = None
    try:
        frames = ctx.decode(av.Packet(keyframe.data))
        frames += ctx.decode(None)
    except (av.error.FFmpegError, ValueError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        error = CorruptFrame(f"keyframe does not decode: {reason}")
    if error is not None:
        raise error
    if len(frames) != 1:
        raise CorruptFrame(f"keyframe decoded to {len(frames)} pictures")
    frame = frames[0]
    if frame.is_corrupt or not frame.key_frame:
        raise CorruptFrame("keyframe has decode errors")
    return frame


def target_size(
    src_width: int, src_height: int, width: int | None, height: int | None
) -> tuple[int, int]:
    """Scale down to fit the requested box, keeping the aspect ratio; never upscale.

    Like Home Assistant, a requested width/height is a hint: a missing or non-positive
    one does not constrain.
    """
    scale = 1.0
    if width is not None and width > 0:
        scale = min(scale, width / src_width)
    if height is not None and height > 0:
        scale = min(scale, height / src_height)
    if scale >= 1.0:
        return src_width, src_height
    return max(1, round(src_width * scale)), max(1, round(src_height * scale))


_TURBOJPEG_LOCK: Final = threading.Lock()
_TURBOJPEG: Final[list[Callable[[VideoFrame], bytes] | None]] = []  # the one load's result


def _turbojpeg_encoder() -> Callable[[VideoFrame], bytes] | None:
    """Load TurboJPEG once; None (and Pillow is used) when it cannot run here.

    PyTurboJPEG needs the system's libturbojpeg (Debian: libturbojpeg0), which is
    optional: Home Assistant's own camera integration already requires it.
    """
    with _TURBOJPEG_LOCK:
        if not _TURBOJPEG:
            _TURBOJPEG.append(_load_turbojpeg())
        return _TURBOJPEG[0]


def _load_turbojpeg() -> Callable[[VideoFrame], bytes] | None:
    try:
        # Optional: only where PyTurboJPEG and numpy are installed.
        import numpy as np  # noqa: PLC0415
        import turbojpeg  # type: ignore[import-untyped]  # noqa: PLC0415

        encoder = turbojpeg.TurboJPEG()
        subsample = turbojpeg.TJSAMP_420
    except (ImportError, OSError, RuntimeError, AttributeError) as err:
        # RuntimeError/OSError: PyTurboJPEG is there but libturbojpeg is not.
        _LOGGER.debug("TurboJPEG cannot be used (%s); stills are encoded with Pillow", err)
        return None

    def encode(frame: VideoFrame) -> bytes:
        """JPEG of a yuvj420p frame of even width and height."""
        # tjCompressFromYUV takes one buffer whose plane rows are padded to 4 bytes;
        # libav's rows are padded to its own (larger) alignment.
        planes = []
        for plane in frame.planes:
            padded = (plane.width + 3) & ~3
            if plane.line_size < padded:
                raise ValueError("plane rows narrower than TurboJPEG's")
            rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            planes.append(rows[:, :padded].ravel())
        jpeg = encoder.encode_from_yuv(
            np.concatenate(planes),
            frame.height,
            frame.width,
            quality=JPEG_QUALITY,
            jpeg_subsample=subsample,
        )
        return bytes(jpeg)

    return encode


def _scaled(frame: VideoFrame, size: tuple[int, int], pixel_format: str) -> VideoFrame:
    """Return a converted copy of a shared decoded picture, safe to make from any thread.

    `VideoFrame.reformat` keeps one swscale context on the frame itself; two threads
    encoding two sizes of the same keyframe would rebuild and use it at once (a crash
    in libswscale). A reformatter of our own per call shares nothing.
    """
    width, height = size
    if size == (frame.width, frame.height):
        return VideoReformatter().reformat(frame, format=pixel_format)
    return VideoReformatter().reformat(
        frame, width=width, height=height, format=pixel_format, interpolation="AREA"
    )


def _encode_turbojpeg(frame: VideoFrame, size: tuple[int, int]) -> bytes | None:
    """Encode straight from YUV (no RGB picture); None when TurboJPEG cannot do it."""
    width, height = size
    if width % 2 or height % 2:
        # 4:2:0 planes of an odd size do not line up with TurboJPEG's (it pads the luma
        # plane to the chroma's); such sizes are rare: the frontend asks for even ones.
        return None
    encode = _turbojpeg_encoder()
    if encode is None:
        return None
    # Full range ("j"): H.264 is limited range (16-235), JPEG's YCbCr is full range;
    # without the conversion the still loses contrast.
    yuv = _scaled(frame, size, "yuvj420p")
    try:
        jpeg = encode(yuv)
    except (OSError, ValueError) as err:  # PyTurboJPEG reports libturbojpeg errors as OSError
        _LOGGER.debug("TurboJPEG failed (%s); encoding this still with Pillow", err)
        return None
    return jpeg if _is_whole_jpeg(jpeg) else None


def _encode_pillow(frame: VideoFrame, size: tuple[int, int]) -> bytes:
    # Pillow (libjpeg-turbo) is 2-3x faster than PyAV's mjpeg encoder here.
    # Typed in PyAV 19, not in 16.
    image = _scaled(frame, size, "rgb24").to_image()  # type: ignore[no-untyped-call, unused-ignore]
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _encode_jpeg(
    frame: VideoFrame, size: tuple[int, int], keyframe: _Keyframe, camera_id: str, source: str
) -> Frame:
    # TurboJPEG from YUV takes half the time of an RGB picture through Pillow, and
    # touches far less fresh memory.
    jpeg = _encode_turbojpeg(frame, size)
    if jpeg is None:
        jpeg = _encode_pillow(frame, size)
    provenance = Provenance(
        camera_id=camera_id,
        source_fingerprint=source,
        captured_at=keyframe.arrived,
        width=size[0],
        height=size[1],
        sha256=hashlib.sha256(jpeg).hexdigest(),
    )
    return Frame(jpeg=jpeg, provenance=provenance)


class _Tap:
    """One connection and its thread: demuxes, keeps the last complete keyframe."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        timeout: float,
        seq: Iterator[int],
        keep_until: float,
        notify: Callable[[_Tap], None],
        verify_tls: bool = True,
    ) -> None:
        """Prepare; the starter counts as the first waiter (see `claim`)."""
        self._url = url
        self._verify_tls = verify_tls
        self._redacted = redact_url(url)
        self._timeout = timeout  # for opening and for every read
        self._seq = seq
        self._notify = notify
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keep_until = keep_until  # time.monotonic()
        self._waiting = 1
        self._latest: _Keyframe | None = None
        self.finished = False  # no more keyframes; `latest` is void
        self.error: StreamError | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def claim(self, keep_until: float, newer_than: float | None) -> tuple[bool, _Keyframe | None]:
        """Extend the tap's life; return (alive, keyframe good for the request).

        When alive without a keyframe, the caller is counted as waiting (the tap will
        not leave while someone waits) and must call `release()`.
        """
        with self._lock:
            if self.finished:
                return False, None
            self._keep_until = max(self._keep_until, keep_until)
            latest = self._latest
            if latest is not None and (newer_than is None or latest.arrived > newer_than):
                return True, latest
            self._waiting += 1
            return True, None

    def join(self) -> bool:
        """Count one more waiter for an event already on its way; False once finished."""
        with self._lock:
            if self.finished:
                return False
            self._waiting += 1
            return True

    def release(self, keep_until: float) -> None:
        """Note that a waiter is done; warm_period counts from its answer, not its question."""
        with self._lock:
            self._waiting -= 1
            self._keep_until = max(self._keep_until, keep_until)

    def latest(self) -> _Keyframe | None:
        """Return the current keyframe, or None once the tap has finished."""
        with self._lock:
            return None if self.finished else self._latest

    def stop(self) -> None:
        """Ask the thread to leave after its current read."""
        self._stop.set()

    def _should_leave(self) -> bool:
        with self._lock:
            if self._stop.is_set() or (self._waiting <= 0 and time.monotonic() >= self._keep_until):
                self.finished = True
                self._latest = None
            return self.finished

    def _run(self) -> None:
        try:
            self._stream()
        except StreamError as err:
            self.error = err
        except Exception:  # a thread must not die silently; nothing here is secret
            _LOGGER.exception("Snapshot tap for %s failed", self._redacted)
            self.error = StreamUnreachable(f"{self._redacted}: internal error")
        finally:
            with self._lock:
                self.finished = True
                self._latest = None  # a stale keyframe must never be served
            self._notify(self)

    def _stream(self) -> None:
        container = _open(
            self._url, self._redacted, self._timeout, self._timeout, verify_tls=self._verify_tls
        )
        try:
            stream = _video_stream(container, self._redacted)
            codec = stream.codec_context.name
            extradata = stream.codec_context.extradata
            audio = _AudioTrack(container, time.monotonic())
            assembler = _PictureAssembler(codec)
            _LOGGER.debug(
                "Snapshot tap connected to %s (%s, audio %s)", self._redacted, codec, audio.codec
            )
            packets: Iterator[Packet]  # type: ignore[type-arg, unused-ignore]
            if audio.pending and audio.stream is not None:
                packets = container.demux(stream, audio.stream)
                audio_index = audio.stream.index
            else:
                packets, audio_index = container.demux(stream), -1
            held: tuple[bytes, float] | None = None  # a keyframe waiting for the audio codec
            while not self._should_leave():
                packet = _next_packet(packets, self._redacted, self._timeout)
                if packet.size == 0:  # demux's flush packet at the end of the stream
                    continue
                if packet.stream_index == audio_index:
                    audio.feed(bytes(packet))
                else:
                    done = assembler.feed(
                        bytes(packet),
                        key=packet.is_keyframe,
                        corrupt=packet.is_corrupt,
                        now=time.time(),
                    )
                    if done is not None:
                        held = done  # the newest complete keyframe is the one to serve
                if held is not None and audio.settled(time.monotonic()):
                    keyframe = _Keyframe(next(self._seq), codec, audio.codec, extradata, *held)
                    held = None
                    with self._lock:
                        self._latest = keyframe
                    self._notify(self)
                    release_free_memory()  # the demuxer's churn, once per keyframe at most
        finally:
            container.close()
            _LOGGER.debug("Snapshot tap disconnected from %s", self._redacted)


@dataclass(slots=True)
class _Waiter:
    tap: _Tap
    newer_than: float | None
    future: asyncio.Future[_Keyframe]


@dataclass(slots=True)
class _Capture:
    """A keyframe, its decoded picture and its JPEGs, shared by the requests for it.

    The picture (1.4 MB at 720p, with the decoder's buffers behind it) is kept only
    while a request is using it: most keyframes are asked for in one size, and a
    dashboard of cameras would otherwise hold one per camera between refreshes. A later
    request for another size decodes again (~5 ms); the JPEGs stay memoised.
    """

    keyframe: _Keyframe
    decoded: asyncio.Future[VideoFrame] | None = None
    size: tuple[int, int] | None = None  # of the picture, once decoded
    users: int = 0  # requests between asking for the picture and starting their encode
    jpegs: dict[tuple[int, int], asyncio.Future[Frame]] = field(default_factory=dict)


class SnapshotEngine:
    """Stills of one camera, proven to come from its stream and to be complete."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        warm_period: float = 60.0,
        open_timeout: float = 5.0,
        frame_timeout: float = DEFAULT_FRAME_TIMEOUT,
        worker: StillWorker | None = None,
        verify_tls: bool = True,
    ) -> None:
        """Prepare; nothing connects before the first request.

        open_timeout bounds connecting and every read (a stalled stream counts as
        dropped); frame_timeout bounds the wait for a complete keyframe once connected.
        worker: the thread that decodes and encodes (see worker.py); without one, the
        event loop's default executor. verify_tls: check an rtsps:// server's certificate.
        """
        self.verify_tls = verify_tls
        self.camera_id = camera_id
        self._url = url
        self._redacted = redact_url(url)
        self.source_fingerprint: str = fingerprint(url)
        self.warm_period = warm_period
        self.open_timeout = open_timeout
        self.frame_timeout = frame_timeout
        self._worker = worker
        self.captures = 0  # keyframes turned into stills: concurrent requests share one
        self.decodes = 0  # pictures decoded (a keyframe again for a size asked for later)
        self.connections = 0  # stream connections opened
        self._seq = itertools.count(1)
        self._tap: _Tap | None = None
        self._taps: set[_Tap] = set()  # every tap whose thread may still be alive
        self._waiters: list[_Waiter] = []
        self._capture: _Capture | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        """Never show the URL's credentials."""
        return f"<SnapshotEngine {self.camera_id} {self._redacted}>"

    @property
    def tap_running(self) -> bool:
        """True while a tap thread is connected (or connecting)."""
        return self._tap is not None and self._tap.thread.is_alive()

    async def async_probe_media(self) -> MediaInfo:
        """Decode one complete keyframe; report its size and the stream's codecs.

        Uses the tap's keyframe when one is running, else connects once (no extra
        round trip for the audio: its codec is read when the stream is opened). Raises
        like `async_get_frame`.
        """
        keyframe = await self._keyframe(None, keep_warm=False)
        capture = self._capture_for(keyframe)
        if capture.size is None:
            with self._using(capture):
                await self._picture(capture)
        assert capture.size is not None  # set by a successful decode
        return MediaInfo(*capture.size, keyframe.codec, keyframe.audio_codec)

    async def async_get_frame(
        self,
        width: int | None = None,
        height: int | None = None,
        *,
        newer_than: float | None = None,
    ) -> Frame:
        """Return a JPEG still of the last complete keyframe.

        newer_than (time.time() seconds) asks for a keyframe that arrived after it,
        waiting for the next one if needed. Concurrent callers share one decode and one
        encode per output size. Raises a StreamError subclass, CorruptFrame for a
        keyframe with decode errors.
        """
        keyframe = await self._keyframe(newer_than, keep_warm=True)
        capture = self._capture_for(keyframe)
        encoding = None
        if capture.size is not None:  # a memoised JPEG needs no picture
            encoding = capture.jpegs.get(target_size(*capture.size, width, height))
        if encoding is None:
            with self._using(capture):
                picture = await self._picture(capture)
                size = target_size(picture.width, picture.height, width, height)
                encoding = capture.jpegs.get(size)  # another request may have started it
                if encoding is None:
                    if len(capture.jpegs) >= _MAX_SIZES_PER_CAPTURE:
                        capture.jpegs.pop(next(iter(capture.jpegs)))
                    encoding = self._run(
                        _encode_jpeg,
                        picture,
                        size,
                        keyframe,
                        self.camera_id,
                        self.source_fingerprint,
                    )
                    capture.jpegs[size] = encoding
                del picture  # the encode holds its own reference while it runs
        return await self._await_shared(encoding)

    async def async_close(self) -> None:
        """Stop the tap and wait for its thread; later requests raise StreamUnreachable."""
        self._closed = True
        self._tap = None
        self._capture = None
        taps = list(self._taps)
        for tap in taps:
            tap.stop()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(self._closed_error())
        loop = asyncio.get_running_loop()
        for tap in taps:
            # The thread leaves after its current read, bounded by the read timeout.
            await loop.run_in_executor(None, tap.thread.join, self.open_timeout * 2 + 1)
            if tap.thread.is_alive():
                _LOGGER.warning("Snapshot tap for %s did not stop in time", self._redacted)
            else:
                self._taps.discard(tap)

    # -- internals ------------------------------------------------------------------------

    def _closed_error(self) -> StreamUnreachable:
        return StreamUnreachable(f"{self._redacted}: snapshot engine closed")

    async def _keyframe(self, newer_than: float | None, *, keep_warm: bool) -> _Keyframe:
        """Return a complete keyframe from the tap, starting (cold) or reusing (warm) it."""
        if self._closed:
            raise self._closed_error()
        loop = asyncio.get_running_loop()
        self._loop = loop
        keep_until = time.monotonic() + (self.warm_period if keep_warm else 0.0)
        tap = self._tap
        alive, keyframe = (False, None) if tap is None else tap.claim(keep_until, newer_than)
        # When the thread has already handed this keyframe to the loop for earlier
        # requests, wait with them: requests made together then share one decode (on a
        # busy loop they would otherwise wake in different iterations).
        if keyframe is not None and (
            tap is None or not self._event_pending(tap, keyframe) or not tap.join()
        ):
            return keyframe
        if tap is None or not alive:
            tap = self._start_tap(keep_until)  # counts this request as waiting
        waiter = _Waiter(tap, newer_than, loop.create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.open_timeout + self.frame_timeout):
                return await waiter.future
        except TimeoutError:
            raise StreamUnreachable(
                f"{self._redacted}: no complete keyframe within "
                f"{self.open_timeout + self.frame_timeout:g} s"
            ) from None
        except StreamError as err:
            raise _copy_error(err) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            tap.release(time.monotonic() + (self.warm_period if keep_warm else 0.0))

    def _event_pending(self, tap: _Tap, keyframe: _Keyframe) -> bool:
        """Whether requests still wait for a keyframe this one satisfies.

        They would have had it already if the tap's event for it had run: so it is
        on its way, and a request that joins them gets it in the same loop callback.
        """
        return any(
            waiter.tap is tap
            and not waiter.future.done()
            and (waiter.newer_than is None or keyframe.arrived > waiter.newer_than)
            for waiter in self._waiters
        )

    def _start_tap(self, keep_until: float) -> _Tap:
        tap = _Tap(
            self._url,
            name=f"snapshot-tap-{self.camera_id}",
            timeout=self.open_timeout,
            seq=self._seq,
            keep_until=keep_until,
            notify=self._notify_from_thread,
            verify_tls=self.verify_tls,
        )
        self._tap = tap
        self._taps = {t for t in self._taps if t.thread.is_alive()} | {tap}
        self.connections += 1
        tap.thread.start()
        return tap

    def _notify_from_thread(self, tap: _Tap) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting
            loop.call_soon_threadsafe(self._on_tap_event, tap)

    def _on_tap_event(self, tap: _Tap) -> None:
        """In the loop: hand a new keyframe to waiters, or fail them when the tap ended."""
        keyframe = tap.latest()
        if tap.finished and self._tap is tap:
            self._tap = None
            self._capture = None  # the decoded picture of a dropped stream is stale
        for waiter in self._waiters:
            if waiter.tap is not tap or waiter.future.done():
                continue
            if keyframe is not None and (
                waiter.newer_than is None or keyframe.arrived > waiter.newer_than
            ):
                waiter.future.set_result(keyframe)
            elif tap.finished:
                error = tap.error or StreamUnreachable(f"{self._redacted}: stream stopped")
                waiter.future.set_exception(_copy_error(error))

    def _capture_for(self, keyframe: _Keyframe) -> _Capture:
        """Return the shared decode of this keyframe, starting it if needed."""
        capture = self._capture
        if capture is not None and capture.keyframe.seq == keyframe.seq:
            return capture
        self.captures += 1
        new = _Capture(keyframe)
        if capture is None or keyframe.seq > capture.keyframe.seq:
            self._capture = new
        return new

    def _decoded(self, capture: _Capture) -> asyncio.Future[VideoFrame]:
        """Return the capture's shared decode, started if nobody holds the picture."""
        if capture.decoded is None:
            self.decodes += 1
            capture.decoded = self._run(_decode_keyframe, capture.keyframe)

            def note_size(decoded: asyncio.Future[VideoFrame]) -> None:
                if not decoded.cancelled() and decoded.exception() is None:
                    picture = decoded.result()
                    capture.size = (picture.width, picture.height)
                self._release_picture(capture)  # every request for it gave up

            capture.decoded.add_done_callback(note_size)
        return capture.decoded

    async def _picture(self, capture: _Capture) -> VideoFrame:
        """Return the capture's decoded picture; notes its size for the requests after it.

        Set here, not only in the decode's done callback: the order in which asyncio runs
        a future's callbacks and wakes its awaiters is not something to rely on.
        """
        picture = await self._await_shared(self._decoded(capture))
        capture.size = (picture.width, picture.height)
        return picture

    def _run[T](self, func: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Decode/encode work: on the still worker, else in the default executor."""
        if self._worker is not None:
            return self._worker.submit(func, *args)
        return asyncio.get_running_loop().run_in_executor(None, func, *args)

    @staticmethod
    def _release_picture(capture: _Capture) -> None:
        """Let the decoded picture go once no request is using it.

        A failed decode is kept: the same keyframe will not decode any better.
        """
        decoded = capture.decoded
        if capture.users or decoded is None or not decoded.done():
            return
        if decoded.cancelled() or decoded.exception() is None:
            capture.decoded = None

    @contextlib.contextmanager
    def _using(self, capture: _Capture) -> Iterator[None]:
        """Count a request that needs the picture; the last one out lets it go."""
        capture.users += 1
        try:
            yield
        finally:
            capture.users -= 1
            # Let go on the next loop iteration, not now: requests woken with this one
            # may not have started yet. Python 3.14 hands back a job that finished while
            # it was being submitted as already done, so the first request can get through
            # decode and encode before the others run.
            asyncio.get_running_loop().call_soon(self._release_picture, capture)

    @staticmethod
    async def _await_shared[T](future: asyncio.Future[T]) -> T:
        """Await a future other requests share: one caller's cancellation spares it."""
        try:
            return await asyncio.shield(future)
        except StreamError as err:
            raise _copy_error(err) from None
