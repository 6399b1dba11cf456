"""Repair issues for Google Assistant / Nest Hub: a stream a Nest Hub cannot play, a URL it
cannot reach. Raised only for cameras marked for Google, removed once fixed.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from homeassistant.components.google_assistant.const import SOURCE_CLOUD
from homeassistant.components.google_assistant.smart_home import async_handle_message
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.xiaomi_cam_bridge.const import CONF_EXPOSE_TO_GOOGLE, CONF_STREAM_URL, DOMAIN
from custom_components.xiaomi_cam_bridge.google import (
    LEARN_MORE_URL,
    URL_ISSUE_ID,
    async_update_stream_issue,
    nest_hub_stream_problem,
    nest_hub_url_problem,
    stream_issue_id,
)
from tests.conftest import LAN_URL, GoogleCameraAdder, async_set_options as set_options
from tests.peers.rtsp_fixtures import CameraSpec, RtspServer, RtspServerFactory
from tests.test_google_assistant import GET_CAMERA_STREAM, yaml_config

STRINGS = json.loads(
    (Path(__file__).parent.parent / "custom_components" / DOMAIN / "strings.json").read_text(
        encoding="utf-8"
    )
)


def issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    """The integration's issue with this id, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


def assert_translated(entry: ir.IssueEntry) -> None:
    """The issue's text exists and uses exactly the placeholders it is given."""
    assert entry.translation_key is not None
    text = STRINGS["issues"][entry.translation_key]
    used = set(re.findall(r"\{(\w+)\}", text["title"] + text["description"]))
    assert used == set(entry.translation_placeholders or {})
    assert entry.severity is ir.IssueSeverity.WARNING
    assert entry.is_fixable is False
    assert entry.learn_more_url == LEARN_MORE_URL


def assert_issue(
    hass: HomeAssistant,
    issue_id: str,
    translation_key: str,
    placeholders: dict[str, str] | None = None,
) -> ir.IssueEntry:
    """The issue is raised with this text (and these placeholders, when given)."""
    found = issue(hass, issue_id)
    assert found is not None
    assert found.translation_key == translation_key
    if placeholders is not None:
        assert found.translation_placeholders == placeholders
    assert_translated(found)
    return found


async def set_url(hass: HomeAssistant, internal_url: str | None) -> None:
    """Change the local network URL as Settings > System > Network does."""
    await hass.config.async_update(internal_url=internal_url)
    await hass.async_block_till_done()


# -- the URL Google gives the Nest Hub -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://192.168.1.10:8123", None),
        ("https://home.example.com", None),
        ("http://[fd00::10]:8123", None),
        ("http://127.0.0.1:8123", "google_url_loopback"),
        ("http://127.0.1.1:8123", "google_url_loopback"),
        ("http://[::1]:8123", "google_url_loopback"),
        ("http://0.0.0.0:8123", "google_url_loopback"),
        ("http://localhost:8123", "google_url_loopback"),
        ("http://homeassistant.local:8123", "google_url_local_name"),
        ("http://homeassistant.local.:8123", "google_url_local_name"),
        ("http://homeassistant:8123", "google_url_local_name"),
        ("http://ha.home.arpa:8123", "google_url_local_name"),
        ("http://ha.lan", "google_url_local_name"),
    ],
)
async def test_url_problem(google_hass: HomeAssistant, url: str, expected: str | None) -> None:
    """The URL HA's google_assistant hands out (get_url) is judged as a Nest Hub sees it."""
    await set_url(google_hass, url)
    problem = nest_hub_url_problem(google_hass)
    assert (problem and problem[0]) == expected
    if problem is not None:
        assert problem[1] == url.rstrip("/")


async def test_url_problem_never_shows_credentials(google_hass: HomeAssistant) -> None:
    """A URL typed with credentials is shown without them."""
    await set_url(google_hass, "http://admin:secret@127.0.0.1:8123")
    assert nest_hub_url_problem(google_hass) == ("google_url_loopback", "http://127.0.0.1:8123")


async def test_url_issue_follows_the_network_settings(
    google_hass: HomeAssistant,
    add_google_camera: GoogleCameraAdder,
) -> None:
    """The issue appears, changes and goes away with Settings > System > Network."""
    hass = google_hass
    await add_google_camera("Porch", None)
    assert issue(hass, URL_ISSUE_ID) is None

    await set_url(hass, "http://127.0.0.1:8123")
    assert_issue(
        hass,
        URL_ISSUE_ID,
        "google_url_loopback",
        {"url": "http://127.0.0.1:8123", "cameras": "Porch"},
    )

    await set_url(hass, "http://homeassistant.local:8123")
    assert_issue(hass, URL_ISSUE_ID, "google_url_local_name")

    # No URL set and only a loopback address detected (a container without a LAN
    # address): HA has nothing to give Google.
    assert hass.config.api is not None
    hass.config.api.local_ip = "127.0.0.1"
    await set_url(hass, None)
    assert_issue(hass, URL_ISSUE_ID, "google_no_url", {"cameras": "Porch"})

    await set_url(hass, LAN_URL)
    assert issue(hass, URL_ISSUE_ID) is None


async def test_url_issue_only_for_cameras_marked_for_google(
    google_hass: HomeAssistant,
    add_google_camera: GoogleCameraAdder,
) -> None:
    """Someone who does not use Google is not asked to change a URL that serves them."""
    hass = google_hass
    await set_url(hass, "http://127.0.0.1:8123")
    porch = await add_google_camera("Porch", None, google_option=False)
    assert issue(hass, URL_ISSUE_ID) is None

    garden = await add_google_camera("Garden", None)
    found = issue(hass, URL_ISSUE_ID)
    assert found is not None
    assert found.translation_placeholders == {"url": "http://127.0.0.1:8123", "cameras": "Garden"}

    await set_options(hass, porch, **{CONF_EXPOSE_TO_GOOGLE: True})
    found = issue(hass, URL_ISSUE_ID)
    assert found is not None
    assert found.translation_placeholders is not None
    assert found.translation_placeholders["cameras"] == "Garden, Porch"

    await hass.config_entries.async_unload(garden.entry_id)
    await set_options(hass, porch, **{CONF_EXPOSE_TO_GOOGLE: False})
    assert issue(hass, URL_ISSUE_ID) is None


async def test_without_a_url_google_gets_an_unknown_error(
    google_hass: HomeAssistant,
    hass_admin_user: MockUser,
    add_google_camera: GoogleCameraAdder,
    rtsp_server: RtspServer,
) -> None:
    """Why the URL issue matters: HA's google_assistant fails the whole request then."""
    hass = google_hass
    await add_google_camera("Porch", rtsp_server.url("cam1"))
    assert hass.config.api is not None
    hass.config.api.local_ip = "127.0.0.1"
    await set_url(hass, None)
    assert issue(hass, URL_ISSUE_ID) is not None
    message = {
        "requestId": "no-url",
        "inputs": [
            {
                "intent": "action.devices.EXECUTE",
                "payload": {
                    "commands": [
                        {"devices": [{"id": "camera.porch"}], "execution": [GET_CAMERA_STREAM]}
                    ]
                },
            }
        ],
    }
    user = hass_admin_user.id
    config = yaml_config(hass)
    response = await async_handle_message(hass, config, user, user, message, SOURCE_CLOUD)
    assert response["payload"] == {"errorCode": "unknownError"}


# -- what the Nest Hub is asked to play --------------------------------------------------------


@pytest.mark.parametrize(
    ("mount", "codec"),
    [("hevc", "H.265 (HEVC)"), ("mjpeg", "MJPEG")],
)
async def test_stream_issue_for_a_video_codec_nest_hubs_cannot_play(
    google_hass: HomeAssistant,
    add_google_camera: GoogleCameraAdder,
    rtsp_server: RtspServer,
    mount: str,
    codec: str,
) -> None:
    """H.265 and MJPEG sources raise the issue; switching to an H.264 source clears it."""
    hass = google_hass
    entry = await add_google_camera("Porch", rtsp_server.url(mount))
    assert_issue(
        hass, stream_issue_id(entry), "google_stream_video", {"name": "Porch", "codec": codec}
    )

    await set_options(hass, entry, **{CONF_STREAM_URL: rtsp_server.url("cam1")})
    assert issue(hass, stream_issue_id(entry)) is None


async def test_stream_issue_only_for_cameras_marked_for_google(
    google_hass: HomeAssistant,
    add_google_camera: GoogleCameraAdder,
    rtsp_server: RtspServer,
) -> None:
    """An H.265 camera not meant for Google raises nothing; marking it does; unload clears."""
    hass = google_hass
    entry = await add_google_camera("Porch", rtsp_server.url("hevc"), google_option=False)
    assert issue(hass, stream_issue_id(entry)) is None
    await set_options(hass, entry, **{CONF_EXPOSE_TO_GOOGLE: True})
    assert issue(hass, stream_issue_id(entry)) is not None
    await set_options(hass, entry, **{CONF_EXPOSE_TO_GOOGLE: False})
    assert issue(hass, stream_issue_id(entry)) is None

    await set_options(hass, entry, **{CONF_EXPOSE_TO_GOOGLE: True})
    assert issue(hass, stream_issue_id(entry)) is not None
    await hass.config_entries.async_unload(entry.entry_id)
    assert issue(hass, stream_issue_id(entry)) is None


async def test_unreachable_stream_leaves_the_issue_as_it_is(
    google_hass: HomeAssistant,
    add_google_camera: GoogleCameraAdder,
    rtsp_server: RtspServer,
) -> None:
    """A source that cannot be probed tells nothing about its codec: no issue is raised."""
    hass = google_hass
    rtsp_server.stop_mount("hevc")
    entry = await add_google_camera("Porch", rtsp_server.url("hevc"))
    assert issue(hass, stream_issue_id(entry)) is None


@pytest.mark.parametrize(
    ("video", "audio", "expected"),
    [
        ("h264", None, None),
        ("h264", "aac", None),
        # HA's stream drops audio it cannot put in fMP4: the Nest Hub gets video only.
        ("h264", "pcm_mulaw", None),
        ("h264", "pcm_alaw", None),
        ("h264", "opus", None),
        ("h264", "mp3", ("google_stream_audio", "MP3")),
        ("hevc", "aac", ("google_stream_video", "H.265 (HEVC)")),
        ("vp8", None, ("google_stream_video", "VP8")),
    ],
)
def test_stream_problem(video: str, audio: str | None, expected: tuple[str, str] | None) -> None:
    """Nest Hubs play H.264 with AAC or no audio, after HA's stream has remuxed it."""
    assert nest_hub_stream_problem(video, audio) == expected


async def test_stream_issue_for_audio(
    google_hass: HomeAssistant,
    add_google_camera: GoogleCameraAdder,
) -> None:
    """Audio HA keeps but Nest Hubs do not play (MP3) raises the audio issue."""
    hass = google_hass
    entry = await add_google_camera("Porch", None)
    async_update_stream_issue(hass, entry, "h264", "mp3")
    assert_issue(
        hass, stream_issue_id(entry), "google_stream_audio", {"name": "Porch", "codec": "MP3"}
    )
    async_update_stream_issue(hass, entry, "h264", "aac")
    assert issue(hass, stream_issue_id(entry)) is None


async def test_stream_issue_follows_the_audio_of_the_source(
    google_hass: HomeAssistant,
    add_google_camera: GoogleCameraAdder,
    rtsp_server_factory: RtspServerFactory,
) -> None:
    """The probe's audio codec reaches the check: MP3 raises the issue, AAC or none not."""
    hass = google_hass
    server = rtsp_server_factory(
        [
            CameraSpec("mp3", (220, 40, 40), audio="mp3"),
            CameraSpec("aac", (40, 200, 40), audio="aac"),
            CameraSpec("silent", (40, 60, 220)),
        ]
    )
    entry = await add_google_camera("Porch", server.url("mp3"))
    assert_issue(
        hass, stream_issue_id(entry), "google_stream_audio", {"name": "Porch", "codec": "MP3"}
    )

    await set_options(hass, entry, **{CONF_STREAM_URL: server.url("aac")})
    assert issue(hass, stream_issue_id(entry)) is None
    await set_options(hass, entry, **{CONF_STREAM_URL: server.url("mp3")})
    assert issue(hass, stream_issue_id(entry)) is not None
    await set_options(hass, entry, **{CONF_STREAM_URL: server.url("silent")})
    assert issue(hass, stream_issue_id(entry)) is None


def test_issue_texts_exist_in_every_language() -> None:
    """Every issue the code can raise has a title and a description in each language."""
    keys = {
        "google_no_url",
        "google_url_loopback",
        "google_url_local_name",
        "google_stream_video",
        "google_stream_audio",
    }
    folder = Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations"
    for path in folder.glob("*.json"):
        issues: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["issues"]
        for key in keys:
            assert issues[key]["title"].strip(), (path.name, key)
            assert issues[key]["description"].strip(), (path.name, key)
