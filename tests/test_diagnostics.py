"""Diagnostics: useful content, no secrets."""

from __future__ import annotations

from http import HTTPStatus
import json
from urllib.parse import quote

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from tests.conftest import ConfigEntryFactory, async_add_camera
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.miio_sim import MiioCameraSimulator
from tests.peers.rtsp_fixtures import RtspServer


async def _download(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, entry: MockConfigEntry
) -> str:
    """Fetch the diagnostics file as the user downloads it: raw JSON text."""
    assert await async_setup_component(hass, "diagnostics", {})
    await hass.async_block_till_done()
    client = await hass_client()
    response = await client.get(f"/api/diagnostics/config_entry/{entry.entry_id}")
    assert response.status == HTTPStatus.OK
    return await response.text()


async def test_diagnostics_content(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """The entry, the camera's identity and its last status."""
    data = json.loads(await _download(hass, hass_client, init_integration))["data"]
    # The simulator may fall back to another loopback address: not part of the snapshot.
    assert data["entry"]["data"].pop("host") == init_integration.data["host"]
    assert data == snapshot


async def test_diagnostics_never_contain_the_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera_factory: MiioCameraFactory,
    config_entry_factory: ConfigEntryFactory,
) -> None:
    """Not the token in any case, nor the MAC, anywhere in the file."""
    # Old firmware that echoes its token in miIO.info.
    sim = await miio_camera_factory(info_includes_token=True)
    entry = config_entry_factory(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    text = await _download(hass, hass_client, entry)
    token = sim.config.token
    for form in (token, token.lower(), token.upper()):
        assert form not in text
    mac = sim.config.mac
    for form in (mac, mac.lower(), mac.replace(":", "").lower(), mac.replace(":", "")):
        assert form not in text
    assert "**REDACTED**" in text


async def test_diagnostics_never_contain_stream_credentials(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    miio_camera: MiioCameraSimulator,
    rtsp_server: RtspServer,
) -> None:
    """The stream's user name and password appear nowhere, in no spelling."""
    spec = rtsp_server.cameras["auth"]
    assert spec.user is not None
    assert spec.password is not None
    # Before the first client: the HTTP router is frozen once a client started.
    assert await async_setup_component(hass, "diagnostics", {})
    # Credentials both in the URL and as options (the options win).
    entry = await async_add_camera(
        hass,
        miio_camera,
        rtsp_server.url("auth"),
        **{CONF_USERNAME: spec.user, CONF_PASSWORD: spec.password},
    )
    client = await hass_client()
    response = await client.get("/api/camera_proxy/camera.mi_home_security_camera_360deg")
    assert response.status == HTTPStatus.OK

    text = await _download(hass, hass_client, entry)
    for secret in (spec.password, quote(spec.password, safe=""), spec.user):
        assert secret not in text
    video = json.loads(text)["data"]["video"]
    assert video["source"] == "custom"
    assert video["redacted_url"] == f"rtsp://***:***@127.0.0.1:{rtsp_server.port}/auth"
    assert video["engine"]["captures"] == 1
    assert video["engine"]["decodes"] == 1
    assert video["cached_frames"] in (0, 1)  # written in the background
