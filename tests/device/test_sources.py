"""Tests of camlib.sources: presets, URL validation, redaction and fingerprints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
import subprocess
import sys
from urllib.parse import unquote, urlsplit

import pytest

from custom_components.xiaomi_cam_bridge.camlib.sources import (
    REDACTED_URL,
    InvalidSource,
    SourcePreset,
    build_url,
    fingerprint,
    redact_url,
    validate_url,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "192.168.1.20"


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (SourcePreset.DAFANG, "rtsp://192.168.1.20:8554/unicast"),
        (SourcePreset.MIJIA_720P_HACK, "rtsp://192.168.1.20/live/ch00_0"),
        (SourcePreset.YI_HACK, "rtsp://192.168.1.20/ch0_0.h264"),
        ("dafang", "rtsp://192.168.1.20:8554/unicast"),
    ],
)
def test_camera_presets(preset: SourcePreset | str, expected: str) -> None:
    """Firmware presets point at the camera's own RTSP server."""
    assert build_url(preset, HOST) == expected


def test_go2rtc_preset_uses_its_own_host_and_name() -> None:
    """A go2rtc restream lives on the go2rtc host; the stream name is one path segment."""
    assert build_url(SourcePreset.GO2RTC, HOST, go2rtc_host="10.0.0.2", name="hall") == (
        "rtsp://10.0.0.2:8554/hall"
    )
    assert build_url(SourcePreset.GO2RTC, HOST, go2rtc_host="nas.local", name="a b/c") == (
        "rtsp://nas.local:8554/a%20b%2Fc"
    )


def test_none_preset_has_no_url() -> None:
    """The controls-only preset has no video source."""
    assert build_url(SourcePreset.NONE, HOST, username="u", password="p") is None


def test_ipv6_host_is_bracketed() -> None:
    """An IPv6 camera address is written in brackets, in canonical form."""
    assert build_url(SourcePreset.DAFANG, "fd00:0:0::0001") == "rtsp://[fd00::1]:8554/unicast"
    assert build_url(SourcePreset.YI_HACK, "[::1]") == "rtsp://[::1]/ch0_0.h264"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("admin", "secret"),
        ("ad:min", "p@ss/w:rd%#?"),
        ("üser", "pässwörd with spaces"),
        ("root", "%41%"),
    ],
)
def test_credentials_are_percent_encoded(username: str, password: str) -> None:
    """Any character survives the trip into the URL and back."""
    url = build_url(SourcePreset.DAFANG, HOST, username=username, password=password)
    assert url is not None
    parts = urlsplit(url)
    assert parts.hostname == HOST
    assert parts.port == 8554
    assert parts.path == "/unicast"
    assert unquote(parts.username or "") == username
    assert unquote(parts.password or "") == password
    assert validate_url(url) == url


def test_username_without_password() -> None:
    """A user alone goes into the URL without a colon."""
    assert build_url(SourcePreset.MIJIA_720P_HACK, HOST, username="viewer") == (
        "rtsp://viewer@192.168.1.20/live/ch00_0"
    )


def test_password_without_username_is_refused() -> None:
    """A password alone cannot be expressed in an RTSP URL."""
    with pytest.raises(InvalidSource, match=r"^password_without_username$"):
        build_url(SourcePreset.DAFANG, HOST, password="secret")


def test_custom_url_keeps_or_replaces_credentials() -> None:
    """Credentials given separately replace those typed into a custom URL."""
    typed = "  rtsps://old:creds@Cam.Example:7447/stream?channel=1  "
    assert build_url(SourcePreset.CUSTOM, HOST, custom_url=typed) == typed.strip()
    replaced = build_url(
        SourcePreset.CUSTOM, HOST, custom_url=typed, username="new", password="p:w"
    )
    assert replaced == "rtsps://new:p%3Aw@Cam.Example:7447/stream?channel=1"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"preset": SourcePreset.CUSTOM}, "missing_url"),
        ({"preset": SourcePreset.CUSTOM, "custom_url": "http://cam/x"}, "invalid_scheme"),
        ({"preset": SourcePreset.GO2RTC, "name": "hall"}, "missing_host"),
        ({"preset": SourcePreset.GO2RTC, "go2rtc_host": "nas"}, "missing_name"),
        ({"preset": SourcePreset.GO2RTC, "go2rtc_host": "nas", "name": "  "}, "missing_name"),
        ({"preset": SourcePreset.DAFANG, "host": ""}, "missing_host"),
        ({"preset": SourcePreset.DAFANG, "host": "cam:554"}, "invalid_host"),
        ({"preset": SourcePreset.DAFANG, "host": "a/b"}, "invalid_host"),
        ({"preset": SourcePreset.DAFANG, "host": "u@cam"}, "invalid_host"),
        ({"preset": SourcePreset.DAFANG, "host": "[cam]"}, "invalid_host"),
        ({"preset": SourcePreset.DAFANG, "host": "-cam"}, "invalid_host"),
    ],
)
def test_build_url_reasons(kwargs: dict[str, str], reason: str) -> None:
    """Unusable settings raise a ValueError whose message is a stable reason key."""
    preset = kwargs.pop("preset")
    host = kwargs.pop("host", HOST)
    with pytest.raises(ValueError, match=f"^{reason}$") as err:
        build_url(preset, host, **kwargs)
    assert isinstance(err.value, InvalidSource)
    assert err.value.reason == reason


def test_unknown_preset_is_refused() -> None:
    """Only the known presets exist."""
    with pytest.raises(ValueError, match="hikvision"):
        build_url("hikvision", HOST)


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://cam/x",
        "RTSPS://user:pw@cam.local:322/live?ch=1",
        "rtsp://[::1]:8554/test",
        "rtsp://127.0.0.1:8554/test",
        "rtsp://user:@cam/x",
    ],
)
def test_validate_url_accepts(url: str) -> None:
    """Well-formed RTSP(S) URLs pass unchanged."""
    assert validate_url(f" {url}\t") == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "missing_url"),
        ("   ", "missing_url"),
        ("rtsp://" + "a" * 2050, "url_too_long"),
        ("http://cam/x", "invalid_scheme"),
        ("cam/x", "invalid_scheme"),
        ("file:///etc/passwd", "invalid_scheme"),
        ("rtsp:///x", "missing_host"),
        ("rtsp://user:pw@/x", "missing_host"),
        ("rtsp:cam/x", "missing_host"),
        ("rtsp://cam:0/x", "invalid_port"),
        ("rtsp://cam:99999/x", "invalid_port"),
        ("rtsp://cam:port/x", "invalid_port"),
        ("rtsp://cam:/x", "invalid_port"),
        ("rtsp://:pw@cam/x", "password_without_username"),
        ("rtsp://cam name/x", "invalid_url"),
        ("rtsp://cam/x\ny", "invalid_url"),
        ("rtsp://cäm/x", "invalid_url"),
        ("rtsp://[::1/x", "invalid_url"),
        ("rtsp://a..b/x", "invalid_host"),
        ("rtsp://a_b%2f/x", "invalid_host"),
    ],
)
def test_validate_url_reasons(url: str, reason: str) -> None:
    """Each kind of unusable URL has its own reason; the message never holds the URL."""
    with pytest.raises(InvalidSource) as err:
        validate_url(url)
    assert str(err.value) == reason
    assert err.value.reason == reason


def test_validate_url_rejects_non_strings() -> None:
    """A missing value (None from a form) is reported, not crashed on."""
    with pytest.raises(InvalidSource, match="missing_url"):
        validate_url(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://user:pass@cam/x", "rtsp://***:***@cam/x"),
        ("rtsp://user@cam:554/x", "rtsp://***@cam:554/x"),
        ("rtsp://user:@cam/x", "rtsp://***:***@cam/x"),
        ("rtsp://cam/x", "rtsp://cam/x"),
        ("rtsp://u:p@[::1]:8554/x", "rtsp://***:***@[::1]:8554/x"),
        ("rtsp://u:p%40ss@cam/x?channel=1&subtype=0", "rtsp://***:***@cam/x?channel=1&subtype=0"),
        ("rtsp://cam/x?user=admin&password=hunter2", "rtsp://cam/x?user=***&password=***"),
        ("rtsp://cam/x?ch=1&token=abc&pwd=def", "rtsp://cam/x?ch=1&token=***&pwd=***"),
        (
            "rtsp://cam:554/user=admin&password=hunter2&channel=1&stream=0.sdp",
            "rtsp://cam:554/user=***&password=***&channel=1&stream=0.sdp",
        ),
        ("rtsp://a:b@c@cam/x#frag", "rtsp://***:***@cam/x"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """User, password and secret-looking parameters are masked; the rest stays useful."""
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "admin:hunter2@cam/x",
        "rtsp:/admin:hunter2@cam/x",
        "rtsp:admin:hunter2@cam",
        "rtsp://admin:hunter2@[::1/x",
        "rtsp://admin:hunter2@cam:99999/x",
        "rtsp://admin:hunter2@cam:port/x",
        "rtsp://admin:hunter2@cam/x\nnext line",
        "rtsp://admin:hunter2 @cam/x",
        "rtsp://admin:hünter2@cam/x",
        "//admin:hunter2@cam/x",
        None,
        b"rtsp://admin:hunter2@cam/x",
        42,
    ],
)
def test_redact_malformed_url_never_raises(url: object) -> None:
    """Anything that does not parse becomes a fully redacted placeholder."""
    assert redact_url(url) == REDACTED_URL  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "variants",
    [
        ("rtsp://cam/x", "RTSP://CAM/x", "rtsp://cam:554/x", " rtsp://Cam:554/x "),
        ("rtsp://cam", "rtsp://cam/", "rtsp://cam:554/"),
        ("rtsps://cam/x", "rtsps://cam:322/x"),
        ("rtsp://u:p@cam/x", "rtsp://u:%70@cam:554/x", "rtsp://%75:p@CAM/x"),
        ("rtsp://[::1]/x", "rtsp://[0:0::1]:554/x"),
        ("rtsp://cam/x", "rtsp://cam/x#fragment"),
    ],
)
def test_fingerprint_normalises(variants: tuple[str, ...]) -> None:
    """Spellings of the same source share one fingerprint."""
    prints = {fingerprint(url) for url in variants}
    assert len(prints) == 1


def test_fingerprint_distinguishes_sources() -> None:
    """Any change that reaches another stream, or uses other credentials, changes it."""
    urls = [
        "rtsp://cam/x",
        "rtsps://cam/x",
        "rtsp://cam2/x",
        "rtsp://cam:8554/x",
        "rtsp://cam/y",
        "rtsp://cam/X",
        "rtsp://cam/x?ch=1",
        "rtsp://u@cam/x",
        "rtsp://u:@cam/x",
        "rtsp://u:p@cam/x",
        "rtsp://u:q@cam/x",
        "rtsp://v:p@cam/x",
    ]
    prints = [fingerprint(url) for url in urls]
    assert len(set(prints)) == len(urls)


def test_fingerprint_does_not_reveal_credentials() -> None:
    """The digest is hex and not a plain hash a password list could be run against."""
    url = "rtsp://admin:hunter2@192.168.1.20:554/live/ch00_0"
    digest = fingerprint(url)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert "hunter2" not in digest
    assert "admin" not in digest
    for plain in (url, url.lower(), url + "\n"):
        assert digest != hashlib.sha256(plain.encode()).hexdigest()


def test_fingerprint_is_stable_across_processes() -> None:
    """Persisted cache files stay valid after a restart (no per-process hash seed)."""
    url = "rtsp://admin:hunter2@cam:8554/unicast"
    script = (
        "import sys\n"
        "from custom_components.xiaomi_cam_bridge.camlib.sources import fingerprint\n"
        "print(fingerprint(sys.argv[1]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script, url],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == fingerprint(url)


@pytest.mark.parametrize("url", ["http://cam/x", "", "rtsp://cam:0/x"])
def test_fingerprint_of_invalid_url_raises(url: str) -> None:
    """Only usable sources have a fingerprint."""
    with pytest.raises(InvalidSource):
        fingerprint(url)
