"""Tests of camlib.cache: provenance checks, bounds, expiry and crash-safe persistence."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
import re
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from custom_components.xiaomi_cam_bridge.camlib import cache as cache_module
from custom_components.xiaomi_cam_bridge.camlib.cache import FrameCache
from custom_components.xiaomi_cam_bridge.camlib.frame import Frame, Provenance

REPO_ROOT = Path(__file__).resolve().parents[2]
LOGGER_NAME = "custom_components.xiaomi_cam_bridge.camlib.cache"
NOW = 1_700_000_000.0
CAM_A = "78:11:dc:00:00:01"
CAM_B = "78:11:dc:00:00:02"
CAM_C = "78:11:dc:00:00:03"
CAM_D = "78:11:dc:00:00:04"
FP_1 = "1" * 64
FP_2 = "2" * 64
CAMERA_DIR_RE = re.compile(r"cam-[0-9a-f]{32}")


def jpeg_bytes(size: int, seed: int = 0) -> bytes:
    """Bytes shaped like a complete JPEG (SOI ... EOI); the cache does not decode."""
    body = hashlib.shake_256(f"{size}/{seed}".encode()).digest(max(size - 4, 0))
    return b"\xff\xd8" + body + b"\xff\xd9"


def make_frame(
    camera_id: str = CAM_A,
    source_fingerprint: str = FP_1,
    *,
    captured_at: float = NOW,
    size: int = 200,
    seed: int = 0,
    width: int = 1920,
    height: int = 1080,
) -> Frame:
    """A frame whose provenance matches its bytes."""
    jpeg = jpeg_bytes(size, seed)
    return Frame(
        jpeg=jpeg,
        provenance=Provenance(
            camera_id=camera_id,
            source_fingerprint=source_fingerprint,
            captured_at=captured_at,
            width=width,
            height=height,
            sha256=hashlib.sha256(jpeg).hexdigest(),
        ),
    )


def tamper(frame: Frame, **changes: Any) -> None:
    """Change a frozen frame in place, as memory corruption or a bug would."""
    if "jpeg" in changes:
        object.__setattr__(frame, "jpeg", changes.pop("jpeg"))
    if changes:
        provenance = dataclasses.replace(frame.provenance, **changes)
        object.__setattr__(frame, "provenance", provenance)


def frame_files(directory: Path) -> list[Path]:
    """Every file below the cache directory."""
    return sorted(path for path in directory.rglob("*") if not path.is_dir())


def camera_dirs(directory: Path) -> list[Path]:
    """The per-camera folders."""
    return sorted(path for path in directory.iterdir() if CAMERA_DIR_RE.fullmatch(path.name))


def craft_file(
    header: object,
    jpeg: bytes,
    *,
    magic: bytes = b"XCBFRAME",
    version: int = 1,
    raw_header: bytes | None = None,
) -> bytes:
    """A cache file written independently of the cache's own encoder."""
    header_bytes = raw_header if raw_header is not None else json.dumps(header).encode()
    body = struct.pack(">8sBI", magic, version, len(header_bytes)) + header_bytes + jpeg
    return body + hashlib.sha256(body).digest()


def header_of(frame: Frame, **changes: Any) -> dict[str, Any]:
    """The header the cache writes for a frame, with changes."""
    header: dict[str, Any] = {
        **dataclasses.asdict(frame.provenance),
        "size": len(frame.jpeg),
    }
    header.update(changes)
    return header


def fresh_cache(directory: Path, **kwargs: Any) -> FrameCache:
    """A new FrameCache on the directory, loaded as at Home Assistant start."""
    cache = FrameCache(directory, **kwargs)
    cache.load()
    return cache


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """Where the cache persists (not created yet)."""
    return tmp_path / "storage" / "snapshots"


@pytest.fixture
def cache(cache_dir: Path) -> FrameCache:
    """A loaded cache with the default bounds."""
    return fresh_cache(cache_dir)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages of the cache's warnings so far."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER_NAME and record.levelno == logging.WARNING
    ]


# --- basic behaviour -----------------------------------------------------------------


def test_put_then_get(cache: FrameCache) -> None:
    """A frame put for a camera and source is served to that camera and source."""
    frame = make_frame()
    cache.put(frame)
    assert cache.get(CAM_A, FP_1, now=NOW + 1) == frame
    assert cache.latest(CAM_A, FP_1) == frame
    assert cache.get(CAM_B, FP_1, now=NOW + 1) is None


def test_newest_frame_is_served(cache: FrameCache) -> None:
    """Of the frames kept for a camera, the most recent capture wins, whatever the put order."""
    newer = make_frame(captured_at=NOW + 5, seed=1)
    older = make_frame(captured_at=NOW, seed=2)
    cache.put(newer)
    cache.put(older)
    assert cache.get(CAM_A, FP_1, now=NOW + 6) == newer
    assert cache.stats().total_frames == 2


def test_get_uses_the_clock_by_default(cache: FrameCache) -> None:
    """Without `now`, get compares against the current time."""
    cache.put(make_frame(captured_at=time.time()))
    assert cache.get(CAM_A, FP_1) is not None
    cache.put(make_frame(CAM_B, captured_at=time.time() - 3600))
    assert cache.get(CAM_B, FP_1) is None


def test_same_frame_put_twice_is_stored_once(cache: FrameCache, cache_dir: Path) -> None:
    """Putting an identical frame again does not duplicate it."""
    frame = make_frame()
    cache.put(frame)
    cache.put(make_frame())
    assert cache.stats().total_frames == 1
    assert len(frame_files(cache_dir)) == 1
    assert fresh_cache(cache_dir).get(CAM_A, FP_1, now=NOW) == frame


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (make_frame(), None),
        (Frame(jpeg=jpeg_bytes(100, 1), provenance=make_frame(size=100).provenance), "sha256"),
        (Frame(jpeg=jpeg_bytes(100)[:-1], provenance=make_frame(size=100).provenance), "JPEG"),
        (
            Frame(
                jpeg=b"\xff\xd8" + b"x" * 50,
                provenance=dataclasses.replace(
                    make_frame().provenance,
                    sha256=hashlib.sha256(b"\xff\xd8" + b"x" * 50).hexdigest(),
                ),
            ),
            "complete JPEG",
        ),
        (
            Frame(
                jpeg=b"GIF89a\xff\xd9",
                provenance=dataclasses.replace(
                    make_frame().provenance, sha256=hashlib.sha256(b"GIF89a\xff\xd9").hexdigest()
                ),
            ),
            "complete JPEG",
        ),
        (make_frame(width=0), "dimensions"),
        (make_frame(height=100_000), "dimensions"),
        (make_frame(captured_at=float("nan")), "capture time"),
        (make_frame(camera_id=""), "camera id"),
        (make_frame(source_fingerprint=""), "camera id or source"),
    ],
)
def test_put_refuses_unsound_frames(
    cache: FrameCache, cache_dir: Path, frame: Frame, reason: str | None
) -> None:
    """Truncated JPEGs, hash mismatches and impossible provenance are never cached."""
    if reason is None:  # the control case: the same path accepts a sound frame
        cache.put(frame)
        assert cache.latest(frame.provenance.camera_id, FP_1) == frame
        return
    with pytest.raises(ValueError, match=reason):
        cache.put(frame)
    assert cache.stats().total_frames == 0
    assert frame_files(cache_dir) == []


def test_bounds_must_be_positive(cache_dir: Path) -> None:
    """Nonsense bounds are refused at construction."""
    for kwargs in (
        {"max_frames_per_camera": 0},
        {"max_bytes_per_camera": 0},
        {"max_total_bytes": -1},
        {"max_age": -1.0},
        {"max_age": float("nan")},
    ):
        with pytest.raises(ValueError, match="must be"):
            FrameCache(cache_dir, **kwargs)
    assert not cache_dir.exists()  # the constructor does no file I/O


# --- bounds ----------------------------------------------------------------------------


def test_frames_per_camera_bound(cache_dir: Path) -> None:
    """Only the newest N frames of a camera are kept, in memory and on disk."""
    cache = fresh_cache(cache_dir, max_frames_per_camera=2)
    frames = [make_frame(captured_at=NOW + i, seed=i) for i in range(3)]
    for frame in frames:
        cache.put(frame)
    assert cache.stats().total_frames == 2
    assert len(frame_files(cache_dir)) == 2
    # Corrupt the newest: the second newest is served; the oldest is gone.
    tamper(frames[2], jpeg=jpeg_bytes(200, seed=99))
    assert cache.latest(CAM_A, FP_1) == frames[1]
    tamper(frames[1], jpeg=jpeg_bytes(200, seed=98))
    assert cache.latest(CAM_A, FP_1) is None


def test_bytes_per_camera_bound(cache_dir: Path) -> None:
    """A camera's frames never exceed its byte budget."""
    cache = fresh_cache(cache_dir, max_frames_per_camera=5, max_bytes_per_camera=1000)
    for i in range(3):
        cache.put(make_frame(captured_at=NOW + i, size=400, seed=i))
    assert cache.stats().cameras[0].frames == 2
    assert cache.stats().total_bytes == 800
    big = make_frame(captured_at=NOW + 10, size=700, seed=10)
    cache.put(big)
    stats = cache.stats()
    assert (stats.total_frames, stats.total_bytes) == (1, 700)
    assert len(frame_files(cache_dir)) == 1
    assert cache.latest(CAM_A, FP_1) == big


def test_frame_over_the_bounds_is_not_cached(cache_dir: Path) -> None:
    """A frame bigger than a camera's budget (or the global one) is simply not cached."""
    cache = fresh_cache(cache_dir, max_bytes_per_camera=1000, max_total_bytes=500)
    cache.put(make_frame(size=600))
    cache.put(make_frame(CAM_B, size=1200))
    assert cache.stats().total_frames == 0
    assert frame_files(cache_dir) == []
    cache.put(make_frame(size=500))
    assert cache.stats().total_frames == 1


def test_global_bound_evicts_least_recently_used_camera(cache_dir: Path) -> None:
    """Across cameras, the oldest frame of the least recently used camera goes first."""
    cache = fresh_cache(
        cache_dir, max_frames_per_camera=2, max_bytes_per_camera=1000, max_total_bytes=1000
    )
    a1 = make_frame(CAM_A, captured_at=NOW, size=300, seed=1)
    a2 = make_frame(CAM_A, captured_at=NOW + 1, size=300, seed=2)
    b1 = make_frame(CAM_B, captured_at=NOW, size=300, seed=3)
    for frame in (a1, a2, b1):
        cache.put(frame)
    # Reading A makes B the least recently used camera.
    assert cache.get(CAM_A, FP_1, now=NOW + 2) == a2
    assert [camera.camera_id for camera in cache.stats().cameras] == [CAM_B, CAM_A]
    c1 = make_frame(CAM_C, captured_at=NOW, size=300, seed=4)
    cache.put(c1)
    assert cache.get(CAM_B, FP_1, now=NOW + 2) is None
    assert [camera.camera_id for camera in cache.stats().cameras] == [CAM_A, CAM_C]
    # Now A is least recently used: its oldest frame goes, its newest stays.
    d1 = make_frame(CAM_D, captured_at=NOW, size=300, seed=5)
    cache.put(d1)
    stats = cache.stats()
    assert [(c.camera_id, c.frames) for c in stats.cameras] == [(CAM_A, 1), (CAM_C, 1), (CAM_D, 1)]
    assert stats.total_bytes == 900
    assert cache.get(CAM_A, FP_1, now=NOW + 2) == a2
    assert len(frame_files(cache_dir)) == 3
    # The evictions hold after a restart too.
    reloaded = fresh_cache(cache_dir)
    assert reloaded.get(CAM_B, FP_1, now=NOW + 2) is None
    assert reloaded.latest(CAM_A, FP_1) == a2


def test_load_applies_smaller_bounds(cache_dir: Path) -> None:
    """Frames persisted under larger bounds are trimmed (and deleted) at load."""
    cache = fresh_cache(cache_dir, max_frames_per_camera=3)
    frames = [make_frame(captured_at=NOW + i, seed=i) for i in range(3)]
    for frame in frames:
        cache.put(frame)
    assert len(frame_files(cache_dir)) == 3
    smaller = fresh_cache(cache_dir, max_frames_per_camera=1)
    assert smaller.stats().total_frames == 1
    assert smaller.latest(CAM_A, FP_1) == frames[2]
    assert len(frame_files(cache_dir)) == 1


# --- expiry ----------------------------------------------------------------------------


def test_expired_frame_is_not_returned_by_get(cache: FrameCache) -> None:
    """get honours max_age; latest still returns the still with its capture time."""
    frame = make_frame(captured_at=NOW)
    cache.put(frame)
    assert cache.get(CAM_A, FP_1, now=NOW + 30) == frame
    assert cache.get(CAM_A, FP_1, now=NOW + 30.5) is None
    assert cache.get(CAM_A, FP_1, now=NOW + 30.5, max_age=60) == frame
    assert cache.get(CAM_A, FP_1, now=NOW + 1, max_age=0.5) is None
    latest = cache.latest(CAM_A, FP_1)
    assert latest == frame
    assert latest.provenance.captured_at == NOW
    # An expired frame is not discarded, only not served as recent.
    assert cache.stats().total_frames == 1


def test_configured_max_age(cache_dir: Path) -> None:
    """The max_age given to the cache is the default for get."""
    cache = fresh_cache(cache_dir, max_age=5.0)
    cache.put(make_frame(captured_at=NOW))
    assert cache.get(CAM_A, FP_1, now=NOW + 5) is not None
    assert cache.get(CAM_A, FP_1, now=NOW + 6) is None


def test_frame_from_the_future_is_not_recent(cache: FrameCache) -> None:
    """A capture time well ahead of now (the clock stepped back) does not count as recent."""
    older = make_frame(captured_at=NOW, seed=1)
    future = make_frame(captured_at=NOW + 3600, seed=2)
    cache.put(older)
    cache.put(future)
    assert cache.get(CAM_A, FP_1, now=NOW + 10) == older
    assert cache.get(CAM_A, FP_1, now=NOW + 3598) == future  # within the allowed skew
    assert cache.latest(CAM_A, FP_1) == future


# --- provenance ------------------------------------------------------------------------


def test_frame_of_another_source_is_discarded(
    cache: FrameCache, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Asking with another fingerprint (the source changed) discards the old frame."""
    cache.put(make_frame(source_fingerprint=FP_1))
    assert cache.get(CAM_A, FP_2, now=NOW) is None
    assert any("another video source" in message for message in warnings_of(caplog))
    assert CAM_A in warnings_of(caplog)[0]
    # Discarded, not merely skipped: the original source no longer gets it either.
    assert cache.get(CAM_A, FP_1, now=NOW) is None
    assert cache.latest(CAM_A, FP_1) is None
    cache.purge()
    assert frame_files(cache_dir) == []


def test_put_from_a_new_source_drops_the_old_sources_frames(
    cache: FrameCache, cache_dir: Path
) -> None:
    """A camera has one source at a time; older-source frames go when a new one arrives."""
    cache.put(make_frame(source_fingerprint=FP_1, seed=1))
    new = make_frame(source_fingerprint=FP_2, captured_at=NOW + 1, seed=2)
    cache.put(new)
    assert cache.stats().total_frames == 1
    assert len(frame_files(cache_dir)) == 1
    assert cache.get(CAM_A, FP_2, now=NOW + 1) == new


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"camera_id": CAM_B}, "another camera"),
        ({"source_fingerprint": FP_2}, "another video source"),
        ({"jpeg": jpeg_bytes(200, seed=42)}, "do not match the recorded sha256"),
        ({"jpeg": jpeg_bytes(200)[:150]}, "not a complete JPEG"),
        ({"jpeg": jpeg_bytes(200)[:150] + b"\xff\xd9"}, "do not match the recorded sha256"),
        ({"sha256": "0" * 64}, "do not match the recorded sha256"),
        ({"width": -1}, "dimensions"),
        (
            {"jpeg": jpeg_bytes(300, 5), "sha256": hashlib.sha256(jpeg_bytes(300, 5)).hexdigest()},
            "size changed",
        ),
    ],
)
def test_provenance_mismatch_is_discarded_and_logged(
    cache: FrameCache,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
    reason: str,
) -> None:
    """A cached frame that no longer matches its asker or its hash is never served."""
    frame = make_frame()
    cache.put(frame)
    tamper(frame, **change)
    assert cache.get(CAM_A, FP_1, now=NOW) is None
    messages = warnings_of(caplog)
    assert len(messages) == 1
    assert reason in messages[0]
    assert repr(CAM_A) in messages[0]
    # Gone from memory for every asker ...
    assert cache.latest(CAM_A, FP_1) is None
    assert cache.latest(CAM_B, FP_1) is None
    assert cache.latest(CAM_A, FP_2) is None
    assert cache.stats().total_frames == 0
    # ... and from disk, once file I/O is allowed; a restart does not bring it back.
    assert len(frame_files(cache_dir)) == 1  # get itself never touches the disk
    cache.purge()
    assert frame_files(cache_dir) == []
    assert fresh_cache(cache_dir).latest(CAM_A, FP_1) is None


def test_latest_checks_provenance_too(cache: FrameCache, caplog: pytest.LogCaptureFixture) -> None:
    """latest ignores age, not provenance."""
    frame = make_frame()
    cache.put(frame)
    tamper(frame, jpeg=jpeg_bytes(200, seed=7))
    assert cache.latest(CAM_A, FP_1) is None
    assert len(warnings_of(caplog)) == 1


def test_discarded_files_are_deleted_by_the_next_put(cache: FrameCache, cache_dir: Path) -> None:
    """put (which does file I/O anyway) deletes what reads discarded."""
    first = make_frame(seed=1)
    cache.put(first)
    tamper(first, jpeg=jpeg_bytes(200, seed=5))
    assert cache.get(CAM_A, FP_1, now=NOW) is None
    b = make_frame(CAM_B)
    cache.put(b)
    (remaining,) = frame_files(cache_dir)
    assert remaining.read_bytes().find(b.jpeg) > 0
    assert fresh_cache(cache_dir).latest(CAM_A, FP_1) is None


def test_get_never_touches_the_disk(cache: FrameCache, cache_dir: Path) -> None:
    """get and latest serve from memory even with the directory gone."""
    frame = make_frame()
    cache.put(frame)
    shutil.rmtree(cache_dir)
    assert cache.get(CAM_A, FP_1, now=NOW) == frame
    assert cache.latest(CAM_A, FP_1) == frame
    assert not cache_dir.exists()


# --- persistence ---------------------------------------------------------------------


def test_persistence_round_trip(cache: FrameCache, cache_dir: Path) -> None:
    """A new cache on the same directory serves the same frame, provenance intact."""
    a = make_frame(CAM_A, captured_at=NOW + 0.123456789, width=1280, height=720, seed=1)
    b = make_frame(CAM_B, FP_2, captured_at=NOW, size=5000, seed=2)
    cache.put(a)
    cache.put(b)
    reloaded = fresh_cache(cache_dir)
    assert reloaded.get(CAM_A, FP_1, now=NOW + 1) == a
    assert reloaded.get(CAM_B, FP_2, now=NOW + 1) == b
    assert reloaded.stats().total_bytes == len(a.jpeg) + len(b.jpeg)


def test_load_replaces_memory(cache: FrameCache, cache_dir: Path) -> None:
    """load reflects the directory: frames whose files vanished are forgotten."""
    cache.put(make_frame())
    for path in frame_files(cache_dir):
        path.unlink()
    cache.load()
    assert cache.latest(CAM_A, FP_1) is None


def test_permissions(cache_dir: Path) -> None:
    """The folders are 0700 and the files 0600, whatever the umask."""
    old_umask = os.umask(0)
    try:
        cache = fresh_cache(cache_dir)
        cache.put(make_frame())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    (camera_dir,) = camera_dirs(cache_dir)
    assert stat.S_IMODE(camera_dir.stat().st_mode) == 0o700
    (path,) = frame_files(cache_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_restores_permissions(cache: FrameCache, cache_dir: Path) -> None:
    """Loosened permissions are tightened again at load."""
    cache.put(make_frame())
    (camera_dir,) = camera_dirs(cache_dir)
    (path,) = frame_files(cache_dir)
    cache_dir.chmod(0o755)
    camera_dir.chmod(0o777)
    path.chmod(0o644)
    assert fresh_cache(cache_dir).latest(CAM_A, FP_1) is not None
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(camera_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_directory_is_made_private(cache_dir: Path) -> None:
    """A directory that already exists with loose permissions is chmodded to 0700."""
    cache_dir.mkdir(parents=True, mode=0o755)
    cache_dir.chmod(0o755)
    fresh_cache(cache_dir)
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700


def test_write_failure_keeps_the_frame_in_memory(
    cache: FrameCache, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When the file cannot be written the frame is still served, and the failure logged."""
    # Make the camera's folder impossible to create: a plain file sits in its place.
    cache.put(make_frame(CAM_A, seed=1))
    (camera_dir,) = camera_dirs(cache_dir)
    cache.clear()
    camera_dir.write_bytes(b"in the way")
    frame = make_frame(CAM_A, seed=2)
    cache.put(frame)
    assert cache.get(CAM_A, FP_1, now=NOW) == frame
    assert any("keeping it in memory only" in message for message in warnings_of(caplog))
    # Evicting the memory-only frame later is harmless.
    cache.put(make_frame(CAM_A, source_fingerprint=FP_2, seed=3))
    assert cache.latest(CAM_A, FP_2) is not None


def test_failed_write_leaves_no_temp_file(
    cache: FrameCache, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails half way (disk full) removes its temp file."""
    real_write_all = cache_module._write_all

    def write_half_then_fail(fd: int, data: bytes) -> None:
        real_write_all(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module, "_write_all", write_half_then_fail)
    frame = make_frame()
    cache.put(frame)
    assert frame_files(cache_dir) == []
    assert cache.latest(CAM_A, FP_1) == frame


CRASH_CHILD = r"""
import hashlib, os, sys
from pathlib import Path
from custom_components.xiaomi_cam_bridge.camlib import cache as cache_module
from custom_components.xiaomi_cam_bridge.camlib.frame import Frame, Provenance

directory, camera_id, source, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
real_write_all = cache_module._write_all

def write_half_then_block(fd, data):
    real_write_all(fd, data[: len(data) // 2])
    os.fsync(fd)  # the half-written temp file is really on disk when we are killed
    print("WRITING", flush=True)
    sys.stdin.readline()  # the parent SIGKILLs us while we wait here
    real_write_all(fd, data[len(data) // 2 :])

cache_module._write_all = write_half_then_block
jpeg = b"\xff\xd8" + os.urandom(size - 4) + b"\xff\xd9"
provenance = Provenance(camera_id, source, 1700000100.0, 1920, 1080,
                        hashlib.sha256(jpeg).hexdigest())
cache = cache_module.FrameCache(Path(directory), max_bytes_per_camera=2 * size,
                                max_total_bytes=4 * size)
cache.load()
cache.put(Frame(jpeg, provenance))
print("DONE", flush=True)
"""


def wait_for_output(process: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bytes:
    """Read the child's stdout until the marker appears (or fail after timeout)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"child never printed {marker!r}; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                assert process.stderr is not None
                stderr = process.stderr.read().decode(errors="replace")
                pytest.fail(f"child exited early ({process.wait()}): {stderr}")
            seen += chunk
    return seen


@pytest.mark.parametrize("previous_frame", [False, True])
def test_writer_killed_mid_write_leaves_nothing_served(
    cache_dir: Path, caplog: pytest.LogCaptureFixture, previous_frame: bool
) -> None:
    """SIGKILL during a large write: the partial temp file is never served and is removed."""
    size = 8 * 1024 * 1024
    old = make_frame(captured_at=NOW, seed=1)
    if previous_frame:
        fresh_cache(cache_dir, max_bytes_per_camera=2 * size).put(old)
    process = subprocess.Popen(
        [sys.executable, "-c", CRASH_CHILD, str(cache_dir), CAM_A, FP_1, str(size)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_output(process, b"WRITING\n", timeout=60)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdin, process.stdout, process.stderr):
            assert stream is not None
            stream.close()

    temp_files = [path for path in frame_files(cache_dir) if path.name.endswith(".tmp")]
    assert len(temp_files) == 1, "the child must have died while writing its temp file"
    assert 0 < temp_files[0].stat().st_size < size

    cache = fresh_cache(cache_dir, max_bytes_per_camera=2 * size)
    assert not temp_files[0].exists()
    assert warnings_of(caplog) == []  # a partial write after a crash is expected, not alarming
    served = cache.latest(CAM_A, FP_1)
    if previous_frame:
        assert served == old  # the crash did not damage what was there before
        assert len(frame_files(cache_dir)) == 1
    else:
        assert served is None
        assert frame_files(cache_dir) == []


def test_truncated_files_are_dropped(
    cache: FrameCache, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file cut short anywhere is detected, not served, and deleted."""
    cache.put(make_frame(size=1000))
    (path,) = frame_files(cache_dir)
    full = path.read_bytes()
    for cut in (0, 5, 13, 40, len(full) - 1000, len(full) - 33, len(full) - 32, len(full) - 1):
        path.write_bytes(full[:cut])
        caplog.clear()
        assert fresh_cache(cache_dir).latest(CAM_A, FP_1) is None, cut
        assert not path.exists(), cut
        assert warnings_of(caplog), cut
    # The untouched file is still good (so the cuts, not the setup, were the problem).
    path.write_bytes(full)
    assert fresh_cache(cache_dir).latest(CAM_A, FP_1) is not None


def test_bit_flip_is_detected(cache: FrameCache, cache_dir: Path) -> None:
    """A single changed byte anywhere in the file makes it invalid."""
    cache.put(make_frame(size=300))
    (path,) = frame_files(cache_dir)
    full = path.read_bytes()
    for offset in (0, 9, 20, len(full) // 2, len(full) - 40, len(full) - 1):
        flipped = bytearray(full)
        flipped[offset] ^= 0x01
        path.write_bytes(bytes(flipped))
        assert fresh_cache(cache_dir).latest(CAM_A, FP_1) is None, offset
        assert not path.exists(), offset


def _valid_parts() -> tuple[Frame, dict[str, Any]]:
    frame = make_frame(size=300)
    return frame, header_of(frame)


@pytest.mark.parametrize(
    ("name", "build", "reason"),
    [
        ("x.frame", lambda f, h: craft_file(h, f.jpeg), None),
        ("x.frame", lambda f, h: os.urandom(600), "not a frame file"),
        ("x.frame", lambda f, h: b"", "truncated"),
        ("x.frame", lambda f, h: craft_file(h, f.jpeg, magic=b"NOTFRAME"), "not a frame file"),
        ("x.frame", lambda f, h: craft_file(h, f.jpeg, version=2), "version 2"),
        (
            "x.frame",
            lambda f, h: craft_file(None, f.jpeg, raw_header=b"{" * 5000),
            "header length",
        ),
        ("x.frame", lambda f, h: craft_file(None, f.jpeg, raw_header=b"{nope"), "malformed"),
        ("x.frame", lambda f, h: craft_file([1, 2], f.jpeg), "malformed"),
        ("x.frame", lambda f, h: craft_file({**h, "extra": 1}, f.jpeg), "malformed"),
        ("x.frame", lambda f, h: craft_file({**h, "width": True}, f.jpeg), "malformed"),
        ("x.frame", lambda f, h: craft_file({**h, "width": "1920"}, f.jpeg), "malformed"),
        ("x.frame", lambda f, h: craft_file({**h, "camera_id": 7}, f.jpeg), "malformed"),
        ("x.frame", lambda f, h: craft_file({**h, "captured_at": "now"}, f.jpeg), "malformed"),
        ("x.frame", lambda f, h: craft_file({**h, "sha256": "ABC"}, f.jpeg), "malformed"),
        ("x.frame", lambda f, h: craft_file({**h, "size": 299}, f.jpeg), "length"),
        ("x.frame", lambda f, h: craft_file(h, jpeg_bytes(300, seed=9)), "sha256"),
        ("x.frame", lambda f, h: craft_file({**h, "height": 0}, f.jpeg), "dimensions"),
        ("x.frame", lambda f, h: craft_file(h, f.jpeg) + b"\x00" * 10000, "file too large"),
        (
            "x.frame",
            lambda f, h: craft_file(header_of(big := make_frame(size=4100)), big.jpeg),
            "it is too large",
        ),
        ("x.bin", lambda f, h: craft_file(h, f.jpeg), "not a cache file"),
    ],
)
def test_invalid_files_are_dropped(
    cache: FrameCache,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
    build: Any,
    reason: str | None,
) -> None:
    """Only files that parse and verify completely are served; the rest are deleted."""
    frame, header = _valid_parts()
    cache.put(make_frame(CAM_A, captured_at=NOW - 100, seed=5))
    (camera_dir,) = camera_dirs(cache_dir)
    path = camera_dir / name
    path.write_bytes(build(frame, header))
    reloaded = fresh_cache(cache_dir, max_bytes_per_camera=4000)
    if reason is None:  # control: the independent encoder agrees with the cache's format
        assert reloaded.latest(CAM_A, FP_1) == frame
        assert path.exists()
        return
    assert reloaded.latest(CAM_A, FP_1) != frame
    assert reloaded.stats().total_frames == 1  # the older valid frame survives
    assert not path.exists()
    assert any(reason in message for message in warnings_of(caplog)), warnings_of(caplog)


def test_foreign_file_is_dropped(
    cache: FrameCache, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A valid file copied into another camera's folder is never served for either."""
    a = make_frame(CAM_A, seed=1)
    b = make_frame(CAM_B, captured_at=NOW - 10, seed=2)
    cache.put(a)
    cache.put(b)
    dirs = {path.parent for path in frame_files(cache_dir)}
    (a_file,) = [path for path in frame_files(cache_dir) if path.read_bytes().find(a.jpeg) > 0]
    (b_dir,) = dirs - {a_file.parent}
    foreign = b_dir / ("0" * 32 + ".frame")
    shutil.copyfile(a_file, foreign)
    reloaded = fresh_cache(cache_dir)
    assert reloaded.latest(CAM_B, FP_1) == b
    assert reloaded.latest(CAM_A, FP_1) == a  # the original, from its own folder
    assert not foreign.exists()
    assert any("belongs to camera" in message for message in warnings_of(caplog))
    # Moved rather than copied: camera A has nothing, camera B still only its own.
    a_file.rename(foreign)
    reloaded = fresh_cache(cache_dir)
    assert reloaded.latest(CAM_A, FP_1) is None
    assert reloaded.latest(CAM_B, FP_1) == b
    assert not foreign.exists()


def test_symlink_in_camera_folder_is_not_followed(cache: FrameCache, cache_dir: Path) -> None:
    """A symlink planted in a camera folder is removed, its target left alone."""
    cache.put(make_frame(CAM_A, seed=1))
    cache.put(make_frame(CAM_B, seed=2))
    (b_file,) = [p for p in frame_files(cache_dir) if p.read_bytes().find(jpeg_bytes(200, 2)) > 0]
    (a_dir,) = {p.parent for p in frame_files(cache_dir)} - {b_file.parent}
    link = a_dir / "link.frame"
    link.symlink_to(b_file)
    reloaded = fresh_cache(cache_dir)
    assert not link.is_symlink()
    assert b_file.exists()
    assert reloaded.stats().total_frames == 2


def test_camera_folder_symlinks_are_never_followed(
    cache: FrameCache, cache_dir: Path, tmp_path: Path
) -> None:
    """A camera folder replaced by a symlink is removed, not written or deleted through."""
    cache.put(make_frame(seed=1))
    (camera_dir,) = camera_dirs(cache_dir)
    elsewhere = tmp_path / "elsewhere"
    camera_dir.rename(elsewhere)
    camera_dir.symlink_to(elsewhere, target_is_directory=True)
    kept = sorted(elsewhere.iterdir())
    frame = make_frame(seed=2)
    cache.put(frame)
    assert not camera_dir.is_symlink()
    assert sorted(elsewhere.iterdir()) == kept
    assert cache.latest(CAM_A, FP_1) == frame
    cache.invalidate(CAM_A)
    camera_dir.symlink_to(elsewhere, target_is_directory=True)
    cache.invalidate(CAM_A)
    assert not camera_dir.is_symlink()
    assert sorted(elsewhere.iterdir()) == kept


def test_unexpected_entries_in_the_directory(cache: FrameCache, cache_dir: Path) -> None:
    """Our own namespace is cleaned; anything else in the directory is left alone."""
    cache.put(make_frame())
    (camera_dir,) = camera_dirs(cache_dir)
    (cache_dir / "README").write_text("not ours")
    (cache_dir / "other").mkdir()
    stray = cache_dir / ("cam-" + "f" * 32)
    stray.write_bytes(b"a file where a camera folder should be")
    link = cache_dir / ("cam-" + "e" * 32)
    link.symlink_to(camera_dir, target_is_directory=True)
    nested = camera_dir / "nested.frame"
    nested.mkdir()
    fifo = camera_dir / "fifo.frame"
    os.mkfifo(fifo)
    reloaded = fresh_cache(cache_dir)
    assert reloaded.stats().total_frames == 1
    assert (cache_dir / "README").exists()
    assert (cache_dir / "other").is_dir()
    assert not stray.exists()
    assert not link.is_symlink()
    assert camera_dir.is_dir()
    assert not fifo.exists()
    # A folder inside a camera folder cannot be unlinked: it is reported and left.
    assert nested.is_dir()
    reloaded.invalidate(CAM_A)
    assert nested.is_dir()
    assert reloaded.latest(CAM_A, FP_1) is None


@pytest.mark.parametrize(
    "camera_id",
    ["../x", "a/b", "/etc/passwd", "..", ".", "a\x00b", "c:\\windows", "x" * 1000, "\ud800"],
)
def test_hostile_camera_ids_stay_inside_the_directory(tmp_path: Path, camera_id: str) -> None:
    """A camera id never picks a path: every file lands in a hashed folder of the cache."""
    cache_dir = tmp_path / "snapshots"
    cache = fresh_cache(cache_dir)
    frame = make_frame(camera_id)
    cache.put(frame)
    everything = sorted(path for path in tmp_path.rglob("*") if not path.is_dir())
    assert len(everything) == 1
    (path,) = everything
    assert path.parent.parent == cache_dir
    assert CAMERA_DIR_RE.fullmatch(path.parent.name)
    reloaded = fresh_cache(cache_dir)
    assert reloaded.get(camera_id, FP_1, now=NOW) == frame
    reloaded.invalidate(camera_id)
    assert sorted(tmp_path.rglob("*")) == [cache_dir]


def test_hostile_ids_do_not_collide(cache: FrameCache) -> None:
    """Ids that sanitise alike would collide; hashed folders keep them apart."""
    ids = ["a/b", "a_b", "a-b", "a\\b", "A/B"]
    frames = [make_frame(camera_id, seed=i) for i, camera_id in enumerate(ids)]
    for frame in frames:
        cache.put(frame)
    reloaded = fresh_cache(cache.directory)
    for camera_id, frame in zip(ids, frames, strict=True):
        assert reloaded.latest(camera_id, FP_1) == frame


# --- invalidation ---------------------------------------------------------------------


def test_invalidate(cache: FrameCache, cache_dir: Path) -> None:
    """Forgetting a camera deletes its memory and files, and nothing of the others."""
    a = make_frame(CAM_A, seed=1)
    b = make_frame(CAM_B, seed=2)
    cache.put(a)
    cache.put(b)
    a_dir = {p.parent for p in frame_files(cache_dir) if p.read_bytes().find(a.jpeg) > 0}
    cache.invalidate(CAM_A)
    assert cache.get(CAM_A, FP_1, now=NOW) is None
    assert cache.get(CAM_B, FP_1, now=NOW) == b
    assert not any(path.exists() for path in a_dir)
    assert len(frame_files(cache_dir)) == 1
    reloaded = fresh_cache(cache_dir)
    assert reloaded.latest(CAM_A, FP_1) is None
    assert reloaded.latest(CAM_B, FP_1) == b
    assert reloaded.stats().total_bytes == len(b.jpeg)
    cache.invalidate("never seen")  # unknown cameras are fine


def test_invalidate_drops_pending_deletions(cache: FrameCache, cache_dir: Path) -> None:
    """Files a read discarded are deleted with the camera's folder."""
    frame = make_frame()
    cache.put(frame)
    tamper(frame, jpeg=jpeg_bytes(200, seed=3))
    assert cache.latest(CAM_A, FP_1) is None
    cache.invalidate(CAM_A)
    assert frame_files(cache_dir) == []
    cache.purge()


def test_clear(cache: FrameCache, cache_dir: Path) -> None:
    """clear forgets everything and deletes every camera folder, nothing else."""
    for camera_id in (CAM_A, CAM_B):
        cache.put(make_frame(camera_id))
    (cache_dir / "README").write_text("not ours")
    cache.clear()
    assert cache.stats().total_frames == 0
    assert cache.latest(CAM_A, FP_1) is None
    assert camera_dirs(cache_dir) == []
    assert (cache_dir / "README").exists()
    FrameCache(cache_dir / "missing").clear()


def test_stats(cache: FrameCache) -> None:
    """stats reports frames, bytes and the newest capture per camera."""
    cache.put(make_frame(CAM_A, captured_at=NOW, size=100, seed=1))
    cache.put(make_frame(CAM_A, captured_at=NOW + 2, size=150, seed=2))
    cache.put(make_frame(CAM_B, captured_at=NOW + 1, size=300, seed=3))
    stats = cache.stats()
    assert stats.total_frames == 3
    assert stats.total_bytes == 550
    assert [(c.camera_id, c.frames, c.bytes, c.newest_captured_at) for c in stats.cameras] == [
        (CAM_A, 2, 250, NOW + 2),
        (CAM_B, 1, 300, NOW + 1),
    ]


# --- threads ----------------------------------------------------------------------------


def test_concurrent_put_and_get(cache_dir: Path) -> None:
    """Writers in executor threads and readers elsewhere never see another camera's frame."""
    cache = fresh_cache(cache_dir, max_frames_per_camera=2, max_total_bytes=4000)
    cameras = [CAM_A, CAM_B, CAM_C]
    rounds = 40
    errors: list[BaseException] = []
    served: dict[str, int] = dict.fromkeys(cameras, 0)
    start = threading.Barrier(len(cameras) * 2)

    def writer(camera_id: str) -> None:
        try:
            start.wait(timeout=30)
            for i in range(rounds):
                cache.put(make_frame(camera_id, captured_at=NOW + i, size=700, seed=i))
        except BaseException as err:  # reported below, in the test's thread
            errors.append(err)

    def reader(camera_id: str) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(rounds * 5):
                frame = cache.latest(camera_id, FP_1)
                if frame is not None:
                    assert frame.provenance.camera_id == camera_id
                    assert frame.is_intact()
                    served[camera_id] += 1
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(c,)) for c in cameras]
    threads += [threading.Thread(target=reader, args=(c,)) for c in cameras]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    stats = cache.stats()
    assert stats.total_bytes <= 4000
    assert all(camera.frames <= 2 for camera in stats.cameras)
    # Memory and disk agree after the dust settles.
    reloaded = fresh_cache(cache_dir, max_frames_per_camera=2, max_total_bytes=4000)
    assert set(reloaded.stats().cameras) == set(stats.cameras)
    assert len(frame_files(cache_dir)) == stats.total_frames
    for camera_id in cameras:
        assert reloaded.latest(camera_id, FP_1) == cache.latest(camera_id, FP_1)
