"""Polling: going unavailable and coming back, error mapping, logging once."""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.xiaomi_cam_bridge.const import DOMAIN
from tests.peers.miio_sim import Fault, MiioCameraSimulator

POWER = "switch.mi_home_security_camera_360deg_power"
SDCARD = "sensor.mi_home_security_camera_360deg_sd_card"
WRONG_DEVICE_ISSUE = "wrong_device_01JXIAOMICAMBRIDGE0000000"
COORDINATOR_LOGGER = "custom_components.xiaomi_cam_bridge.coordinator"


async def _poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let one scan interval (30 s) pass and wait for the poll to finish."""
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == COORDINATOR_LOGGER and record.levelno == level
    ]


@pytest.mark.usefixtures("fast_miio_timeout")
async def test_unavailable_and_back_logs_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A camera that stops answering goes unavailable, logged once; its return once."""
    assert hass.states.get(POWER).state == STATE_ON
    caplog.clear()

    miio_camera.fault = Fault.SILENT
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    assert hass.states.get(SDCARD).state == STATE_UNAVAILABLE
    await _poll(hass, freezer)
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    errors = _records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert f"The camera at {miio_camera.host} did not answer" in errors[0]

    # Back, with a setting changed meanwhile (e.g. from the Mi Home app).
    miio_camera.fault = Fault.NONE
    miio_camera.props["power"] = "off"
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_OFF
    await _poll(hass, freezer)
    assert len(_records(caplog, logging.ERROR)) == 1
    infos = _records(caplog, logging.INFO)
    assert len(infos) == 1
    assert "recovered" in infos[0]


async def test_poll_picks_up_outside_changes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Each poll reads the camera's current state."""
    miio_camera.props["power"] = "off"
    miio_camera.props["sdcard_status"] = 1
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_OFF
    assert hass.states.get(SDCARD).state == "no_card"


async def test_token_refused_while_running_starts_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A token that stops working makes entities unavailable and asks for a new one."""
    miio_camera.fault = Fault.WRONG_TOKEN
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == init_integration.entry_id


async def test_other_device_while_running_raises_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Another device at the address: unavailable plus a repair, both gone on return."""
    miio_camera.fault = Fault.OTHER_DEVICE_ID
    calls = len(miio_camera.calls)
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    # The other device got a hello but no request.
    assert len(miio_camera.calls) == calls
    issue = issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert not issue.is_fixable

    miio_camera.fault = Fault.NONE
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_ON
    assert issue_registry.async_get_issue(DOMAIN, WRONG_DEVICE_ISSUE) is None


async def test_unsupported_reply_while_running(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    miio_camera: MiioCameraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """A reply the client cannot use makes entities unavailable, with a clear log."""
    miio_camera.props["night_mode"] = 7
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    errors = _records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert "unexpected reply" in errors[0]

    miio_camera.props["night_mode"] = 0
    await _poll(hass, freezer)
    assert hass.states.get(POWER).state == STATE_ON
