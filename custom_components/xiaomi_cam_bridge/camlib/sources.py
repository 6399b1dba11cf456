"""RTSP source presets, URL validation, credential redaction and source fingerprints.

A camera's video source is an RTSP URL, usually served by community firmware on the
camera itself (Dafang hacks, mijia-720p-hack, yi-hack) or by a go2rtc restream. The
URL may carry credentials, so it is never logged as is: use `redact_url`. The
`fingerprint` identifies a source in the snapshot cache's provenance records without
revealing the URL or its credentials.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
import hashlib
import ipaddress
import re
from typing import Final
from urllib.parse import SplitResult, quote, unquote, urlsplit


class SourcePreset(StrEnum):
    """Where a camera's video comes from (the value stored in the entry options)."""

    DAFANG = "dafang"
    MIJIA_720P_HACK = "mijia_720p_hack"
    YI_HACK = "yi_hack"
    GO2RTC = "go2rtc"
    CUSTOM = "custom"
    NONE = "none"  # controls only, no video


# `{host}` is the camera's address; the go2rtc template uses its own host and stream name.
PRESET_TEMPLATES: Final[dict[SourcePreset, str]] = {
    SourcePreset.DAFANG: "rtsp://{auth}{host}:8554/unicast",
    SourcePreset.MIJIA_720P_HACK: "rtsp://{auth}{host}/live/ch00_0",
    SourcePreset.YI_HACK: "rtsp://{auth}{host}/ch0_0.h264",
    SourcePreset.GO2RTC: "rtsp://{auth}{host}:8554/{name}",
}

SCHEMES: Final = frozenset({"rtsp", "rtsps"})
# RFC 2326 / RFC 7826 default ports; made explicit so "h" and "h:554" fingerprint alike.
DEFAULT_PORTS: Final[dict[str, int]] = {"rtsp": 554, "rtsps": 322}
MAX_URL_LENGTH: Final = 2048
REDACTED_URL: Final = "**REDACTED**"

# Reason keys carried by InvalidSource (the config flow maps them to translated errors).
REASON_MISSING_URL: Final = "missing_url"
REASON_URL_TOO_LONG: Final = "url_too_long"
REASON_INVALID_URL: Final = "invalid_url"
REASON_INVALID_SCHEME: Final = "invalid_scheme"
REASON_MISSING_HOST: Final = "missing_host"
REASON_INVALID_HOST: Final = "invalid_host"
REASON_INVALID_PORT: Final = "invalid_port"
REASON_MISSING_NAME: Final = "missing_name"
REASON_PASSWORD_WITHOUT_USERNAME: Final = "password_without_username"

# Key stretching makes guessing a weak camera password from a published fingerprint
# (diagnostics, cache files) expensive; results are memoised, so it is paid once per URL.
_FINGERPRINT_SALT: Final = b"xiaomi_cam_bridge/source-fingerprint/v1"
_FINGERPRINT_ITERATIONS: Final = 50_000

_HOSTNAME_RE: Final = re.compile(
    r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?"
)
# key=value pairs whose value is likely a secret, in a query or in a path (some cameras
# take "/user=admin&password=x&channel=1" as the path).
_SECRET_PARAM_RE: Final = re.compile(
    r"(?i)(?P<key>[^=&;/?]*(?:user|pass|pwd|token|secret|key|auth|sig|cred)[^=&;/?]*=)"
    r"[^&;/?#]*"
)


class InvalidSource(ValueError):
    """A source setting is unusable; `reason` (also the message) is a stable key."""

    def __init__(self, reason: str) -> None:
        """Keep only the reason: the message must never contain the URL."""
        super().__init__(reason)
        self.reason = reason


def build_url(
    preset: SourcePreset | str,
    host: str,
    *,
    go2rtc_host: str | None = None,
    name: str | None = None,
    custom_url: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> str | None:
    """Return the RTSP URL of a preset, with credentials, or None for `NONE`.

    `host` is the camera's address (ignored by `GO2RTC` and `CUSTOM`). Credentials given
    here replace any in `custom_url`. Raises InvalidSource (a ValueError) on bad input.
    """
    preset = SourcePreset(preset)
    if preset is SourcePreset.NONE:
        return None
    auth = _userinfo(username, password)
    if preset is SourcePreset.CUSTOM:
        url = validate_url(custom_url or "")
        if auth:
            parts = urlsplit(url)
            hostport = parts.netloc.rpartition("@")[2]
            url = parts._replace(netloc=f"{auth}{hostport}").geturl()
        return validate_url(url)
    if preset is SourcePreset.GO2RTC:
        if not name or not name.strip():
            raise InvalidSource(REASON_MISSING_NAME)
        url_host = _url_host(go2rtc_host or "")
        stream = quote(name.strip(), safe="")
    else:
        url_host = _url_host(host)
        stream = ""
    return validate_url(PRESET_TEMPLATES[preset].format(auth=auth, host=url_host, name=stream))


def validate_url(url: str) -> str:
    """Return the URL stripped of surrounding blanks if it is a usable RTSP(S) URL.

    Raises InvalidSource (a ValueError) whose message is one of the REASON_* keys.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidSource(REASON_MISSING_URL)
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidSource(REASON_URL_TOO_LONG)
    if not _is_plain_ascii(url):
        raise InvalidSource(REASON_INVALID_URL)
    try:
        parts = urlsplit(url)
    except ValueError as err:  # e.g. an unbalanced IPv6 bracket
        raise InvalidSource(REASON_INVALID_URL) from err
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidSource(REASON_INVALID_SCHEME)
    hostport = parts.netloc.rpartition("@")[2]
    if not hostport or not parts.hostname:
        raise InvalidSource(REASON_MISSING_HOST)
    try:
        port = parts.port
    except ValueError as err:
        raise InvalidSource(REASON_INVALID_PORT) from err
    if port == 0 or hostport.endswith(":"):
        raise InvalidSource(REASON_INVALID_PORT)
    if parts.password is not None and not parts.username:
        raise InvalidSource(REASON_PASSWORD_WITHOUT_USERNAME)
    _url_host(parts.hostname)  # raises for characters a host cannot have
    return url


def redact_url(url: str) -> str:
    """Return the URL with user, password and secret-looking parameters masked.

    Never raises: anything that does not parse as `scheme://authority...` becomes
    REDACTED_URL, since there is no telling where a secret might sit in it.
    """
    try:
        return _redact(url)
    except Exception:  # noqa: BLE001  # redaction must never fail, whatever the input
        return REDACTED_URL


def fingerprint(url: str) -> str:
    """Return a stable hex digest identifying the source, credentials included.

    The URL is validated (InvalidSource on failure) and normalised first: scheme and
    host lowercased, default port explicit, empty path as "/", percent-encoding of the
    credentials canonical, fragment dropped. Different credentials give a different
    fingerprint, but the digest is key-stretched so it does not reveal them.
    """
    return _fingerprint_normalised(_normalise(validate_url(url)))


@lru_cache(maxsize=64)
def _fingerprint_normalised(normalised: str) -> str:
    return hashlib.pbkdf2_hmac(
        "sha256", normalised.encode(), _FINGERPRINT_SALT, _FINGERPRINT_ITERATIONS
    ).hex()


def _normalise(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = _url_host(parts.hostname or "").lower().rstrip(".")
    port = parts.port or DEFAULT_PORTS[scheme]
    userinfo = ""
    if parts.username or parts.password:
        userinfo = quote(unquote(parts.username or ""), safe="")
        if parts.password is not None:
            userinfo += ":" + quote(unquote(parts.password), safe="")
        userinfo += "@"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{userinfo}{host}:{port}{parts.path or '/'}{query}"


def _userinfo(username: str | None, password: str | None) -> str:
    """Return `user:pass@` percent-encoded so any character survives, or ""."""
    if not username:
        if password:
            raise InvalidSource(REASON_PASSWORD_WITHOUT_USERNAME)
        return ""
    auth = quote(username, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    return auth + "@"


def _url_host(host: str) -> str:
    """Return the host as it goes into a URL (IPv6 bracketed, IP literals canonical)."""
    host = host.strip() if isinstance(host, str) else ""
    if not host:
        raise InvalidSource(REASON_MISSING_HOST)
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        address = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        if bracketed or not _HOSTNAME_RE.fullmatch(host):
            raise InvalidSource(REASON_INVALID_HOST) from None
        return host
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def _is_plain_ascii(text: str) -> bool:
    """Return True for printable ASCII without blanks: nothing that could hide in a log line."""
    return all(0x20 < ord(char) < 0x7F for char in text)


def _redact(url: str) -> str:
    if not isinstance(url, str) or not _is_plain_ascii(url):
        return REDACTED_URL
    parts: SplitResult = urlsplit(url)
    if not parts.scheme or not parts.netloc or not url[len(parts.scheme) :].startswith("://"):
        return REDACTED_URL
    _ = parts.port  # raises ValueError for a malformed port -> fully redacted
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = hostport
    if at:
        netloc = ("***:***@" if ":" in userinfo else "***@") + hostport
    path = _SECRET_PARAM_RE.sub(r"\g<key>***", parts.path)
    query = _SECRET_PARAM_RE.sub(r"\g<key>***", parts.query)
    return f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "")
