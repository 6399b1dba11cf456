"""A provenance-checked, bounded, persisted cache of camera stills.

Every frame carries its Provenance (camera id, source fingerprint, capture time, size,
sha256). It is checked again on every read against what the asker expects; a frame that
does not match is dropped and logged, never served. Frames are kept per camera with
per-camera and global bounds (least recently used camera evicted first) and persisted,
one file per frame, so a restart can still show the last still.

File format (all integers big endian)::

    magic b"XCBFRAME" | version u8 | header length u32 | header (JSON) | JPEG | sha256

The trailing sha256 covers everything before it, so a truncated or altered file is
detected. Files are written atomically (temp file, fsync, rename, fsync of the folder).
Each camera has its own folder named from a hash of its id, so no camera id can escape
the cache directory, and a file copied into another camera's folder is recognised as
foreign by its header.

`get` and `latest` only touch memory (they are called from the event loop); files of
frames they discard are deleted by the next method that does file I/O.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
import hashlib
import json
import logging
import math
import os
from pathlib import Path
import re
import secrets
import stat
import struct
import threading
import time
from typing import Any, Final

from .frame import Frame, Provenance

_LOGGER = logging.getLogger(__name__)

MiB: Final = 1024 * 1024
MAGIC: Final = b"XCBFRAME"
FORMAT_VERSION: Final = 1
FRAME_SUFFIX: Final = ".frame"
TEMP_SUFFIX: Final = ".tmp"
MAX_HEADER_BYTES: Final = 4096
MAX_DIMENSION: Final = 16384
# A frame stamped this far in the future (clock stepped back) does not count as recent.
CLOCK_SKEW: Final = 5.0

_PREFIX: Final = struct.Struct(">8sBI")
_CHECKSUM_BYTES: Final = 32
_CAMERA_DIR_RE: Final = re.compile(r"cam-[0-9a-f]{32}")
_SHA256_HEX_RE: Final = re.compile(r"[0-9a-f]{64}")
_HEADER_KEYS: Final = frozenset(
    {"camera_id", "source_fingerprint", "captured_at", "width", "height", "sha256", "size"}
)
_DIR_MODE: Final = 0o700
_FILE_MODE: Final = 0o600


@dataclass(frozen=True, slots=True)
class CameraCacheStats:
    """What the cache holds for one camera."""

    camera_id: str
    frames: int
    bytes: int
    newest_captured_at: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What the cache holds; `cameras` is ordered least recently used first."""

    cameras: tuple[CameraCacheStats, ...]
    total_frames: int
    total_bytes: int


@dataclass(slots=True, eq=False)  # eq=False: entries are compared by identity
class _Entry:
    frame: Frame
    size: int
    path: Path | None  # None when persisting failed: kept in memory only


@dataclass(slots=True)
class _Slot:
    entries: list[_Entry]  # oldest capture first
    size: int = 0


class FrameCache:
    """Frames by camera id, served only to an asker whose provenance they match.

    Methods that do file I/O (`load`, `put`, `invalidate`, `clear`,
    `purge`) block: call them in an executor. `get`, `latest` and `stats` only touch
    memory and are safe to call from the event loop.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_frames_per_camera: int = 2,
        max_bytes_per_camera: int = 4 * MiB,
        max_total_bytes: int = 32 * MiB,
        max_age: float = 30.0,
    ) -> None:
        """Set the bounds; no file I/O happens until `load` or `put`."""
        if max_frames_per_camera < 1 or max_bytes_per_camera < 1 or max_total_bytes < 1:
            raise ValueError("cache bounds must be positive")
        if not max_age >= 0:
            raise ValueError("max_age must be a non-negative number")
        self._directory = Path(directory)
        self._max_frames = max_frames_per_camera
        self._max_camera_bytes = max_bytes_per_camera
        self._max_total_bytes = max_total_bytes
        self._max_age = max_age
        # Guards the memory structures; held briefly, never during file I/O or hashing.
        self._lock = threading.Lock()
        # Serialises file I/O so a put cannot race an invalidate of the same camera.
        self._io_lock = threading.Lock()
        self._cameras: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._total_bytes = 0
        self._doomed: set[Path] = set()  # files of frames dropped by get / latest

    @property
    def directory(self) -> Path:
        """The folder the frames are persisted in."""
        return self._directory

    # --- reads (memory only) -------------------------------------------------------

    def get(
        self,
        camera_id: str,
        source_fingerprint: str,
        *,
        now: float | None = None,
        max_age: float | None = None,
    ) -> Frame | None:
        """Return the newest frame of this camera and source if recent enough, else None."""
        return self._lookup(
            camera_id,
            source_fingerprint,
            time.time() if now is None else now,
            self._max_age if max_age is None else max_age,
        )

    def latest(self, camera_id: str, source_fingerprint: str) -> Frame | None:
        """Return the newest frame of this camera and source, however old."""
        return self._lookup(camera_id, source_fingerprint, None, None)

    def stats(self) -> CacheStats:
        """Return what the cache holds (for diagnostics)."""
        with self._lock:
            cameras = tuple(
                CameraCacheStats(
                    camera_id=camera_id,
                    frames=len(slot.entries),
                    bytes=slot.size,
                    newest_captured_at=slot.entries[-1].frame.provenance.captured_at,
                )
                for camera_id, slot in self._cameras.items()
            )
            return CacheStats(
                cameras=cameras,
                total_frames=sum(camera.frames for camera in cameras),
                total_bytes=self._total_bytes,
            )

    def _lookup(
        self,
        camera_id: str,
        source_fingerprint: str,
        now: float | None,
        max_age: float | None,
    ) -> Frame | None:
        with self._lock:
            slot = self._cameras.get(camera_id)
            if slot is None:
                return None
            candidates = slot.entries[::-1]  # newest first
        for entry in candidates:
            provenance = entry.frame.provenance
            if provenance.camera_id != camera_id:
                self._discard(camera_id, entry, "it was recorded for another camera")
                continue
            if provenance.source_fingerprint != source_fingerprint:
                self._discard(camera_id, entry, "it came from another video source")
                continue
            if now is not None and max_age is not None:
                age = now - provenance.captured_at
                if not -CLOCK_SKEW <= age <= max_age:
                    continue
            # Hashing happens outside the lock: it is the slow part of a read.
            problem = _frame_problem(entry.frame, self._max_camera_bytes)
            if problem is None and entry.size != len(entry.frame.jpeg):
                problem = "its size changed"
            if problem is not None:
                self._discard(camera_id, entry, problem)
                continue
            with self._lock:
                if camera_id in self._cameras:
                    self._cameras.move_to_end(camera_id)
            return entry.frame
        return None

    def _discard(self, camera_id: str, entry: _Entry, reason: str) -> None:
        with self._lock:
            slot = self._cameras.get(camera_id)
            if slot is not None and entry in slot.entries:
                self._remove_locked(camera_id, slot, entry)
            if entry.path is not None:
                self._doomed.add(entry.path)
        _LOGGER.warning("Discarded a cached frame of camera %r: %s", camera_id, reason)

    # --- writes (file I/O: call in an executor) --------------------------------------

    def put(self, frame: Frame) -> None:
        """Verify a frame, keep it in memory and persist it atomically.

        Raises ValueError for a frame that is not intact (hash mismatch), not a complete
        JPEG, or has an impossible provenance. A frame larger than the per-camera or
        total bounds is not cached. A failure to write the file is logged and the frame
        kept in memory only.
        """
        problem = _frame_problem(frame, None)
        if problem is not None:
            raise ValueError(f"frame not cached: {problem}")
        size = len(frame.jpeg)
        if size > min(self._max_camera_bytes, self._max_total_bytes):
            _LOGGER.debug("Frame of %d bytes exceeds the cache bounds; not cached", size)
            return
        with self._io_lock:
            self._purge_locked()
            path: Path | None = None
            try:
                path = self._write(frame)
            except OSError as err:
                _LOGGER.warning(
                    "Could not persist a frame of camera %r (%s); keeping it in memory only",
                    frame.provenance.camera_id,
                    err.strerror or type(err).__name__,
                )
            entry = _Entry(frame=frame, size=size, path=path)
            with self._lock:
                dropped = self._insert_locked(entry)
            self._delete_unreferenced(e.path for e in dropped)

    def load(self) -> None:
        """Read the persisted frames, replacing what is in memory.

        Keeps only files that parse, whose checksum and JPEG hash match and that sit in
        their own camera's folder; deletes partial writes and everything invalid. Also
        restores the folder (0700) and file (0600) permissions.
        """
        with self._io_lock:
            _ensure_private_dir(self._directory)
            found: list[_Entry] = []
            for child in sorted(self._directory.iterdir()):
                if not _CAMERA_DIR_RE.fullmatch(child.name):
                    _LOGGER.debug("Ignoring %r in the snapshot directory", child.name)
                    continue
                if child.is_symlink() or not child.is_dir():
                    _LOGGER.warning("Removing %r from the snapshot directory", child.name)
                    _unlink(child)
                    continue
                _ensure_private_dir(child)
                found.extend(self._load_camera_dir(child))
            found.sort(key=lambda entry: entry.frame.provenance.captured_at)
            with self._lock:
                self._cameras.clear()
                self._total_bytes = 0
                self._doomed.clear()
                dropped: list[_Entry] = []
                for entry in found:
                    dropped.extend(self._insert_locked(entry))
            self._delete_unreferenced(e.path for e in dropped)

    def invalidate(self, camera_id: str) -> None:
        """Forget this camera's frames and delete their files (its source changed)."""
        with self._io_lock:
            camera_dir = self._camera_dir(camera_id)
            with self._lock:
                slot = self._cameras.pop(camera_id, None)
                if slot is not None:
                    self._total_bytes -= slot.size
                self._doomed = {path for path in self._doomed if path.parent != camera_dir}
            _remove_dir(camera_dir)

    def clear(self) -> None:
        """Forget every frame and delete every camera folder."""
        with self._io_lock:
            with self._lock:
                self._cameras.clear()
                self._total_bytes = 0
                self._doomed.clear()
            if self._directory.is_dir():
                for child in self._directory.iterdir():
                    if _CAMERA_DIR_RE.fullmatch(child.name):
                        _remove_dir(child)

    def purge(self) -> None:
        """Delete the files of frames that reads have discarded."""
        with self._io_lock:
            self._purge_locked()

    # --- internals ---------------------------------------------------------------------

    def _camera_dir(self, camera_id: str) -> Path:
        # A hash, not the id itself: ids are MACs today, but nothing from outside may
        # choose a path ("../x", "a/b").
        digest = hashlib.sha256(camera_id.encode("utf-8", "surrogatepass")).hexdigest()
        return self._directory / f"cam-{digest[:32]}"

    def _insert_locked(self, entry: _Entry) -> list[_Entry]:
        """Insert under self._lock; return the entries dropped to stay within bounds."""
        provenance = entry.frame.provenance
        camera_id = provenance.camera_id
        dropped: list[_Entry] = []
        existing = self._cameras.get(camera_id)
        if existing is not None:
            # A camera has one source at a time: an older source's frames cannot be
            # served again, and the same frame put twice is stored once.
            dropped = [
                self._remove_locked(camera_id, existing, old)
                for old in list(existing.entries)
                if old.frame.provenance.source_fingerprint != provenance.source_fingerprint
                or old.frame.provenance == provenance
            ]
        slot = self._cameras.get(camera_id)
        if slot is None:
            slot = self._cameras[camera_id] = _Slot(entries=[])
        self._cameras.move_to_end(camera_id)
        bisect.insort(slot.entries, entry, key=lambda e: e.frame.provenance.captured_at)
        slot.size += entry.size
        self._total_bytes += entry.size
        while len(slot.entries) > self._max_frames or slot.size > self._max_camera_bytes:
            dropped.append(self._remove_locked(camera_id, slot, slot.entries[0]))
        while self._total_bytes > self._max_total_bytes:
            lru_id, lru_slot = next(iter(self._cameras.items()))
            dropped.append(self._remove_locked(lru_id, lru_slot, lru_slot.entries[0]))
        return dropped

    def _remove_locked(self, camera_id: str, slot: _Slot, entry: _Entry) -> _Entry:
        slot.entries.remove(entry)
        slot.size -= entry.size
        self._total_bytes -= entry.size
        if not slot.entries:
            del self._cameras[camera_id]
        return entry

    def _delete_unreferenced(self, paths: Iterable[Path | None]) -> None:
        """Delete files no cached frame refers to (call with self._io_lock held)."""
        with self._lock:
            live = {e.path for slot in self._cameras.values() for e in slot.entries}
        for path in {p for p in paths if p is not None} - live:
            _unlink(path)

    def _purge_locked(self) -> None:
        with self._lock:
            doomed, self._doomed = self._doomed, set()
        self._delete_unreferenced(doomed)

    def _write(self, frame: Frame) -> Path:
        camera_dir = self._camera_dir(frame.provenance.camera_id)
        _ensure_private_dir(self._directory)
        if camera_dir.is_symlink():
            camera_dir.unlink()
        _ensure_private_dir(camera_dir)
        name, data = _encode(frame)
        path = camera_dir / name
        _write_atomically(path, data)
        return path

    def _load_camera_dir(self, camera_dir: Path) -> list[_Entry]:
        entries: list[_Entry] = []
        for path in sorted(camera_dir.iterdir()):
            if path.name.endswith(TEMP_SUFFIX):
                _LOGGER.debug("Removing a partial write: %s", path.name)
                _unlink(path)
                continue
            try:
                frame = self._read(path)
            except (OSError, _CorruptFileError) as err:
                _LOGGER.warning("Removing invalid cache file %s: %s", path.name, err)
                _unlink(path)
                continue
            if self._camera_dir(frame.provenance.camera_id) != camera_dir:
                _LOGGER.warning(
                    "Removing cache file %s: it belongs to camera %r, not to this folder",
                    path.name,
                    frame.provenance.camera_id,
                )
                _unlink(path)
                continue
            entries.append(_Entry(frame=frame, size=len(frame.jpeg), path=path))
        return entries

    def _read(self, path: Path) -> Frame:
        if not path.name.endswith(FRAME_SUFFIX):
            raise _CorruptFileError("not a cache file")
        # O_NOFOLLOW: a symlink planted in the folder must not pull in another file;
        # O_NONBLOCK: nor may a FIFO stall the load.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        limit = _PREFIX.size + MAX_HEADER_BYTES + self._max_camera_bytes + _CHECKSUM_BYTES
        fd = os.open(path, flags)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _CorruptFileError("not a regular file")
            if info.st_size > limit:
                raise _CorruptFileError("file too large")
            if stat.S_IMODE(info.st_mode) != _FILE_MODE:
                os.fchmod(fd, _FILE_MODE)
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read(limit + 1)
        finally:
            os.close(fd)
        return _decode(data, self._max_camera_bytes)


class _CorruptFileError(Exception):
    """A cache file that must not be trusted; the message says why."""


def _frame_problem(frame: Frame, max_bytes: int | None) -> str | None:
    """Return why a frame must not be cached or served, or None if it is sound."""
    provenance = frame.provenance
    jpeg = frame.jpeg
    if not provenance.camera_id or not provenance.source_fingerprint:
        return "its provenance has no camera id or source"
    if not math.isfinite(provenance.captured_at):
        return "its capture time is not a number"
    if not (0 < provenance.width <= MAX_DIMENSION and 0 < provenance.height <= MAX_DIMENSION):
        return "its dimensions are impossible"
    if max_bytes is not None and len(jpeg) > max_bytes:
        return "it is too large"
    if len(jpeg) < 4 or not jpeg.startswith(b"\xff\xd8") or not jpeg.endswith(b"\xff\xd9"):
        return "it is not a complete JPEG"
    if not frame.is_intact():
        return "its bytes do not match the recorded sha256"
    return None


def _encode(frame: Frame) -> tuple[str, bytes]:
    """Return the file name and contents for a frame."""
    provenance = frame.provenance
    header = json.dumps(
        {
            "camera_id": provenance.camera_id,
            "source_fingerprint": provenance.source_fingerprint,
            "captured_at": provenance.captured_at,
            "width": provenance.width,
            "height": provenance.height,
            "sha256": provenance.sha256,
            "size": len(frame.jpeg),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)) + header + frame.jpeg
    name = hashlib.sha256(header).hexdigest()[:32] + FRAME_SUFFIX
    return name, body + hashlib.sha256(body).digest()


def _decode(data: bytes, max_bytes: int) -> Frame:
    """Parse and verify a cache file; raise _CorruptFileError on any doubt."""
    if len(data) < _PREFIX.size + _CHECKSUM_BYTES:
        raise _CorruptFileError("truncated")
    magic, version, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise _CorruptFileError("not a frame file")
    if version != FORMAT_VERSION:
        raise _CorruptFileError(f"unsupported format version {version}")
    body_end = len(data) - _CHECKSUM_BYTES
    if header_len > MAX_HEADER_BYTES or _PREFIX.size + header_len > body_end:
        raise _CorruptFileError("truncated or bad header length")
    if hashlib.sha256(data[:body_end]).digest() != data[body_end:]:
        raise _CorruptFileError("checksum mismatch (truncated or altered)")
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + header_len])
        provenance, size = _provenance_from_header(header)
    except (ValueError, TypeError, KeyError) as err:
        raise _CorruptFileError("malformed header") from err
    jpeg = data[_PREFIX.size + header_len : body_end]
    if len(jpeg) != size:
        raise _CorruptFileError("length does not match the header")
    frame = Frame(jpeg=jpeg, provenance=provenance)
    problem = _frame_problem(frame, max_bytes)
    if problem is not None:
        raise _CorruptFileError(problem)
    return frame


def _provenance_from_header(header: Any) -> tuple[Provenance, int]:
    if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
        raise ValueError("unexpected header keys")
    strings = ("camera_id", "source_fingerprint", "sha256")
    integers = ("width", "height", "size")
    if not all(isinstance(header[key], str) for key in strings):
        raise TypeError("header strings")
    # bool is an int subclass; a header with `true` as a width is not ours.
    if not all(type(header[key]) is int for key in integers):
        raise TypeError("header integers")
    captured_at = header["captured_at"]
    if type(captured_at) not in (int, float):
        raise TypeError("header time")
    if not _SHA256_HEX_RE.fullmatch(header["sha256"]):
        raise ValueError("header sha256")
    provenance = Provenance(
        camera_id=header["camera_id"],
        source_fingerprint=header["source_fingerprint"],
        captured_at=float(captured_at),
        width=header["width"],
        height=header["height"],
        sha256=header["sha256"],
    )
    return provenance, header["size"]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a file so that a crash leaves either the old state or the whole new file."""
    temp = path.with_name(f"{path.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, _FILE_MODE)
    try:
        try:
            os.fchmod(fd, _FILE_MODE)  # exact mode whatever the umask
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        _unlink(temp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_private_dir(directory: Path) -> None:
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != _DIR_MODE:
        directory.chmod(_DIR_MODE)


def _remove_dir(directory: Path) -> None:
    """Delete a camera folder and the files in it (nothing outside it, no symlinks)."""
    if directory.is_symlink():
        _unlink(directory)
        return
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.is_dir() and not path.is_symlink():
            _LOGGER.warning("Leaving unexpected folder %s in the snapshot cache", path)
            continue
        _unlink(path)
    try:
        directory.rmdir()
    except OSError as err:
        _LOGGER.debug("Could not remove %s: %s", directory, err.strerror)
        return
    _fsync_dir(directory.parent)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as err:
        _LOGGER.warning("Could not delete %s: %s", path, err.strerror)
