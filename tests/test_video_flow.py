"""Video source steps of the config and options flows, against the real RTSP server."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from unittest.mock import patch

from homeassistant.components.camera import CameraEntityFeature
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigFlowResult
from homeassistant.const import (
    ATTR_SUPPORTED_FEATURES,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.xiaomi_cam_bridge.camlib.snapshot import SnapshotEngine
from custom_components.xiaomi_cam_bridge.const import (
    CONF_EXPOSE_TO_GOOGLE,
    CONF_GO2RTC_HOST,
    CONF_GO2RTC_NAME,
    CONF_STREAM_URL,
    CONF_VIDEO_SOURCE,
    DOMAIN,
)
from tests.conftest import async_add_camera
from tests.peers.miio_sim import MiioCameraSimulator
from tests.peers.rtsp_fixtures import RtspServer, colour_distance, mean_rgb
from tests.peers.tls_proxy import TlsProxy

CAMERA = "camera.mi_home_security_camera_360deg"


async def _to_video_step(hass: HomeAssistant, sim: MiioCameraSimulator) -> ConfigFlowResult:
    """Run the user step against the simulated camera; return the video form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: sim.host, CONF_TOKEN: sim.config.token}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "video"
    assert result["errors"] == {}
    return result


async def _configure(
    hass: HomeAssistant, result: ConfigFlowResult, user_input: dict[str, Any]
) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()
    return result


async def _options(
    hass: HomeAssistant, result: ConfigFlowResult, user_input: dict[str, Any]
) -> ConfigFlowResult:
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()
    return result


def _features(hass: HomeAssistant) -> int:
    state = hass.states.get(CAMERA)
    assert state is not None
    features: int = state.attributes[ATTR_SUPPORTED_FEATURES]
    return features


# --- config flow ------------------------------------------------------------------------


async def test_custom_source(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """A custom URL is checked against the stream, stored, and shown by the camera."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "video_custom"
    url = rtsp_server.url("cam1")
    result = await _configure(hass, result, {CONF_STREAM_URL: f"  {url} "})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {
        CONF_VIDEO_SOURCE: "custom",
        CONF_STREAM_URL: url,
        CONF_VERIFY_SSL: True,
    }

    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.stream_url == url
    assert _features(hass) == CameraEntityFeature.ON_OFF | CameraEntityFeature.STREAM
    client = await hass_client()
    response = await client.get(f"/api/camera_proxy/{CAMERA}")
    assert response.status == HTTPStatus.OK
    assert colour_distance(mean_rgb(await response.read()), rtsp_server.colour("cam1")) < 25


async def test_rtsps_with_a_self_signed_certificate(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
    rtsps_proxy: TlsProxy,
) -> None:
    """The certificate is verified by default; turned off, the camera's stream is used."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    url = rtsps_proxy.url("cam1")
    result = await _configure(hass, result, {CONF_STREAM_URL: url})
    assert result["step_id"] == "video_custom"
    assert result["errors"] == {"base": "stream_unreachable"}
    result = await _configure(hass, result, {CONF_STREAM_URL: url, CONF_VERIFY_SSL: False})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {
        CONF_VIDEO_SOURCE: "custom",
        CONF_STREAM_URL: url,
        CONF_VERIFY_SSL: False,
    }
    response = await (await hass_client()).get(f"/api/camera_proxy/{CAMERA}")
    assert response.status == HTTPStatus.OK
    assert colour_distance(mean_rgb(await response.read()), rtsp_server.colour("cam1")) < 25


async def test_no_video(hass: HomeAssistant, miio_camera: MiioCameraSimulator) -> None:
    """ "none" skips the check and gives a camera without stream."""
    result = await _to_video_step(hass, miio_camera)
    # Credentials make no sense without a source and are not stored.
    result = await _configure(
        hass, result, {CONF_VIDEO_SOURCE: "none", CONF_USERNAME: "u", CONF_PASSWORD: "p"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {CONF_VIDEO_SOURCE: "none"}
    assert _features(hass) == CameraEntityFeature.ON_OFF


async def test_credentials_refused_then_corrected(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """A refused login goes back to the step with the credentials; fixing them works."""
    spec = rtsp_server.cameras["auth"]
    assert spec.user is not None
    assert spec.password is not None
    url = rtsp_server.url("auth", credentials=False)
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(
        hass,
        result,
        {CONF_VIDEO_SOURCE: "custom", CONF_USERNAME: spec.user, CONF_PASSWORD: "wrong"},
    )
    result = await _configure(hass, result, {CONF_STREAM_URL: url})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "video"
    assert result["errors"] == {"base": "stream_auth"}
    # The URL tried is shown, its credentials masked.
    redacted = f"rtsp://***:***@127.0.0.1:{rtsp_server.port}/auth"
    assert result["description_placeholders"] == {
        CONF_HOST: miio_camera.host,
        CONF_STREAM_URL: redacted,
    }
    # The password is never sent back to the browser.
    assert "wrong" not in repr(result["data_schema"].schema)

    result = await _configure(
        hass,
        result,
        {CONF_VIDEO_SOURCE: "custom", CONF_USERNAME: spec.user, CONF_PASSWORD: spec.password},
    )
    assert result["step_id"] == "video_custom"
    result = await _configure(hass, result, {CONF_STREAM_URL: url})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {
        CONF_VIDEO_SOURCE: "custom",
        CONF_STREAM_URL: url,
        CONF_VERIFY_SSL: True,
        CONF_USERNAME: spec.user,
        CONF_PASSWORD: spec.password,
    }
    # The stream player gets the URL with the credentials, percent-encoded.
    assert result["result"].runtime_data.stream_url == rtsp_server.url("auth")


async def test_credentials_in_the_url(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """Credentials typed into a custom URL are used as they are."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    url = rtsp_server.url("auth")
    result = await _configure(hass, result, {CONF_STREAM_URL: url})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {
        CONF_VIDEO_SOURCE: "custom",
        CONF_STREAM_URL: url,
        CONF_VERIFY_SSL: True,
    }


async def test_missing_credentials(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """A stream that wants a login and gets none is an auth error too."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    result = await _configure(
        hass, result, {CONF_STREAM_URL: rtsp_server.url("auth", credentials=False)}
    )
    assert result["step_id"] == "video"
    assert result["errors"] == {"base": "stream_auth"}


@pytest.mark.parametrize(
    ("mount", "error"),
    [
        ("audio", "no_video_track"),
        ("vp8", "unsupported_codec"),
        ("cut_idr", "stream_corrupt"),
        ("no_such_mount", "stream_unreachable"),
    ],
)
async def test_stream_errors(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
    mount: str,
    error: str,
) -> None:
    """Each way a stream can be unusable has its own message, on the URL's step."""
    url = f"rtsp://127.0.0.1:{rtsp_server.port}/{mount}"
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    result = await _configure(hass, result, {CONF_STREAM_URL: url})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "video_custom"
    assert result["errors"] == {"base": error}
    assert result["description_placeholders"][CONF_STREAM_URL] == url

    # A working URL then goes through.
    result = await _configure(hass, result, {CONF_STREAM_URL: rtsp_server.url("hevc")})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://127.0.0.1/cam1", "invalid_scheme"),
        ("rtsp://", "missing_host"),
        ("rtsp://127.0.0.1:99999/cam1", "invalid_port"),
        ("rtsp://127.0.0.1/my cam", "invalid_url"),
        ("rtsp://bad_host!/cam1", "invalid_host"),
        ("rtsp://:secret@127.0.0.1/cam1", "password_without_username"),
        ("   ", "missing_url"),
        ("rtsp://127.0.0.1/" + "x" * 3000, "url_too_long"),
    ],
)
async def test_invalid_urls(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, url: str, error: str
) -> None:
    """A URL that cannot be a stream is refused on its field, before any connection."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    with patch.object(SnapshotEngine, "async_probe_media") as probe:
        result = await _configure(hass, result, {CONF_STREAM_URL: url})
    probe.assert_not_called()
    assert result["step_id"] == "video_custom"
    assert result["errors"] == {CONF_STREAM_URL: error}
    assert "secret" not in str(result["description_placeholders"])


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("dafang", "rtsp://***:***@{host}:8554/unicast"),
        ("mijia_720p_hack", "rtsp://***:***@{host}/live/ch00_0"),
        ("yi_hack", "rtsp://***:***@{host}/ch0_0.h264"),
    ],
)
async def test_camera_presets(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, preset: str, expected: str
) -> None:
    """Firmware presets point at the camera's address; nothing serves RTSP there."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(
        hass, result, {CONF_VIDEO_SOURCE: preset, CONF_USERNAME: "admin", CONF_PASSWORD: "pw"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "video"
    assert result["errors"] == {"base": "stream_unreachable"}
    assert result["description_placeholders"][CONF_STREAM_URL] == expected.format(
        host=miio_camera.host
    )
    # Giving up on video still adds the camera.
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "none"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_go2rtc_source(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """go2rtc asks for its server and the stream name; both are checked."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "go2rtc"})
    assert result["step_id"] == "video_go2rtc"
    for user_input, errors in (
        (
            {CONF_GO2RTC_HOST: "127.0.0.1", CONF_GO2RTC_NAME: "  "},
            {CONF_GO2RTC_NAME: "missing_name"},
        ),
        (
            {CONF_GO2RTC_HOST: "bad host", CONF_GO2RTC_NAME: "hall"},
            {CONF_GO2RTC_HOST: "invalid_host"},
        ),
    ):
        result = await _configure(hass, result, user_input)
        assert result["step_id"] == "video_go2rtc"
        assert result["errors"] == errors
    # Nothing serves go2rtc's port at the camera's address.
    result = await _configure(
        hass, result, {CONF_GO2RTC_HOST: miio_camera.host, CONF_GO2RTC_NAME: "hall way"}
    )
    assert result["step_id"] == "video_go2rtc"
    assert result["errors"] == {"base": "stream_unreachable"}
    assert result["description_placeholders"][CONF_STREAM_URL] == (
        f"rtsp://{miio_camera.host}:8554/hall%20way"
    )


async def test_password_without_user_name(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator
) -> None:
    """A password needs a user name."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "dafang", CONF_PASSWORD: "pw"})
    assert result["step_id"] == "video"
    assert result["errors"] == {CONF_USERNAME: "password_without_username"}


async def test_unexpected_probe_error(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """A bug while checking the stream is reported as unknown, not as a crash."""
    result = await _to_video_step(hass, miio_camera)
    result = await _configure(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    with patch.object(SnapshotEngine, "async_probe_media", side_effect=RuntimeError("bug")):
        result = await _configure(hass, result, {CONF_STREAM_URL: rtsp_server.url("cam1")})
    assert result["errors"] == {"base": "unknown"}


# --- options flow ------------------------------------------------------------------------


async def test_options_change_source(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """The source is changed with the same checks; the entry reloads with it."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    assert result["description_placeholders"][CONF_HOST] == miio_camera.host
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    assert result["step_id"] == "video_custom"
    result = await _options(hass, result, {CONF_STREAM_URL: rtsp_server.url("vp8")})
    assert result["errors"] == {"base": "unsupported_codec"}
    result = await _options(hass, result, {CONF_STREAM_URL: rtsp_server.url("cam2")})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_SCAN_INTERVAL: 30,
        CONF_EXPOSE_TO_GOOGLE: False,
        CONF_VIDEO_SOURCE: "custom",
        CONF_STREAM_URL: rtsp_server.url("cam2"),
        CONF_VERIFY_SSL: True,
    }
    assert entry.state is ConfigEntryState.LOADED
    response = await (await hass_client()).get(f"/api/camera_proxy/{CAMERA}")
    assert response.status == HTTPStatus.OK
    assert colour_distance(mean_rgb(await response.read()), rtsp_server.colour("cam2")) < 25


async def test_options_unchanged_source_is_not_checked(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """Changing other options works while the stream is down."""
    entry = await async_add_camera(hass, miio_camera, rtsp_server.url("cam1"))
    rtsp_server.stop_mount("cam1")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await _options(hass, result, {CONF_SCAN_INTERVAL: 60, CONF_EXPOSE_TO_GOOGLE: True})
    assert result["step_id"] == "video_custom"  # the URL is shown for review
    result = await _options(hass, result, {CONF_STREAM_URL: rtsp_server.url("cam1")})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_SCAN_INTERVAL] == 60
    assert entry.options[CONF_EXPOSE_TO_GOOGLE] is True


async def test_options_turning_tls_verification_on_is_checked(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
    rtsps_proxy: TlsProxy,
) -> None:
    """The same rtsps:// URL with verification turned back on is checked again."""
    url = rtsps_proxy.url("cam1")
    entry = await async_add_camera(hass, miio_camera, url, **{CONF_VERIFY_SSL: False})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await _options(hass, result, {CONF_SCAN_INTERVAL: 30})
    assert result["step_id"] == "video_custom"
    result = await _options(hass, result, {CONF_STREAM_URL: url, CONF_VERIFY_SSL: True})
    assert result["errors"] == {"base": "stream_unreachable"}
    assert entry.options[CONF_VERIFY_SSL] is False


async def test_options_keep_the_password(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """An empty password keeps the stored one for the same user; it is never shown."""
    spec = rtsp_server.cameras["auth"]
    assert spec.user is not None
    assert spec.password is not None
    entry = await async_add_camera(
        hass,
        miio_camera,
        rtsp_server.url("auth", credentials=False),
        **{CONF_USERNAME: spec.user, CONF_PASSWORD: spec.password},
    )
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert spec.password not in repr(result["data_schema"].schema)
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "custom", CONF_USERNAME: spec.user})
    result = await _options(
        hass, result, {CONF_STREAM_URL: rtsp_server.url("auth", credentials=False)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_PASSWORD] == spec.password

    # Another user name without a password: the old password is not sent to it.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "custom", CONF_USERNAME: "guest"})
    result = await _options(
        hass, result, {CONF_STREAM_URL: rtsp_server.url("auth", credentials=False)}
    )
    assert result["step_id"] == "init"
    assert result["errors"] == {"base": "stream_auth"}
    assert result["description_placeholders"][CONF_STREAM_URL] == (
        f"rtsp://***@127.0.0.1:{rtsp_server.port}/auth"
    )


async def test_options_to_no_video(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """Turning video off drops the stream settings and the camera's stream feature."""
    entry = await async_add_camera(
        hass, miio_camera, rtsp_server.url("cam1"), **{CONF_USERNAME: "someone"}
    )
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "none"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_SCAN_INTERVAL: 30,
        CONF_EXPOSE_TO_GOOGLE: False,
        CONF_VIDEO_SOURCE: "none",
    }
    assert _features(hass) == CameraEntityFeature.ON_OFF


async def test_options_go2rtc_and_errors(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """The options flow has the go2rtc step and the field errors too."""
    entry = await async_add_camera(hass, miio_camera, None)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "go2rtc", CONF_PASSWORD: "x"})
    assert result["step_id"] == "init"
    assert result["errors"] == {CONF_USERNAME: "password_without_username"}
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "go2rtc"})
    assert result["step_id"] == "video_go2rtc"
    result = await _options(
        hass, result, {CONF_GO2RTC_HOST: miio_camera.host, CONF_GO2RTC_NAME: "hall"}
    )
    assert result["step_id"] == "video_go2rtc"
    assert result["errors"] == {"base": "stream_unreachable"}
    assert entry.options.get(CONF_VIDEO_SOURCE) == "none"


async def test_options_with_broken_stored_source(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, rtsp_server: RtspServer
) -> None:
    """Stored settings that make no URL can be repaired through the options."""
    entry: MockConfigEntry = await async_add_camera(hass, miio_camera, "http://nope/x")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "custom"})
    result = await _options(hass, result, {CONF_STREAM_URL: rtsp_server.url("cam3")})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.runtime_data.stream_url == rtsp_server.url("cam3")


async def test_options_preset_with_an_unusable_camera_address(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator
) -> None:
    """A preset needs a camera address that fits in a URL; the form says so."""
    entry = await async_add_camera(hass, miio_camera, None)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "bad host"})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await _options(hass, result, {CONF_VIDEO_SOURCE: "yi_hack"})
    assert result["step_id"] == "init"
    assert result["errors"] == {"base": "invalid_host"}
