"""Google Assistant and Nest Hub, through Home Assistant's own `google_assistant`.

Home Assistant's google_assistant integration (YAML set-up or Home Assistant Cloud)
talks to Google: a camera entity with a stream gets the CameraStream trait, the power
switch the OnOff trait. This module adds what that integration cannot know:

* exposure: the per-camera option `expose_to_google` exposes the camera and its power
  switch through HA's exposed-entities API (what Home Assistant Cloud reads; a YAML
  set-up lists them under `entity_config` instead);
* an error Google understands (deviceTurnedOff, deviceOffline) when a camera cannot
  stream, instead of an exception that fails the whole request with unknownError;
* repair issues when a Nest Hub could not play a camera's stream (codec) or could not
  reach Home Assistant at the URL Google is given.
"""

from __future__ import annotations

from ipaddress import ip_address
import logging
from typing import Final

from homeassistant.components.google_assistant.const import ERR_DEVICE_OFFLINE
from homeassistant.components.google_assistant.error import SmartHomeError
from homeassistant.components.homeassistant.const import DATA_EXPOSED_ENTITIES
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.const import EVENT_CORE_CONFIG_UPDATE, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.network import is_loopback
from yarl import URL

from .camlib.exceptions import StreamError
from .const import CONF_EXPOSE_TO_GOOGLE, DEFAULT_EXPOSE_TO_GOOGLE, DOMAIN
from .coordinator import XiaomiCamConfigEntry

_LOGGER = logging.getLogger(__name__)

# The assistant id Home Assistant Cloud's Google Assistant reads exposure from.
CLOUD_GOOGLE: Final = "cloud.google_assistant"
# A Google-defined error code ("<device> is off"); HA's google_assistant has no constant.
ERR_DEVICE_TURNED_OFF: Final = "deviceTurnedOff"

# What a Nest Hub (a Cast receiver) plays. HA's stream integration copies the camera's
# video as it is (no transcoding) and keeps only AAC or MP3 audio (it drops the rest).
NEST_HUB_VIDEO_CODECS: Final = frozenset({"h264"})
NEST_HUB_AUDIO_CODECS: Final = frozenset({"aac"})
HA_STREAM_AUDIO_CODECS: Final = frozenset({"aac", "mp3"})
CODEC_NAMES: Final = {"h264": "H.264", "hevc": "H.265 (HEVC)", "mjpeg": "MJPEG", "mp3": "MP3"}

# Names Cast devices cannot resolve: they ask Google's public DNS, not mDNS nor the
# router's local names.
_LOCAL_NAME_SUFFIXES: Final = (
    ".local",
    ".lan",
    ".home",
    ".internal",
    ".localdomain",
    ".home.arpa",
)

URL_ISSUE_ID: Final = "google_url"
LEARN_MORE_URL: Final = (
    "https://github.com/xiaomi-cam-bridge/xiaomi_cam_bridge"
    "#troubleshooting-the-google-repair-issues"
)
# Key in an entity's registry options (under DOMAIN) recording the exposure this
# integration last applied, so a choice the user made since on HA's "Voice assistants"
# page is kept until the option itself changes.
_EXPOSURE_APPLIED: Final = "google_exposure_applied"

# Entries whose cameras are meant for Google (option on), for the one URL issue.
DATA_GOOGLE_ENTRIES: HassKey[dict[str, str]] = HassKey(f"{DOMAIN}_google_entries")


class CameraStreamError(SmartHomeError, HomeAssistantError):
    """A camera cannot stream now.

    A SmartHomeError, so HA's google_assistant answers ERROR with this code for this
    device only; a HomeAssistantError with a translation for every other caller.
    """

    def __init__(self, code: str, translation_key: str, entity_id: str) -> None:
        """Build the error for one camera entity."""
        # SmartHomeError.__init__ only stores the code; HomeAssistantError's chains on
        # to Exception (the next class after it in this MRO).
        HomeAssistantError.__init__(
            self,
            translation_domain=DOMAIN,
            translation_key=translation_key,
            translation_placeholders={"entity_id": entity_id},
        )
        self.code = code


def check_stream_allowed(entity_id: str, *, available: bool, is_on: bool) -> None:
    """Raise CameraStreamError when the camera cannot give a stream now.

    Call it first in Camera.async_create_stream, with the camera's power as is_on. The
    entity itself must keep Camera.is_on True: HA's camera helper refuses an entity
    whose is_on is False with a plain HomeAssistantError ("Camera is off") before asking
    it, and HA's google_assistant turns that into unknownError for every device of the
    request. (HA's camera also returns an existing stream without asking stream_source
    again, so without this check an off camera could hand out a stream that never plays.)
    """
    if not available:
        raise CameraStreamError(ERR_DEVICE_OFFLINE, "camera_offline", entity_id)
    if not is_on:
        raise CameraStreamError(ERR_DEVICE_TURNED_OFF, "camera_off", entity_id)


# -- exposure ----------------------------------------------------------------------------


@callback
def google_registry_entries(
    hass: HomeAssistant, entry: XiaomiCamConfigEntry
) -> list[er.RegistryEntry]:
    """Return the entities Google gets for a camera: the camera and its power switch."""
    power_id = f"{entry.unique_id}_power"
    return [
        reg
        for reg in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if reg.domain == Platform.CAMERA
        or (reg.domain == Platform.SWITCH and reg.unique_id == power_id)
    ]


@callback
def _async_apply_exposure(hass: HomeAssistant, entry: XiaomiCamConfigEntry, expose: bool) -> None:
    if DATA_EXPOSED_ENTITIES not in hass.data:
        # The `homeassistant` integration always runs in a real instance; only a
        # stripped-down test set-up lacks it.
        _LOGGER.debug("Exposed-entities store not loaded; Google exposure left as it is")
        return
    registry = er.async_get(hass)
    for reg in google_registry_entries(hass, entry):
        applied = dict(reg.options.get(DOMAIN, {}))
        if applied.get(_EXPOSURE_APPLIED) == expose:
            continue
        async_expose_entity(hass, CLOUD_GOOGLE, reg.entity_id, expose)
        applied[_EXPOSURE_APPLIED] = expose
        registry.async_update_entity_options(reg.entity_id, DOMAIN, applied)


# -- set-up ------------------------------------------------------------------------------


def wants_google(entry: XiaomiCamConfigEntry) -> bool:
    """Return True when the user marked this camera for Google Assistant."""
    return bool(entry.options.get(CONF_EXPOSE_TO_GOOGLE, DEFAULT_EXPOSE_TO_GOOGLE))


@callback
def async_setup_google(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> None:
    """Apply the Google option of a camera; keep its repair issues up to date.

    Call at the end of async_setup_entry, once the platforms have registered their
    entities. For a camera marked for Google, its stream is probed in the background
    (one short connection) to learn its codecs. Everything is undone when the entry
    unloads.
    """
    expose = wants_google(entry)
    _async_apply_exposure(hass, entry, expose)
    entries = hass.data.setdefault(DATA_GOOGLE_ENTRIES, {})
    if expose:
        entries[entry.entry_id] = entry.title
        entry.async_create_background_task(
            hass, _async_probe_stream(hass, entry), f"{DOMAIN} probe stream of {entry.title}"
        )
    else:
        entries.pop(entry.entry_id, None)
        ir.async_delete_issue(hass, DOMAIN, stream_issue_id(entry))
    async_update_url_issue(hass)

    @callback
    def _core_config_updated(_event: Event) -> None:
        async_update_url_issue(hass)

    entry.async_on_unload(hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, _core_config_updated))
    entry.async_on_unload(lambda: _async_forget_google(hass, entry))


@callback
def _async_forget_google(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> None:
    """Drop a camera's repair issues (unloaded or removed entry)."""
    hass.data.setdefault(DATA_GOOGLE_ENTRIES, {}).pop(entry.entry_id, None)
    ir.async_delete_issue(hass, DOMAIN, stream_issue_id(entry))
    async_update_url_issue(hass)


# -- repair: the URL Google gives the Nest Hub ------------------------------------------


def _host_problem(host: str) -> str | None:
    host = host.rstrip(".").lower()
    try:
        address = ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            return "google_url_loopback"
        if "." not in host or host.endswith(_LOCAL_NAME_SUFFIXES):
            return "google_url_local_name"
        return None
    if is_loopback(address) or address.is_unspecified:
        return "google_url_loopback"
    return None


def nest_hub_url_problem(hass: HomeAssistant) -> tuple[str, str | None] | None:
    """Return (translation key, URL) when a Nest Hub could not reach the stream URL.

    The URL is the one HA's google_assistant puts into cameraStreamAccessUrl:
    get_url(hass) with its defaults. None when it looks reachable from the LAN.
    """
    try:
        url = URL(get_url(hass))
    except NoURLAvailableError:
        return "google_no_url", None
    problem = _host_problem(url.host or "")
    if problem is None:
        return None
    # Never show credentials someone may have typed into a configured URL.
    return problem, str(url.with_user(None).with_password(None))


@callback
def async_update_url_issue(hass: HomeAssistant) -> None:
    """Raise, change or clear the one "Nest Hub cannot reach Home Assistant" issue.

    Only while some camera is marked for Google: a user who does not use Google has no
    reason to change a URL that serves them well.
    """
    entries = hass.data.get(DATA_GOOGLE_ENTRIES)
    problem = nest_hub_url_problem(hass) if entries else None
    if not entries or problem is None:
        ir.async_delete_issue(hass, DOMAIN, URL_ISSUE_ID)
        return
    key, url = problem
    placeholders = {"cameras": ", ".join(sorted(entries.values()))}
    if url is not None:
        placeholders["url"] = url
    ir.async_create_issue(
        hass,
        DOMAIN,
        URL_ISSUE_ID,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        learn_more_url=LEARN_MORE_URL,
        translation_key=key,
        translation_placeholders=placeholders,
    )


# -- repair: what the Nest Hub is asked to play -----------------------------------------


def stream_issue_id(entry: XiaomiCamConfigEntry) -> str:
    """Return the id of a camera's "Nest Hub cannot play this stream" issue."""
    return f"google_stream_{entry.entry_id}"


def codec_name(codec: str) -> str:
    """Return a codec's usual name for people (PyAV calls H.265 "hevc")."""
    return CODEC_NAMES.get(codec, codec.upper())


def nest_hub_stream_problem(video_codec: str, audio_codec: str | None) -> tuple[str, str] | None:
    """Return (translation key, codec) when a Nest Hub cannot play HA's stream of a source.

    audio_codec None: no audio track (or not known). Audio HA's stream drops (G.711,
    Opus...) does not matter: the Nest Hub then gets video only.
    """
    if video_codec not in NEST_HUB_VIDEO_CODECS:
        return "google_stream_video", codec_name(video_codec)
    if (
        audio_codec is not None
        and audio_codec in HA_STREAM_AUDIO_CODECS
        and audio_codec not in NEST_HUB_AUDIO_CODECS
    ):
        return "google_stream_audio", codec_name(audio_codec)
    return None


async def _async_probe_stream(hass: HomeAssistant, entry: XiaomiCamConfigEntry) -> None:
    """Learn the codecs of a camera's stream and raise or clear its stream issue."""
    engine = entry.runtime_data.engine
    if engine is None:  # no video source: no CameraStream trait, nothing to play
        ir.async_delete_issue(hass, DOMAIN, stream_issue_id(entry))
        return
    try:
        media = await engine.async_probe_media()
    except StreamError as err:
        # Unknown codec: keep what is known; the camera entity reports the stream itself.
        _LOGGER.debug("Cannot probe the stream of %s for Google: %s", entry.title, err)
        return
    async_update_stream_issue(hass, entry, media.video_codec, media.audio_codec)


@callback
def async_update_stream_issue(
    hass: HomeAssistant,
    entry: XiaomiCamConfigEntry,
    video_codec: str,
    audio_codec: str | None = None,
) -> None:
    """Raise or clear a camera's stream issue from what its source was found to send."""
    issue_id = stream_issue_id(entry)
    problem = nest_hub_stream_problem(video_codec, audio_codec) if wants_google(entry) else None
    if problem is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    key, codec = problem
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        learn_more_url=LEARN_MORE_URL,
        translation_key=key,
        translation_placeholders={"name": entry.title, "codec": codec},
    )
