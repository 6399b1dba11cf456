"""Config flow tests, against real simulated cameras over UDP."""

from __future__ import annotations

from ipaddress import ip_address

from homeassistant.config_entries import (
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_SCAN_INTERVAL, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.xiaomi_cam_bridge.const import (
    CONF_DEVICE_ID,
    CONF_EXPOSE_TO_GOOGLE,
    CONF_MAC,
    CONF_MODEL,
    CONF_VIDEO_SOURCE,
    DOMAIN,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
)
from tests.conftest import ConfigEntryFactory
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.miio_sim import Fault, MiioCameraSimulator

OTHER_TOKEN = "0123456789abcdef0123456789abcdef"


def _expected_data(sim: MiioCameraSimulator, host: str | None = None) -> dict[str, object]:
    return {
        CONF_HOST: host or sim.host,
        CONF_TOKEN: sim.config.token,
        CONF_DEVICE_ID: sim.config.device_id,
        CONF_MODEL: sim.config.model,
        CONF_MAC: sim.config.mac.lower(),
    }


async def _without_video(hass: HomeAssistant, result: ConfigFlowResult) -> ConfigFlowResult:
    """Answer the video step (tested in test_video_flow.py) with "no video"."""
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "video"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_VIDEO_SOURCE: "none"}
    )
    await hass.async_block_till_done()
    return result


def _zeroconf(
    host: str,
    *,
    name: str = "chuangmi-camera-ipc019_miio305441741._miio._udp.local.",
    properties: dict[str, str] | None = None,
) -> ZeroconfServiceInfo:
    return ZeroconfServiceInfo(
        ip_address=ip_address(host),
        ip_addresses=[ip_address(host)],
        hostname=name.split(".", 1)[0] + ".local.",
        name=name,
        port=54321,
        properties={"epoch": "1", "mac": "7811DC000001"} if properties is None else properties,
        type="_miio._udp.local.",
    )


# --- user step --------------------------------------------------------------------


async def test_user_creates_entry(hass: HomeAssistant, miio_camera: MiioCameraSimulator) -> None:
    """Host + token, checked against the camera, make an entry keyed by the MAC."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    # A pasted token with upper case and spaces is accepted and stored normalised.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: f" {miio_camera.host} ", CONF_TOKEN: f" {miio_camera.config.token.upper()} "},
    )
    # The camera answered; its video source comes next, presets using its address.
    assert result["step_id"] == "video"
    assert result["description_placeholders"]["host"] == miio_camera.host
    result = await _without_video(hass, result)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Mi Home Security Camera 360°"
    assert result["data"] == _expected_data(miio_camera)
    assert result["options"] == {CONF_VIDEO_SOURCE: "none"}
    entry = result["result"]
    assert entry.unique_id == "78:11:dc:00:00:01"
    assert entry.state is ConfigEntryState.LOADED
    assert ("miIO.info", []) in miio_camera.calls


async def test_user_title_falls_back_to_model_id(
    hass: HomeAssistant, miio_camera_factory: MiioCameraFactory
) -> None:
    """A model without a friendly name is titled with its model id."""
    sim = await miio_camera_factory(model="isa.camera.hlc7")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: sim.host, CONF_TOKEN: sim.config.token}
    )
    result = await _without_video(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "isa.camera.hlc7"


@pytest.mark.usefixtures("fast_miio_timeout")
@pytest.mark.parametrize(
    ("fault", "token", "errors"),
    [
        (Fault.NONE, "not-a-token", {CONF_TOKEN: "invalid_token_format"}),
        (Fault.NONE, "0123456789abcdef0123456789abcdeg", {CONF_TOKEN: "invalid_token_format"}),
        (Fault.NONE, OTHER_TOKEN, {CONF_TOKEN: "invalid_auth"}),
        (Fault.WRONG_TOKEN, None, {CONF_TOKEN: "invalid_auth"}),
        (Fault.SILENT, None, {"base": "cannot_connect"}),
        (Fault.GARBAGE, None, {"base": "cannot_connect"}),
        (Fault.BAD_PAYLOAD, None, {"base": "unknown"}),
    ],
)
async def test_user_errors_then_recovers(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    fault: Fault,
    token: str | None,
    errors: dict[str, str],
) -> None:
    """Every failure shows its error on the form; fixing it then creates the entry."""
    miio_camera.fault = fault
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: miio_camera.host, CONF_TOKEN: token or miio_camera.config.token},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors

    miio_camera.fault = Fault.NONE
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: miio_camera.host, CONF_TOKEN: miio_camera.config.token}
    )
    result = await _without_video(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _expected_data(miio_camera)


async def test_user_malformed_token_is_not_sent(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator
) -> None:
    """A token of the wrong shape is refused before anything goes on the network."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: miio_camera.host, CONF_TOKEN: "abc"}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_token_format"}
    assert miio_camera.hello_count == 0
    assert miio_camera.calls == []


async def test_user_already_configured(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, mock_config_entry: MockConfigEntry
) -> None:
    """The same camera (same MAC) cannot be added twice."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: miio_camera.host, CONF_TOKEN: miio_camera.config.token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# --- zeroconf ---------------------------------------------------------------------


async def test_zeroconf_new_camera(hass: HomeAssistant, miio_camera: MiioCameraSimulator) -> None:
    """A discovered camera only needs its token; the host comes from discovery."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(miio_camera.host)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"] == {
        "name": "Mi Home Security Camera 360°",
        "host": miio_camera.host,
    }
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows[0]["context"]["title_placeholders"] == result["description_placeholders"]
    assert flows[0]["context"]["unique_id"] == "78:11:dc:00:00:01"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: OTHER_TOKEN}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: miio_camera.config.token}
    )
    # Presets point at the discovered address.
    assert result["description_placeholders"]["host"] == miio_camera.host
    result = await _without_video(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _expected_data(miio_camera)
    assert result["result"].unique_id == "78:11:dc:00:00:01"


async def test_zeroconf_mac_from_poch(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator
) -> None:
    """Firmware that only announces `poch` still gives the MAC."""
    info = _zeroconf(miio_camera.host, properties={"poch": "0:mac=7811dc000001\x00"})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert result["step_id"] == "zeroconf_confirm"
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows[0]["context"]["unique_id"] == "78:11:dc:00:00:01"


async def test_zeroconf_twice_is_one_flow(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator
) -> None:
    """A second announcement of a camera being set up does not start another flow."""
    first = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(miio_camera.host)
    )
    assert first["type"] is FlowResultType.FORM
    second = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(miio_camera.host)
    )
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"


@pytest.mark.parametrize(
    ("name", "properties"),
    [
        ("yeelink-light-color1_miio12345._miio._udp.local.", None),
        ("chuangmi-plug-m1_miio12345._miio._udp.local.", None),
        ("chuangmi-camera-ipc019_miio12345._miio._udp.local.", {"epoch": "1"}),
    ],
)
async def test_zeroconf_not_camera(
    hass: HomeAssistant, name: str, properties: dict[str, str] | None
) -> None:
    """Other miio devices, and announcements without a MAC, are ignored."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=_zeroconf("127.0.0.9", name=name, properties=properties),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_camera"


async def test_zeroconf_known_camera_moved(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    miio_camera_factory: MiioCameraFactory,
    init_integration: MockConfigEntry,
) -> None:
    """A configured camera announced at a new address gets its host updated and reloads."""
    entry = init_integration
    old_host = miio_camera.host
    # The same camera (token, device id, MAC) now answers at another address.
    moved = await miio_camera_factory(
        token=miio_camera.config.token,
        device_id=miio_camera.config.device_id,
        mac=miio_camera.config.mac,
    )
    await miio_camera.stop()
    assert moved.host != old_host

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(moved.host)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()

    assert entry.data[CONF_HOST] == moved.host
    assert entry.state is ConfigEntryState.LOADED
    # The reloaded entry talks to the camera at its new address.
    assert ("miIO.info", []) in moved.calls
    assert entry.runtime_data.coordinator.client.host == moved.host


async def test_zeroconf_known_camera_same_host(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """A configured camera announced at its known address changes nothing."""
    runtime_data = init_integration.runtime_data
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(miio_camera.host)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert init_integration.runtime_data is runtime_data  # not reloaded


# --- reauth -----------------------------------------------------------------------


async def test_reauth_success(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    config_entry_factory: ConfigEntryFactory,
) -> None:
    """A refused token starts reauth; the new token is stored and the entry reloads."""
    entry = config_entry_factory(miio_camera)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_TOKEN: OTHER_TOKEN})
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == "reauth"
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {
        "name": entry.title,
        "host": miio_camera.host,
    }

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "short"}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_token_format"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: OTHER_TOKEN}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: miio_camera.config.token}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN] == miio_camera.config.token
    assert entry.state is ConfigEntryState.LOADED


async def test_reauth_other_device_at_host(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    miio_camera_factory: MiioCameraFactory,
    config_entry_factory: ConfigEntryFactory,
) -> None:
    """Another camera now at the entry's address is refused with wrong_device."""
    entry = config_entry_factory(miio_camera)
    entry.add_to_hass(hass)
    other = await miio_camera_factory()
    # The entry still describes camera A but its host now leads to camera B.
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: other.host})
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: other.config.token}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "wrong_device"}
    assert entry.data[CONF_TOKEN] == miio_camera.config.token


async def test_reauth_same_device_id_other_mac(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    miio_camera_factory: MiioCameraFactory,
    config_entry_factory: ConfigEntryFactory,
) -> None:
    """Should the device id match but the MAC not, reauth aborts rather than rebind."""
    entry = config_entry_factory(miio_camera)
    entry.add_to_hass(hass)
    other = await miio_camera_factory(device_id=miio_camera.config.device_id)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: other.host})
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: other.config.token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert entry.data[CONF_TOKEN] == miio_camera.config.token


# --- reconfigure ------------------------------------------------------------------


async def test_reconfigure_new_host_keeps_token(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    miio_camera_factory: MiioCameraFactory,
    init_integration: MockConfigEntry,
) -> None:
    """The user points the entry at the camera's new address; the token is kept."""
    entry = init_integration
    moved = await miio_camera_factory(
        token=miio_camera.config.token,
        device_id=miio_camera.config.device_id,
        mac=miio_camera.config.mac,
    )
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"name": entry.title}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: moved.host}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == _expected_data(miio_camera, host=moved.host)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator.client.host == moved.host


async def test_reconfigure_new_token(
    hass: HomeAssistant,
    miio_camera_factory: MiioCameraFactory,
    config_entry_factory: ConfigEntryFactory,
) -> None:
    """A camera that was re-paired (new token, new device id) is reconfigured by MAC."""
    old = await miio_camera_factory()
    entry = config_entry_factory(old)
    entry.add_to_hass(hass)
    await old.stop()
    repaired = await miio_camera_factory(mac=old.config.mac)
    assert repaired.config.device_id != old.config.device_id

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: repaired.host, CONF_TOKEN: OTHER_TOKEN}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: repaired.host, CONF_TOKEN: repaired.config.token}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == _expected_data(repaired)
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_other_camera_refused(
    hass: HomeAssistant,
    miio_camera: MiioCameraSimulator,
    miio_camera_factory: MiioCameraFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Pointing an entry at a different camera aborts and changes nothing."""
    entry = init_integration
    other = await miio_camera_factory()
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: other.host, CONF_TOKEN: other.config.token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert entry.data == _expected_data(miio_camera)


@pytest.mark.usefixtures("fast_miio_timeout")
async def test_reconfigure_unreachable(
    hass: HomeAssistant, miio_camera: MiioCameraSimulator, init_integration: MockConfigEntry
) -> None:
    """An address where nothing answers shows cannot_connect and keeps the form."""
    result = await init_integration.start_reconfigure_flow(hass)
    miio_camera.fault = Fault.SILENT
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: miio_camera.host}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


# --- options ----------------------------------------------------------------------


async def test_options_scan_interval(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A new polling interval is stored and applied by reloading the entry."""
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 120}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The other fields of the form default to the current settings.
    assert entry.options == {
        CONF_SCAN_INTERVAL: 120,
        CONF_EXPOSE_TO_GOOGLE: False,
        CONF_VIDEO_SOURCE: "none",
    }
    assert entry.state is ConfigEntryState.LOADED
    interval = entry.runtime_data.coordinator.update_interval
    assert interval is not None
    assert interval.total_seconds() == 120


async def test_options_keep_unrelated_options(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Options owned by other steps survive a change of the polling interval."""
    entry = init_integration
    hass.config_entries.async_update_entry(entry, options={**entry.options, "extra": "kept"})
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 45}
    )
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_SCAN_INTERVAL: 45,
        CONF_EXPOSE_TO_GOOGLE: False,
        CONF_VIDEO_SOURCE: "none",
        "extra": "kept",
    }


@pytest.mark.parametrize("value", [MIN_SCAN_INTERVAL - 1, MAX_SCAN_INTERVAL + 1])
async def test_options_bounds(
    hass: HomeAssistant, init_integration: MockConfigEntry, value: int
) -> None:
    """The polling interval is bounded."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_SCAN_INTERVAL: value}
        )
    assert init_integration.options == {CONF_SCAN_INTERVAL: 30}
