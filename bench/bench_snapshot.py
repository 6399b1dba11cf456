"""Issue-3 benchmark of the snapshot path: prints numbers, asserts nothing.

Run by scripts/bench (`python -m bench.bench_snapshot [--quick]` from the repository
root). Everything runs in one go against one GStreamer RTSP server
(tests/peers/rtsp_server.py) serving 720p15 H.264 mounts with a keyframe every second:

- warm still latency (keyframe tap running; request -> JPEG Frame). The engine memoises
  the JPEG of a keyframe, so two cases are timed apart: a request that finds a keyframe
  nobody decoded yet (real decode + JPEG encode; used for the ratios) and a repeat
  request for the same keyframe (memo);
- the engine's cold grab (connect, first complete keyframe, decode, encode, disconnect)
  and an `ffmpeg -rtsp_transport tcp -i URL -frames:v 1 -f image2 -` subprocess;
- where the warm time goes: the engine's decode and encode steps timed in place (page
  faults too), and the steps alone with a TurboJPEG alternative;
- cache hits through a real Home Assistant's /api/camera_proxy (bench/ha_camera_proxy.py,
  run with pytest for phcc's hass + hass_client fixtures);
- captures for 100 concurrent requests on a cold engine;
- CPU per tapped camera; RSS with 1 and 8 tapped cameras (in a fresh child process, so
  memory freed by the earlier parts cannot hide what the cameras use): each phase's level
  is the median of its second half's readings (after 2 minutes), and flatness is judged
  on the floor of each 5 s window, the 8 cameras running 4 minutes longer for it.

Targets are printed as PASS / MISS next to the numbers. The last line is one
machine-readable `summary key=value ...` line. Exit status 1 when a part crashed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import gc
import io
import json
import math
import os
from pathlib import Path
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any

import av
from av.codec.codec import Codec
from av.video.frame import VideoFrame
import psutil

from custom_components.xiaomi_cam_bridge.camlib import snapshot
from custom_components.xiaomi_cam_bridge.camlib.frame import Frame
from custom_components.xiaomi_cam_bridge.camlib.snapshot import SnapshotEngine
from custom_components.xiaomi_cam_bridge.camlib.worker import StillWorker, trim_stats
from tests.peers.rtsp_fixtures import CameraSpec, RtspServer, start_rtsp_server

REPO = Path(__file__).resolve().parents[1]
HA_PART = REPO / "bench" / "ha_camera_proxy.py"

SIZE = "1280x720"
FPS = 15
GOP = 15  # one keyframe per second, like the cameras
KEYFRAME_INTERVAL = GOP / FPS
# A keyframe is complete (and served) once the next picture starts: about 70 ms after its
# first packet, ~150 ms on this loaded machine. Asking 0.35 s after the expected arrival
# finds it complete and not yet decoded.
NEW_KEYFRAME_DELAY = 0.35
# pinwheel: sharp detail, ~90 KB keyframes at the encoder's 2 Mbit/s, close to what a 720p
# camera sends. (A solid colour makes 4 KB keyframes that cost nothing to decode.)
PATTERN = "pinwheel"
CAMERAS = tuple(
    CameraSpec(f"cam{n}", rgb, pattern=PATTERN)
    for n, rgb in enumerate(
        [
            (220, 40, 40),
            (40, 200, 40),
            (40, 60, 220),
            (220, 210, 40),
            (200, 60, 200),
            (40, 200, 200),
            (240, 140, 20),
            (120, 120, 220),
        ],
        start=1,
    )
)
CONCURRENT_REQUESTS = 100
# Every engine decodes and encodes on one worker thread, as in Home Assistant.
WORKER = StillWorker(name="bench_still")

# Targets of issue 3 (printed, not asserted).
TARGET_WARM_P50_MS = 15.0
TARGET_FFMPEG_RATIO = 100.0
TARGET_HIT_P99_MS = 5.0
TARGET_CAPTURES = 1
TARGET_RSS_MB_PER_CAM = 5.0
# "Flat": the RSS floor grows by no more than this, at the upper 95 % bound (see flatness).
FLAT_SLOPE_MB_PER_MIN = 0.5
RSS_READ_EVERY = 0.25  # s between RSS readings in the RSS phases
RSS_WINDOW = 5.0  # s of readings per floor / median

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Plan:
    """How much to measure."""

    warm_decodes: int  # warm requests that decode a new keyframe
    same_per_decode: int  # repeat requests for the same keyframe after each
    cold_runs: int
    ffmpeg_runs: int
    cpu_window: float  # seconds
    hit_requests: int
    rss_phase: float  # seconds per phase (1 camera, then 8)
    rss_interval: float  # seconds between rounds of dashboard-like still requests
    rss_soak: float  # seconds the 8 cameras go on after their phase, to judge flatness


FULL = Plan(40, 3, 15, 15, 20.0, 1000, 120.0, 10.0, 240.0)
QUICK = Plan(10, 3, 5, 5, 5.0, 200, 20.0, 5.0, 20.0)


# -- output and statistics -----------------------------------------------------------------


def say(line: str = "") -> None:
    """Print a line now (the run is long; show progress as it goes)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), NaN for no values."""
    if not values:
        return NAN
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: Sequence[float]) -> list[float]:
    return [s * 1000 for s in seconds]


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "n/a"
    return "PASS" if ok else "MISS"


def fmt(value: float, digits: int = 2) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def latency_line(label: str, values_ms: Sequence[float], extra: str = "") -> str:
    p50, p99 = percentile(values_ms, 50), percentile(values_ms, 99)
    line = f"  {label:<44} p50 {fmt(p50):>8} ms  p99 {fmt(p99):>8} ms  (n={len(values_ms)})"
    return f"{line}  {extra}" if extra else line


def rss_windows(
    readings: Sequence[tuple[float, float]], width: float
) -> list[tuple[float, float, float]]:
    """(window middle s, floor MB, median MB) of each `width`-second window of readings.

    RSS saw-tooths by a few MB: the keyframe taps touch fresh pages for every packet and
    free memory goes back to the system about once a second. The floor (what is left
    right after a trim) is what a leak would raise; the median is the level a user sees.
    """
    windows: dict[int, list[float]] = {}
    for t, mb in readings:
        windows.setdefault(int(t // width), []).append(mb)
    return [
        ((n + 0.5) * width, min(mbs), statistics.median(mbs))
        for n, mbs in sorted(windows.items())
        if len(mbs) >= 2
    ]


def sen_slope_mb_per_min(
    points: Sequence[tuple[float, float]],
) -> tuple[float, float, float]:
    """Theil-Sen slope of (seconds, MB) points with its ~95 % confidence bounds, MB/min.

    The median of the pairwise slopes: unlike least squares, a few windows where the
    allocator held on to a picture's memory for one round do not tilt it; a steady
    rise (a leak) does. Bounds after Sen (1968), from Kendall's tau variance.
    """
    slopes = sorted(
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    )
    if len(slopes) < 3:
        return NAN, NAN, NAN
    n, pairs = len(points), len(slopes)
    spread = 1.96 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    low = max(0, math.floor((pairs - spread) / 2))
    high = min(pairs - 1, math.ceil((pairs + spread) / 2))
    return statistics.median(slopes) * 60, slopes[low] * 60, slopes[high] * 60


def flatness(low: float, high: float) -> str:
    """flat: grows <= FLAT_SLOPE_MB_PER_MIN even at the upper bound; growing: more even
    at the lower bound; else too noisy to tell."""
    if high <= FLAT_SLOPE_MB_PER_MIN:
        return "flat"
    if low > FLAT_SLOPE_MB_PER_MIN:
        return "growing"
    return "noisy"


def rss_mb() -> float:
    rss: int = psutil.Process().memory_info().rss
    return rss / 2**20


async def sleep_until(wall_time: float) -> None:
    delay = wall_time - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


class Results:
    """Numbers for the summary line; a part that crashed leaves NaN."""

    def __init__(self) -> None:
        self.values: dict[str, float] = dict.fromkeys(
            (
                "warm_p50_ms",
                "warm_p99_ms",
                "ffmpeg_ratio",
                "cold_ratio",
                "hit_p50_ms",
                "hit_p99_ms",
                "captures_per_100",
                "cpu_pct_per_cam",
                "rss_mb_per_cam",
            ),
            NAN,
        )
        self.failed: list[str] = []

    def summary(self) -> str:
        parts = []
        for key, value in self.values.items():
            digits = 0 if key == "captures_per_100" else (1 if key.endswith("ratio") else 2)
            parts.append(f"{key}={fmt(value, digits)}")
        return "summary " + " ".join(parts)


async def run_part(results: Results, name: str, part: Callable[[], Awaitable[None]]) -> None:
    """Run one part; a crash is reported and the next part still runs."""
    try:
        await part()
    except Exception:  # report and go on: the other numbers are still worth having
        results.failed.append(name)
        say(f"  ERROR in {name}:")
        for line in traceback.format_exc().rstrip().splitlines():
            say(f"    {line}")


# -- parts -------------------------------------------------------------------------------


@dataclass(slots=True)
class StepTimes:
    """One warm request of the instrumented pass (seconds, page faults)."""

    total: float
    decode: float
    decode_faults: int
    encode: float
    encode_faults: int


@dataclass(slots=True)
class WarmResult:
    decodes: list[float]  # seconds: requests that decoded a keyframe nobody had decoded
    undecoded: int  # requests that found no new keyframe yet (not counted)
    same: list[float]  # seconds: repeat requests for the same keyframe (memo)
    connections: int
    steps: list[StepTimes]  # instrumented pass; empty when the probe does not fit
    probe_note: str


class StepProbe:
    """Times the engine's decode and encode steps where they run (executor threads).

    Wraps two private functions of camlib.snapshot, for the breakdown only: the engine
    looks them up when it calls them. If they are renamed, the breakdown says so and the
    rest of the benchmark is unaffected. Page faults: 4 KiB pages touched for the first
    time (fresh memory from the kernel), counted for the calling thread.
    """

    NAMES = ("_decode_keyframe", "_encode_jpeg")

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, int]]] = {name: [] for name in self.NAMES}
        self._originals: dict[str, Callable[..., Any]] = {}

    @classmethod
    def available(cls) -> bool:
        return all(callable(getattr(snapshot, name, None)) for name in cls.NAMES)

    def __enter__(self) -> StepProbe:
        for name in self.NAMES:
            original = getattr(snapshot, name)
            self._originals[name] = original
            setattr(snapshot, name, self._timed(self.calls[name], original))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._originals.items():
            setattr(snapshot, name, original)

    @staticmethod
    def _timed(calls: list[tuple[float, int]], original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults
                calls.append((elapsed, faults))

        return timed


async def _request_new_keyframe(
    engine: SnapshotEngine, previous: Frame
) -> tuple[float, Frame, bool]:
    """Ask once the keyframe after `previous` is complete: (seconds, frame, decoded it)."""
    await sleep_until(previous.provenance.captured_at + KEYFRAME_INTERVAL + NEW_KEYFRAME_DELAY)
    captures = engine.captures
    started = time.perf_counter()
    frame = await engine.async_get_frame()
    elapsed = time.perf_counter() - started
    # Counted only when it really decoded a keyframe nobody had decoded.
    decoded = (
        frame.provenance.captured_at > previous.provenance.captured_at
        and engine.captures == captures + 1
    )
    return elapsed, frame, decoded


async def warm_latency(server: RtspServer, plan: Plan) -> WarmResult:
    """Time warm requests; then an instrumented pass for the breakdown."""
    engine = SnapshotEngine("bench-warm", server.url("cam1"), warm_period=600, worker=WORKER)
    result = WarmResult([], 0, [], 0, [], "")
    try:
        frame = await engine.async_get_frame()  # cold: starts the tap (not timed)
        attempts = 0
        while len(result.decodes) < plan.warm_decodes and attempts < 3 * plan.warm_decodes:
            attempts += 1
            elapsed, frame, decoded = await _request_new_keyframe(engine, frame)
            if decoded:
                result.decodes.append(elapsed)
            else:
                result.undecoded += 1
            for _ in range(plan.same_per_decode):
                captures = engine.captures
                started = time.perf_counter()
                again = await engine.async_get_frame()
                elapsed = time.perf_counter() - started
                if again.provenance.sha256 == frame.provenance.sha256 and (
                    engine.captures == captures
                ):
                    result.same.append(elapsed)
        if not StepProbe.available():
            result.probe_note = "camlib.snapshot no longer has " + " / ".join(StepProbe.NAMES)
            return result
        with StepProbe() as probe:
            for _ in range(max(8, plan.warm_decodes // 4)):
                seen = [len(calls) for calls in probe.calls.values()]
                elapsed, frame, decoded = await _request_new_keyframe(engine, frame)
                new = [calls[n:] for calls, n in zip(probe.calls.values(), seen, strict=True)]
                if decoded and all(len(calls) == 1 for calls in new):
                    (decode, decode_faults), (encode, encode_faults) = new[0][0], new[1][0]
                    result.steps.append(
                        StepTimes(elapsed, decode, decode_faults, encode, encode_faults)
                    )
        if not result.steps:
            result.probe_note = "the engine did not call its decode and encode steps once each"
        return result
    finally:
        result.connections = engine.connections
        await engine.async_close()


@dataclass(slots=True)
class AloneTimes:
    """The steps of a warm request timed alone, repeated on one picture (medians, ms)."""

    keyframe_bytes: int
    jpeg_bytes: int
    decode_ms: float
    to_rgb_ms: float
    encode_ms: float
    turbo_ms: float | None  # full-range YUV 4:2:0 straight into TurboJPEG
    turbo_note: str


def _grab_steady_keyframe(url: str) -> tuple[str, bytes | None, bytes]:
    """(codec, extradata, keyframe) of the 4th keyframe: the encoder's first ones are small."""
    options = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}
    container = av.open(url, options=options, timeout=(5.0, 5.0))
    try:
        stream = container.streams.video[0]
        keyframes: set[int | None] = set()
        pts: int | None = None
        parts: list[bytes] = []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if not parts:
                if not packet.is_keyframe:
                    continue
                keyframes.add(packet.pts)
                if len(keyframes) < 4:
                    continue
                pts = packet.pts
            elif packet.pts != pts:
                break  # the next picture started: the keyframe is complete
            parts.append(bytes(packet))
        codec = stream.codec_context.name
        extradata = stream.codec_context.extradata
    finally:
        container.close()
    return codec, extradata, b"".join(parts)


def _median_seconds(work: Callable[[], object], runs: int = 30) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_steps_alone(url: str) -> AloneTimes:
    """Time decode, YUV->RGB and JPEG encode alone, and a TurboJPEG alternative."""
    codec, extradata, data = _grab_steady_keyframe(url)

    def decode() -> VideoFrame:
        # As the engine: a fresh single-threaded decoder per keyframe.
        ctx = Codec(codec, "r").create("video")
        if extradata:
            ctx.extradata = extradata
        ctx.thread_type = "NONE"
        ctx.thread_count = 1
        frames = ctx.decode(av.Packet(data)) + ctx.decode(None)
        return frames[0]

    picture = decode()
    image = picture.to_image()

    def encode() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=snapshot.JPEG_QUALITY)
        return buffer.getvalue()

    alone = AloneTimes(
        keyframe_bytes=len(data),
        jpeg_bytes=len(encode()),
        decode_ms=_median_seconds(decode) * 1000,
        to_rgb_ms=_median_seconds(picture.to_image) * 1000,
        encode_ms=_median_seconds(encode) * 1000,
        turbo_ms=None,
        turbo_note="",
    )
    try:
        from turbojpeg import TJSAMP_420, TurboJPEG  # optional: only for the comparison

        turbo = TurboJPEG()

        def turbo_encode() -> bytes:
            # H.264 pictures are limited-range: JPEG wants full range (swscale converts).
            full_range = picture.reformat(format="yuvj420p")
            return bytes(
                turbo.encode_from_yuv(
                    full_range.to_ndarray(),  # I420 planes: Y, then U, then V
                    picture.height,
                    picture.width,
                    quality=snapshot.JPEG_QUALITY,
                    jpeg_subsample=TJSAMP_420,
                )
            )

        alone.turbo_note = f"JPEG {len(turbo_encode()) // 1024} KiB"
        alone.turbo_ms = _median_seconds(turbo_encode) * 1000
    except (ImportError, OSError, RuntimeError) as err:
        alone.turbo_note = f"not available here ({type(err).__name__})"
    return alone


async def executor_round_trip(runs: int = 200) -> float:
    """Median seconds of an empty hop to the default executor and back."""
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await loop.run_in_executor(None, int)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def cold_grabs(server: RtspServer, plan: Plan) -> list[float]:
    times = []
    for n in range(plan.cold_runs):
        # warm_period 0: the engine disconnects as soon as it has the keyframe.
        engine = SnapshotEngine(f"bench-cold-{n}", server.url("cam2"), warm_period=0, worker=WORKER)
        try:
            started = time.perf_counter()
            await engine.async_get_frame()
            times.append(time.perf_counter() - started)
        finally:
            await engine.async_close()
    return times


async def ffmpeg_grabs(server: RtspServer, plan: Plan) -> list[float]:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    command += ["-rtsp_transport", "tcp", "-i", server.url("cam2")]
    command += ["-frames:v", "1", "-f", "image2", "-"]
    times = []
    for _ in range(plan.ffmpeg_runs):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await process.communicate()
        elapsed = time.perf_counter() - started
        whole_jpeg = out.startswith(b"\xff\xd8") and out.endswith(b"\xff\xd9")
        if process.returncode != 0 or not whole_jpeg:
            raise RuntimeError(f"ffmpeg failed ({process.returncode}): {err.decode()[-300:]}")
        times.append(elapsed)
    return times


async def concurrent_cold(server: RtspServer) -> tuple[int, int, int, float]:
    """(captures, connections, distinct JPEGs, seconds) for 100 requests at once."""
    engine = SnapshotEngine("bench-concurrent", server.url("cam3"), worker=WORKER)
    try:
        started = time.perf_counter()
        frames: list[Frame] = await asyncio.gather(
            *(engine.async_get_frame() for _ in range(CONCURRENT_REQUESTS))
        )
        elapsed = time.perf_counter() - started
        distinct = len({frame.provenance.sha256 for frame in frames})
        return engine.captures, engine.connections, distinct, elapsed
    finally:
        await engine.async_close()


async def cpu_share(seconds: float) -> float:
    """Share of one core this process used over `seconds` of wall time (all threads)."""
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


async def cpu_per_tap(server: RtspServer, plan: Plan, taps: int) -> tuple[float, float]:
    """(share with `taps` idle taps running, idle share) over plan.cpu_window each."""
    gc.collect()
    idle = await cpu_share(plan.cpu_window)
    engines = [
        SnapshotEngine(f"bench-cpu-{n}", server.url(f"cam{n + 1}"), warm_period=3600, worker=WORKER)
        for n in range(taps)
    ]
    try:
        # One still each starts the taps; then nothing asks: the tap's own cost.
        await asyncio.gather(*(engine.async_get_frame() for engine in engines))
        busy = await cpu_share(plan.cpu_window)
        if not all(engine.tap_running for engine in engines):
            raise RuntimeError("a tap stopped during the CPU window")
    finally:
        await asyncio.gather(*(engine.async_close() for engine in engines))
    return busy, idle


async def ha_cache_hits(server: RtspServer, plan: Plan) -> dict[str, Any]:
    """Run bench/ha_camera_proxy.py under pytest; return its JSON result."""
    with tempfile.TemporaryDirectory(prefix="xcb-bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        env = {
            **os.environ,
            "BENCH_RTSP_URL": server.url("cam4"),
            "BENCH_RESULT": str(result_file),
            "BENCH_REQUESTS": str(plan.hit_requests),
        }
        # An explicit path: pyproject's testpaths (tests/) is not used, and the normal
        # test run never collects bench/.
        command = [sys.executable, "-m", "pytest", str(HA_PART), "-q", "-x"]
        command += ["-p", "no:randomly", "-p", "no:cacheprovider", "--no-header"]
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=600)
        if process.returncode != 0 or not result_file.exists():
            tail = "\n".join(out.decode(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"pytest exited {process.returncode}:\n{tail}")
        result: dict[str, Any] = json.loads(result_file.read_text())
        return result


async def rss_in_child(server: RtspServer, plan: Plan) -> dict[str, Any]:
    """Run the RSS phases in a fresh interpreter; echo its progress; return its result."""
    urls = [server.url(spec.name) for spec in CAMERAS]
    command = [sys.executable, "-m", "bench.bench_snapshot", "--rss-child"]
    command += ["--phase", str(plan.rss_phase), "--interval", str(plan.rss_interval)]
    command += ["--soak", str(plan.rss_soak), *urls]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    result: dict[str, Any] | None = None
    async for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip()
        if line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
        else:
            say(f"    | {line}")
    await process.wait()
    if process.returncode != 0 or result is None:
        raise RuntimeError(f"RSS child exited {process.returncode}")
    return result


# -- the RSS child -------------------------------------------------------------------------


def _executor_thread_work(barrier: threading.Barrier, width: int, height: int) -> None:
    """What an executor thread does for a still, at the benchmark's size: RGB and JPEG."""
    barrier.wait(timeout=30)  # every worker at once: each job gets a thread of its own
    image = VideoFrame(width, height, "yuv420p").to_image()
    image.save(io.BytesIO(), format="JPEG", quality=snapshot.JPEG_QUALITY)


async def warm_executor() -> int:
    """Start every thread of the default executor and let each do a still's work.

    In Home Assistant the executor's threads (and their malloc arenas) exist long before
    a camera is added. In this fresh process they would instead be created between the
    1-camera and the 8-camera phase (8 stills at once need more threads than 1) and be
    charged to the cameras.
    """
    workers = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=workers))
    barrier = threading.Barrier(workers)
    width, height = (int(v) for v in SIZE.split("x"))
    await asyncio.gather(
        *(
            loop.run_in_executor(None, _executor_thread_work, barrier, width, height)
            for _ in range(workers)
        )
    )
    return workers


async def rss_child(urls: list[str], phase: float, interval: float, soak: float) -> dict[str, Any]:
    """1 tapped camera for `phase` s, then 8 for `phase` + `soak` s; a still from each
    every `interval` s. The level is read over each phase's second half (what it holds
    "after `phase` s"); flatness over the rest of the phase, soak included."""
    bare_mb = rss_mb()
    workers = await warm_executor()
    start_mb = rss_mb()
    engines = [
        SnapshotEngine(f"bench-rss-{n}", url, warm_period=3600, worker=WORKER)
        for n, url in enumerate(urls)
    ]
    phases: dict[str, Any] = {}
    try:
        for count, duration in ((1, phase), (len(engines), phase + soak)):
            active = engines[:count]
            readings: list[tuple[float, float]] = []
            cpu, wall = time.process_time(), time.perf_counter()
            started = time.monotonic()

            async def read_rss(readings: list[tuple[float, float]], started: float) -> None:
                while True:
                    readings.append((time.monotonic() - started, rss_mb()))
                    await asyncio.sleep(RSS_READ_EVERY)

            # Like a dashboard showing every camera: one still each per interval.
            reader = asyncio.create_task(read_rss(readings, started))
            try:
                await asyncio.gather(*(engine.async_get_frame() for engine in active))
                rounds = round(duration / interval)
                for tick in range(1, rounds + 1):
                    await asyncio.sleep(max(0.0, started + tick * interval - time.monotonic()))
                    if tick % max(1, round(30 / interval)) == 0:
                        say(f"{count} camera(s): {tick * interval:.0f} s, RSS {rss_mb():.1f} MB")
                    if tick < rounds:
                        await asyncio.gather(*(engine.async_get_frame() for engine in active))
            finally:
                reader.cancel()
            cpu_share_used = (time.process_time() - cpu) / (time.perf_counter() - wall)
            windows = rss_windows(readings, RSS_WINDOW)
            judged = [w for w in windows if w[0] >= phase / 2]
            slope, low, high = sen_slope_mb_per_min([(t, floor) for t, floor, _ in judged])
            level = statistics.median(mb for t, mb in readings if phase / 2 <= t <= phase)
            phases[str(count)] = {
                "rss_mb": level,
                "peak_mb": max(mb for _, mb in readings),
                "windows": windows,
                "slope_mb_per_min": slope,
                "slope_low": low,
                "slope_high": high,
                "judged_from_s": phase / 2,
                "duration_s": duration,
                "second_half_floor_mb": statistics.median(
                    floor for t, floor, _ in windows if phase / 2 <= t <= phase
                ),
                "cpu_share": cpu_share_used,
                "connections": sum(engine.connections for engine in active),
                "taps": sum(engine.tap_running for engine in active),
            }
            say(f"{count} camera(s): done, RSS {level:.1f} MB (median of the second half)")
    finally:
        await asyncio.gather(*(engine.async_close() for engine in engines))
        await WORKER.async_stop()
    trims = trim_stats()
    return {
        "bare_mb": bare_mb,
        "workers": workers,
        "start_mb": start_mb,
        "phases": phases,
        "trims": [trims.count, trims.total_seconds, trims.max_seconds],
    }


def installed_ffmpeg() -> str:
    try:
        version = subprocess.run(
            ["ffmpeg", "-version"], capture_output=True, text=True, check=True
        ).stdout
        return version.split()[2]
    except OSError, subprocess.CalledProcessError, IndexError:
        return "not found"


# -- the run -------------------------------------------------------------------------------


async def benchmark(plan: Plan, quick: bool) -> int:
    wall_started = time.monotonic()
    results = Results()
    values = results.values
    cores = os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    ffmpeg_version = await asyncio.to_thread(installed_ffmpeg)
    say(f"== xiaomi_cam_bridge snapshot benchmark ({'--quick' if quick else 'full'}) ==")
    say(
        f"host: {cores} cores, load average {load}; Python {platform.python_version()}, "
        f"PyAV {av.__version__}, ffmpeg {ffmpeg_version}"
    )
    say(
        f"stream: GStreamer RTSP server, {len(CAMERAS)} mounts {SIZE} H.264 {FPS} fps, "
        f"keyframe every {GOP} frames, pattern {PATTERN} (x264 ultrafast, 2 Mbit/s)"
    )
    server = start_rtsp_server(CAMERAS, size=SIZE, fps=FPS, gop=GOP)
    warm_new: list[float] = []
    cold: list[float] = []
    ffmpeg: list[float] = []
    try:
        say()
        say("-- still latency (request -> JPEG Frame)")

        warm_steps: list[StepTimes] = []
        probe_note: list[str] = []

        async def part_warm() -> None:
            warm = await warm_latency(server, plan)
            warm_new.extend(ms(warm.decodes))
            warm_steps.extend(warm.steps)
            probe_note.append(warm.probe_note)
            p50 = percentile(warm_new, 50)
            values["warm_p50_ms"] = p50
            values["warm_p99_ms"] = percentile(warm_new, 99)
            ok = p50 <= TARGET_WARM_P50_MS
            target = f"target p50 <= {TARGET_WARM_P50_MS:g} ms: {verdict(ok)}"
            say(latency_line("warm, new keyframe (decode + JPEG encode)", warm_new, target))
            say(latency_line("warm, same keyframe (memoised JPEG)", ms(warm.same), "info"))
            say(
                f"  {'':<44} {warm.connections} stream connection(s); {warm.undecoded} "
                "request(s) found no new keyframe yet (not counted)"
            )

        async def part_cold() -> None:
            cold.extend(ms(await cold_grabs(server, plan)))
            say(latency_line("cold engine grab (connect..disconnect)", cold))

        async def part_ffmpeg() -> None:
            ffmpeg.extend(ms(await ffmpeg_grabs(server, plan)))
            say(latency_line("ffmpeg subprocess (-frames:v 1 -f image2)", ffmpeg))

        await run_part(results, "warm latency", part_warm)
        await run_part(results, "cold grab", part_cold)
        await run_part(results, "ffmpeg", part_ffmpeg)
        warm_p50 = percentile(warm_new, 50)
        ffmpeg_ratio = percentile(ffmpeg, 50) / warm_p50 if warm_new and ffmpeg else NAN
        cold_ratio = percentile(cold, 50) / warm_p50 if warm_new and cold else NAN
        values["ffmpeg_ratio"], values["cold_ratio"] = ffmpeg_ratio, cold_ratio
        ratio_ok = None if math.isnan(ffmpeg_ratio) else ffmpeg_ratio >= TARGET_FFMPEG_RATIO
        say(
            f"  {'ratio ffmpeg p50 / warm p50':<44} {fmt(ffmpeg_ratio, 1):>8} x"
            f"{'':>21}target >= {TARGET_FFMPEG_RATIO:g}x: {verdict(ratio_ok)}"
        )
        say(f"  {'ratio cold p50 / warm p50':<44} {fmt(cold_ratio, 1):>8} x{'':>21}info")

        say()
        say("-- where a warm request's time goes")

        async def part_breakdown() -> None:
            if warm_steps:
                say(
                    f"  inside the engine: an instrumented pass of {len(warm_steps)} warm "
                    "new-keyframe requests (medians)"
                )
                decode = statistics.median(s.decode for s in warm_steps) * 1000
                encode = statistics.median(s.encode for s in warm_steps) * 1000
                rest = statistics.median(s.total - s.decode - s.encode for s in warm_steps)
                total = statistics.median(s.total for s in warm_steps) * 1000
                decode_faults = statistics.median(s.decode_faults for s in warm_steps)
                encode_faults = statistics.median(s.encode_faults for s in warm_steps)
                label = "decode step (fresh single-threaded decoder)"
                say(f"    {label:<42} {decode:8.2f} ms  {decode_faults:6.0f} page faults")
                label = "encode step (picture -> JPEG Frame)"
                say(f"    {label:<42} {encode:8.2f} ms  {encode_faults:6.0f} page faults")
                label = "rest: executor hand-offs, loop, locks"
                say(f"    {label:<42} {rest * 1000:8.2f} ms")
                say(f"    {'whole request':<42} {total:8.2f} ms")
            else:
                say(f"  inside the engine: not measured ({probe_note[0] if probe_note else '-'})")
            alone = await asyncio.to_thread(measure_steps_alone, server.url("cam1"))
            hop = await executor_round_trip() * 1000
            say(
                "  the same steps alone, repeated on one picture (memory reused, no page "
                "faults; medians of 30):"
            )
            say(
                f"    keyframe {alone.keyframe_bytes // 1024} KiB -> JPEG "
                f"{alone.jpeg_bytes // 1024} KiB (quality {snapshot.JPEG_QUALITY})"
            )
            say(f"    {'decode':<42} {alone.decode_ms:8.2f} ms")
            say(f"    {'YUV -> RGB (VideoFrame.to_image)':<42} {alone.to_rgb_ms:8.2f} ms")
            say(f"    {'JPEG encode (Pillow)':<42} {alone.encode_ms:8.2f} ms")
            say(f"    {'empty executor round trip':<42} {hop:8.2f} ms")
            if alone.turbo_ms is not None:
                say(
                    f"    {'alt: yuvj420p -> TurboJPEG, no RGB step':<42} "
                    f"{alone.turbo_ms:8.2f} ms  instead of "
                    f"{alone.to_rgb_ms + alone.encode_ms:.2f} ms ({alone.turbo_note})"
                )
            else:
                say(f"    alt: TurboJPEG from YUV: {alone.turbo_note}")

        await run_part(results, "breakdown", part_breakdown)

        say()
        say("-- single flight")

        async def part_concurrent() -> None:
            captures, connections, distinct, elapsed = await concurrent_cold(server)
            values["captures_per_100"] = captures
            say(
                f"  {CONCURRENT_REQUESTS} concurrent requests on a cold engine: {captures} "
                f"capture(s), {connections} connection(s), {distinct} distinct JPEG(s), "
                f"all answered in {elapsed * 1000:.0f} ms   "
                f"target {TARGET_CAPTURES} capture: {verdict(captures == TARGET_CAPTURES)}"
            )

        await run_part(results, "concurrency", part_concurrent)

        say()
        say(f"-- CPU (process time over {plan.cpu_window:g} s windows, all threads)")

        async def part_cpu() -> None:
            busy, idle = await cpu_per_tap(server, plan, 1)
            values["cpu_pct_per_cam"] = (busy - idle) * 100
            say(
                f"  {'per tapped 720p15 camera':<44} {(busy - idle) * 100:8.2f} % of one core"
                f"   (1 tap {busy * 100:.2f} %, idle {idle * 100:.2f} %)  info"
            )
            busy8, idle8 = await cpu_per_tap(server, plan, len(CAMERAS))
            say(
                f"  {'per camera with 8 taps':<44} {(busy8 - idle8) * 100 / 8:8.2f} % of one core"
                f"   (8 taps {busy8 * 100:.2f} %, idle {idle8 * 100:.2f} %)  info"
            )

        await run_part(results, "cpu", part_cpu)

        say()
        say("-- cache hits through Home Assistant (GET /api/camera_proxy/<entity_id>)")

        async def part_ha() -> None:
            result = await ha_cache_hits(server, plan)
            hits = result["hit_ms"]
            values["hit_p50_ms"] = percentile(hits, 50)
            values["hit_p99_ms"] = p99 = percentile(hits, 99)
            say(
                f"  Home Assistant {result['ha_version']}, {result['entity_id']}, "
                f"event loop debug {'on' if result['loop_debug'] else 'off'}"
            )
            first = "first request (cold engine, fills the cache)"
            say(f"  {first:<44} {result['first_ms']:8.2f} ms")
            ok = p99 <= TARGET_HIT_P99_MS
            target = f"target p99 <= {TARGET_HIT_P99_MS:g} ms: {verdict(ok)}"
            say(latency_line("cache hit", hits, target))
            say(
                f"  {'':<44} {result['engine_calls']} engine call(s) during the timed hits; "
                f"{result['misses']} timed request(s) not served from the cache (excluded); "
                f"cache refilled {result['refills']} time(s) between timed requests"
            )
            if result["miss_ms"]:
                label = "timed requests answered by the engine"
                say(latency_line(label, result["miss_ms"], "info"))

        await run_part(results, "home assistant", part_ha)

        say()
        say(
            f"-- RSS (fresh process; 1 tapped camera for {plan.rss_phase:g} s, then 8 for "
            f"{plan.rss_phase + plan.rss_soak:g} s; "
            f"a still from each every {plan.rss_interval:g} s; RSS read every "
            f"{RSS_READ_EVERY:g} s)"
        )

        async def part_rss() -> None:
            result = await rss_in_child(server, plan)
            one, eight = result["phases"]["1"], result["phases"][str(len(CAMERAS))]
            extra = len(CAMERAS) - 1
            per_cam = (eight["rss_mb"] - one["rss_mb"]) / extra
            values["rss_mb_per_cam"] = per_cam
            states = [flatness(p["slope_low"], p["slope_high"]) for p in (one, eight)]
            flat = all(state == "flat" for state in states)
            say(
                f"  {'process before any camera':<44} {result['start_mb']:8.1f} MB   "
                f"({result['bare_mb']:.1f} MB before its {result['workers']} executor "
                "threads were started and used, as Home Assistant's already are)"
            )
            preload = os.environ.get("LD_PRELOAD", "")
            allocator = "jemalloc" if "jemalloc" in preload else "glibc malloc"
            say(
                f"  allocator: {allocator} (Home Assistant's container images preload "
                "jemalloc; glibc keeps freed memory in per-thread arenas)"
            )
            count, total, longest = result["trims"]
            if count:
                say(
                    f"  free memory handed back (malloc_trim): {count} times in "
                    f"{2 * plan.rss_phase + plan.rss_soak:g} s, mean {total / count * 1000:.2f} "
                    "ms, "
                    f"longest {longest * 1000:.2f} ms"
                )
            for label, p, state in zip(
                ("1 tapped camera", "8 tapped cameras"), (one, eight), states, strict=True
            ):
                say(
                    f"  {label:<44} {p['rss_mb']:8.1f} MB   median of the readings "
                    f"{p['judged_from_s']:g}-{plan.rss_phase:g} s; floor "
                    f"{p['second_half_floor_mb']:.1f} MB"
                )
                say(
                    f"  {'':<44} floor slope {p['judged_from_s']:g}-{p['duration_s']:g} s: "
                    f"{p['slope_mb_per_min']:+.2f} MB/min (95 % {p['slope_low']:+.2f} .. "
                    f"{p['slope_high']:+.2f}): {state}"
                )
                say(
                    f"  {'':<44} up to {p['peak_mb']:.1f} MB just after a round; CPU "
                    f"{p['cpu_share'] * 100:.1f} %; {p['taps']} tap(s), "
                    f"{p['connections']} connection(s)"
                )
            ok = per_cam <= TARGET_RSS_MB_PER_CAM and flat
            say(
                f"  {'per additional camera (rss8 - rss1) / 7':<44} {per_cam:8.2f} MB   "
                f"target <= {TARGET_RSS_MB_PER_CAM:g} MB and flat "
                f"(floor slope <= {FLAT_SLOPE_MB_PER_MIN:g} MB/min at 95 %): {verdict(ok)}"
            )
            floors = (eight["second_half_floor_mb"] - one["second_half_floor_mb"]) / extra
            say(f"  {'same from the second-half floors':<44} {floors:8.2f} MB   info")
            for label, p in (("1 camera", one), ("8 cameras", eight)):
                trace = " ".join(f"{floor:.1f}/{median:.1f}" for _, floor, median in p["windows"])
                say(f"  per {RSS_WINDOW:g} s, {label} (floor/median MB): {trace}")

        await run_part(results, "rss", part_rss)
    finally:
        await WORKER.async_stop()
        server.close()

    say()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"load average at the end {load}; wall time {time.monotonic() - wall_started:.0f} s")
    if results.failed:
        say(f"parts that crashed: {', '.join(results.failed)}")
    say(results.summary())
    return 1 if results.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples, 20 s RSS phases (development)"
    )
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--phase", type=float, default=FULL.rss_phase, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=FULL.rss_interval, help=argparse.SUPPRESS)
    parser.add_argument("--soak", type=float, default=FULL.rss_soak, help=argparse.SUPPRESS)
    parser.add_argument("urls", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        result = asyncio.run(rss_child(args.urls, args.phase, args.interval, args.soak))
        say("RESULT " + json.dumps(result))
        return 0
    return asyncio.run(benchmark(QUICK if args.quick else FULL, args.quick))


if __name__ == "__main__":
    sys.exit(main())
