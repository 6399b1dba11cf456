"""Diagnostics: useful content, no secrets."""

from __future__ import annotations

from http import HTTPStatus
import json

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from tests.conftest import ConfigEntryFactory
from tests.peers.miio_fixtures import MiioCameraFactory


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
