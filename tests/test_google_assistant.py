"""Google Assistant / Nest Hub, through Home Assistant's own google_assistant.

The messages go through HA's real smart-home handler (`smart_home.async_handle_message`),
shaped like Google's, against cameras fed by the GStreamer RTSP server and controlled
through the UDP miio simulator. The YAML set-up is HA's own `GoogleConfig` built from the
README's snippet; Home Assistant Cloud is stood in for by a config that reads exposure
from HA's exposed-entities store, which is what Cloud's Google config does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
import io
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
import av
from homeassistant.components.camera.helper import get_camera_from_entity_id
from homeassistant.components.google_assistant import GOOGLE_ASSISTANT_SCHEMA
from homeassistant.components.google_assistant.const import SOURCE_CLOUD
from homeassistant.components.google_assistant.helpers import AbstractConfig
from homeassistant.components.google_assistant.http import GoogleConfig
from homeassistant.components.google_assistant.smart_home import (
    EXECUTE_LIMIT,
    async_handle_message,
)
from homeassistant.components.homeassistant.const import DATA_EXPOSED_ENTITIES
from homeassistant.components.homeassistant.exposed_entities import (
    async_expose_entity,
    async_should_expose,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)
import yaml

from custom_components.xiaomi_cam_bridge.const import (
    CONF_EXPOSE_TO_GOOGLE,
    DOMAIN,
)
from custom_components.xiaomi_cam_bridge.google import CLOUD_GOOGLE
from tests.conftest import (
    LAN_URL,
    GoogleCameraAdder,
    async_add_google_camera,
    async_set_options as set_options,
)
from tests.peers.miio_fixtures import MiioCameraFactory
from tests.peers.miio_sim import Fault, MiioCameraSimulator
from tests.peers.rtsp_fixtures import SAME_COLOUR, Rgb, RtspServer, colour_distance

# What the README tells YAML users to add (HA's own google_assistant options; the
# project id and service account come from HA's google_assistant documentation).
README_YAML = """
google_assistant:
  project_id: my-home-1234
  entity_config:
    camera.porch:
      expose: true
      name: Porch camera
      room: Porch
    switch.porch_power:
      expose: true
      name: Porch camera power
      aliases:
        - Porch camera
"""

# Well inside HA's 2 s EXECUTE limit: after it, HA answers without the stream URL.
EXECUTE_BUDGET = EXECUTE_LIMIT / 2
HLS_TIMEOUT = 30.0

GET_CAMERA_STREAM = {
    "command": "action.devices.commands.GetCameraStream",
    "params": {
        "StreamToChromecast": True,
        "SupportedStreamProtocols": ["progressive_mp4", "hls", "dash", "smooth_stream"],
    },
}


def on_off(on: bool) -> dict[str, Any]:
    """Google's OnOff command."""
    return {"command": "action.devices.commands.OnOff", "params": {"on": on}}


# -- Google's side -----------------------------------------------------------------------


def yaml_config(hass: HomeAssistant, text: str = README_YAML) -> GoogleConfig:
    """HA's manual (YAML) Google config, validated by HA's own schema."""
    return GoogleConfig(hass, GOOGLE_ASSISTANT_SCHEMA(yaml.safe_load(text)["google_assistant"]))


class CloudLikeConfig(AbstractConfig):
    """Home Assistant Cloud's Google config, as far as exposure goes.

    Cloud's `CloudGoogleConfig.should_expose` asks the exposed-entities store for the
    assistant "cloud.google_assistant" (when no YAML filter is set); so does this one.
    Everything about the Nabu Casa account is left out.
    """

    def __init__(self, hass: HomeAssistant, user_id: str) -> None:
        """Bind to hass; Cloud's agent user is the Nabu Casa account."""
        super().__init__(hass)
        self._agent_user = user_id
        self._users: dict[str, Any] = {}

    @property
    def enabled(self) -> bool:
        """Google is enabled."""
        return True

    @property
    def entity_config(self) -> dict[str, Any]:
        """No per-entity YAML config."""
        return {}

    @property
    def secure_devices_pin(self) -> None:
        """No PIN."""
        return None

    @property
    def should_report_state(self) -> bool:
        """No state reporting (it would call Google)."""
        return False

    def get_local_user_id(self, webhook_id: str) -> str | None:
        """No local SDK."""
        return None

    def get_local_webhook_id(self, agent_user_id: str) -> str | None:
        """No local SDK."""
        return None

    def get_agent_user_id_from_context(self, context: Any) -> str:
        """One agent user."""
        return self._agent_user

    def get_agent_user_id_from_webhook(self, webhook_id: str) -> str | None:
        """No local SDK."""
        return None

    def should_expose(self, entity_id: str) -> bool:
        """What Cloud does: the exposed-entities store decides."""
        return async_should_expose(self.hass, CLOUD_GOOGLE, entity_id)

    def should_2fa(self, state: State) -> bool:
        """No 2FA."""
        return False

    async def async_report_state(
        self, message: dict[str, Any], agent_user_id: str, event_id: str | None = None
    ) -> None:
        """Not used."""

    async def async_connect_agent_user(self, agent_user_id: str) -> None:
        """Remember the agent user."""
        self._users[agent_user_id] = {}

    async def async_disconnect_agent_user(self, agent_user_id: str) -> None:
        """Forget the agent user."""
        self._users.pop(agent_user_id, None)

    def async_get_agent_users(self) -> Collection[str]:
        """Known agent users."""
        return self._users


@dataclass
class Google:
    """Google's side of the conversation: messages as Google sends them."""

    hass: HomeAssistant
    config: AbstractConfig
    user_id: str  # the HA user who linked Google (YAML: the user of the API request)

    async def send(self, intent: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one message; return the payload of the answer."""
        body: dict[str, Any] = {"intent": f"action.devices.{intent}"}
        if payload is not None:
            body["payload"] = payload
        message = {"requestId": f"req-{intent.lower()}-{time.monotonic_ns()}", "inputs": [body]}
        response = await async_handle_message(
            self.hass, self.config, self.user_id, self.user_id, message, SOURCE_CLOUD
        )
        assert response["requestId"] == message["requestId"]
        answer: dict[str, Any] = response["payload"]
        return answer

    async def execute(
        self, entity_ids: list[str], command: dict[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], float]:
        """EXECUTE one command on devices; return the result per device and the time taken."""
        devices = [{"id": entity_id} for entity_id in entity_ids]
        start = time.perf_counter()
        payload = await self.send(
            "EXECUTE", {"commands": [{"devices": devices, "execution": [command]}]}
        )
        elapsed = time.perf_counter() - start
        assert "errorCode" not in payload, payload  # per-device answers, not a failed request
        results: dict[str, dict[str, Any]] = {}
        for result in payload["commands"]:
            for entity_id in result["ids"]:
                results[entity_id] = result
        assert set(results) == set(entity_ids)
        return results, elapsed

    async def sync_ids(self) -> set[str]:
        """The device ids a SYNC lists."""
        payload = await self.send("SYNC")
        return {device["id"] for device in payload["devices"]}


# -- Home Assistant's side ---------------------------------------------------------------


@pytest.fixture
async def porch_and_garden(
    google_hass: HomeAssistant,
    miio_camera_factory: MiioCameraFactory,
    rtsp_server: RtspServer,
) -> AsyncGenerator[tuple[MiioCameraSimulator, MiioCameraSimulator]]:
    """Two cameras marked for Google: porch shows cam1's colour, garden cam2's."""
    hass = google_hass
    porch = await miio_camera_factory()
    garden = await miio_camera_factory()
    entries = [
        await async_add_google_camera(hass, porch, "Porch", rtsp_server.url("cam1")),
        await async_add_google_camera(hass, garden, "Garden", rtsp_server.url("cam2")),
    ]
    yield porch, garden
    # A viewer that stopped watching: HA's HLS output ends after its idle timeout (only
    # that clears its timer; Stream.stop() leaves it running). Then unload.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=10))
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in entries:
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def fetch_stream(client: TestClient, url: str) -> tuple[str, Rgb]:
    """Play an HLS URL like a Cast receiver: master playlist, media playlist, init, segment.

    Returns the master playlist's CODECS and the mean colour of the first picture.
    HA's playlist views wait for the segments themselves (up to HLS_TIMEOUT here).
    """
    path = urlsplit(url).path
    base = path.rsplit("/", 1)[0]
    async with asyncio.timeout(HLS_TIMEOUT):
        master = await client.get(path)
        assert master.status == HTTPStatus.OK
        master_text = await master.text()
        codecs = master_text.split('CODECS="', 1)[1].split('"', 1)[0]
        media_name = next(line for line in master_text.splitlines() if line.endswith(".m3u8"))
        media = await client.get(f"{base}/{media_name}")
        assert media.status == HTTPStatus.OK
        segment_name = next(
            line for line in (await media.text()).splitlines() if line.endswith(".m4s")
        )
        init = await client.get(f"{base}/init.mp4")
        segment = await client.get(f"{base}/{segment_name.removeprefix('./')}")
        assert init.status == segment.status == HTTPStatus.OK
        data = await init.read() + await segment.read()
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        # PyAV's default slice threading paints the second slice of this server's
        # pictures wrongly; the bytes are what counts, so decode them plainly.
        video.thread_type = "NONE"
        frame = next(container.decode(video))
        pixels = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    red, green, blue = (round(float(value)) for value in pixels)
    return codecs, (red, green, blue)


# -- SYNC / QUERY --------------------------------------------------------------------------


@pytest.fixture
async def yaml_google(
    google_hass: HomeAssistant, hass_admin_user: MockUser
) -> AsyncGenerator[Google]:
    """Google talking to HA's YAML set-up, configured with the README's snippet."""
    config = yaml_config(google_hass)
    await config.async_initialize()
    yield Google(google_hass, config, hass_admin_user.id)
    config.async_deinitialize()


@pytest.fixture
def cloud_google(google_hass: HomeAssistant, hass_admin_user: MockUser) -> Google:
    """Google talking to HA through Home Assistant Cloud (exposure from HA's store)."""
    return Google(google_hass, CloudLikeConfig(google_hass, hass_admin_user.id), hass_admin_user.id)


@pytest.mark.usefixtures("porch_and_garden")
async def test_sync_and_query_with_the_readme_yaml(yaml_google: Google) -> None:
    """The README's YAML gives Google the camera (CameraStream) and its power switch (OnOff)."""
    payload = await yaml_google.send("SYNC")
    devices = {device["id"]: device for device in payload["devices"]}
    camera = devices["camera.porch"]
    assert camera["type"] == "action.devices.types.CAMERA"
    assert camera["traits"] == ["action.devices.traits.CameraStream"]
    assert camera["attributes"]["cameraStreamSupportedProtocols"] == ["hls"]
    assert camera["attributes"]["cameraStreamNeedAuthToken"] is False
    assert camera["name"]["name"] == "Porch camera"
    assert camera["roomHint"] == "Porch"
    assert camera["deviceInfo"]["manufacturer"] == "Xiaomi"
    power = devices["switch.porch_power"]
    assert power["type"] == "action.devices.types.SWITCH"
    assert power["traits"] == ["action.devices.traits.OnOff"]
    assert power["name"] == {
        "name": "Porch camera power",
        "nicknames": ["Porch camera power", "Porch camera"],
    }
    # Cameras are not in HA's default exposed domains: the unlisted one stays private.
    assert "camera.garden" not in devices
    # Settings switches are configuration entities: not exposed by default either.
    assert not any(device_id.startswith("switch.porch_status") for device_id in devices)

    payload = await yaml_google.send(
        "QUERY", {"devices": [{"id": "camera.porch"}, {"id": "switch.porch_power"}]}
    )
    assert payload["devices"]["camera.porch"] == {"online": True}
    assert payload["devices"]["switch.porch_power"] == {"online": True, "on": True}


# -- EXECUTE GetCameraStream ---------------------------------------------------------------


@pytest.mark.usefixtures("porch_and_garden")
async def test_get_camera_stream_plays_that_camera(
    yaml_google: Google,
    hass_client_no_auth: ClientSessionGenerator,
    rtsp_server: RtspServer,
) -> None:
    """Each camera's stream URL is this HA's HLS endpoint of that camera's own stream."""
    hass = yaml_google.hass
    client = await hass_client_no_auth()  # a Nest Hub has no HA login: the token is the key
    urls: dict[str, str] = {}
    for entity_id in ("camera.porch", "camera.garden"):
        results, elapsed = await yaml_google.execute([entity_id], GET_CAMERA_STREAM)
        assert elapsed < EXECUTE_BUDGET, f"GetCameraStream took {elapsed:.2f} s"
        result = results[entity_id]
        assert result["status"] == "SUCCESS"
        states = result["states"]
        assert states["cameraStreamReceiverAppId"]  # HA's Cast receiver plays it
        stream = get_camera_from_entity_id(hass, entity_id).stream
        assert stream is not None
        assert stream.access_token
        assert states["cameraStreamAccessUrl"] == (
            f"{LAN_URL}/api/hls/{stream.access_token}/master_playlist.m3u8"
        )
        urls[entity_id] = states["cameraStreamAccessUrl"]
    assert urls["camera.porch"] != urls["camera.garden"]

    for entity_id, own, other in (
        ("camera.porch", "cam1", "cam2"),
        ("camera.garden", "cam2", "cam1"),
    ):
        codecs, colour = await fetch_stream(client, urls[entity_id])
        # H.264 and no audio track: what a Nest Hub plays.
        assert codecs.startswith("avc1."), codecs
        assert "mp4a" not in codecs
        assert colour_distance(colour, rtsp_server.colour(own)) < SAME_COLOUR, (entity_id, colour)
        assert colour_distance(colour, rtsp_server.colour(other)) > 100, (entity_id, colour)


def entry_titled(hass: HomeAssistant, title: str) -> MockConfigEntry:
    """The camera entry with this title."""
    entry = next(e for e in hass.config_entries.async_entries(DOMAIN) if e.title == title)
    assert isinstance(entry, MockConfigEntry)
    return entry


async def test_privacy_mode_answers_device_turned_off(
    yaml_google: Google,
    porch_and_garden: tuple[MiioCameraSimulator, MiioCameraSimulator],
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A camera switched off answers deviceTurnedOff; the other one in the request streams."""
    hass = yaml_google.hass
    porch, _garden = porch_and_garden
    # A stream that was running before the camera went off must not be handed out.
    results, _ = await yaml_google.execute(["camera.porch"], GET_CAMERA_STREAM)
    assert results["camera.porch"]["status"] == "SUCCESS"

    porch.props["power"] = "off"  # switched off from the Mi Home app
    await entry_titled(hass, "Porch").runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()

    results, elapsed = await yaml_google.execute(
        ["camera.porch", "camera.garden"], GET_CAMERA_STREAM
    )
    assert elapsed < EXECUTE_BUDGET
    assert results["camera.porch"] == {
        "ids": ["camera.porch"],
        "status": "ERROR",
        "errorCode": "deviceTurnedOff",
    }
    garden = results["camera.garden"]
    assert garden["status"] == "SUCCESS"
    assert "/api/hls/" in garden["states"]["cameraStreamAccessUrl"]

    # The frontend asking for the stream gets the same refusal, as a translated message.
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "camera/stream", "entity_id": "camera.porch", "format": "hls"}
    )
    answer = await client.receive_json()
    assert answer["success"] is False
    assert answer["error"]["code"] == "start_stream_failed"
    assert answer["error"]["message"] == (
        "camera.porch is off (privacy mode). Turn its power switch on to watch it"
    )


@pytest.mark.usefixtures("fast_miio_timeout")
async def test_unreachable_camera_answers_device_offline(
    yaml_google: Google,
    porch_and_garden: tuple[MiioCameraSimulator, MiioCameraSimulator],
) -> None:
    """A camera that stopped answering is reported offline, not as an unknown error."""
    hass = yaml_google.hass
    porch, _garden = porch_and_garden
    porch.fault = Fault.SILENT
    await entry_titled(hass, "Porch").runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()

    results, _ = await yaml_google.execute(["camera.porch"], GET_CAMERA_STREAM)
    assert results["camera.porch"]["status"] == "ERROR"
    assert results["camera.porch"]["errorCode"] == "deviceOffline"
    payload = await yaml_google.send("QUERY", {"devices": [{"id": "camera.porch"}]})
    assert payload["devices"]["camera.porch"] == {"online": False}


# -- voice: "turn off the porch camera" ----------------------------------------------------


async def test_voice_turns_the_camera_off_and_on(
    yaml_google: Google,
    porch_and_garden: tuple[MiioCameraSimulator, MiioCameraSimulator],
) -> None:
    """Google's OnOff reaches the camera's power; the stream follows it."""
    porch, garden = porch_and_garden

    results, elapsed = await yaml_google.execute(["switch.porch_power"], on_off(False))
    assert elapsed < EXECUTE_BUDGET
    assert results["switch.porch_power"]["status"] == "SUCCESS"
    assert results["switch.porch_power"]["states"] == {"online": True, "on": False}
    assert porch.props["power"] == "off"
    assert garden.props["power"] == "on"
    results, _ = await yaml_google.execute(["camera.porch"], GET_CAMERA_STREAM)
    assert results["camera.porch"]["errorCode"] == "deviceTurnedOff"

    results, _ = await yaml_google.execute(["switch.porch_power"], on_off(True))
    assert results["switch.porch_power"]["states"] == {"online": True, "on": True}
    assert porch.props["power"] == "on"
    results, _ = await yaml_google.execute(["camera.porch"], GET_CAMERA_STREAM)
    assert results["camera.porch"]["status"] == "SUCCESS"


# -- exposure (Home Assistant Cloud) -------------------------------------------------------


async def test_option_exposes_camera_and_power_switch(
    cloud_google: Google,
    add_google_camera: GoogleCameraAdder,
    rtsp_server: RtspServer,
) -> None:
    """The option exposes exactly the camera and its power switch; off hides them again."""
    hass = cloud_google.hass
    entry = await add_google_camera("Porch", rtsp_server.url("cam1"))
    exposed = {"camera.porch", "switch.porch_power"}
    for entity_id in exposed:
        assert async_should_expose(hass, CLOUD_GOOGLE, entity_id)
    assert not async_should_expose(hass, CLOUD_GOOGLE, "switch.porch_status_light")
    assert await cloud_google.sync_ids() == exposed

    await set_options(hass, entry, **{CONF_EXPOSE_TO_GOOGLE: False})
    for entity_id in exposed:
        assert not async_should_expose(hass, CLOUD_GOOGLE, entity_id)
    assert await cloud_google.sync_ids() == set()


async def test_not_exposed_by_default(
    cloud_google: Google,
    add_google_camera: GoogleCameraAdder,
    rtsp_server: RtspServer,
) -> None:
    """Without the option, even Cloud's "expose new entities" leaves the camera private."""
    hass = cloud_google.hass
    # The user lets Cloud expose new entities of the usual domains (switch is one).
    hass.data[DATA_EXPOSED_ENTITIES].async_set_expose_new_entities(CLOUD_GOOGLE, True)
    await add_google_camera("Porch", rtsp_server.url("cam1"), google_option=None)
    assert not async_should_expose(hass, CLOUD_GOOGLE, "camera.porch")
    assert not async_should_expose(hass, CLOUD_GOOGLE, "switch.porch_power")
    assert await cloud_google.sync_ids() == set()


async def test_user_choice_on_the_voice_assistants_page_is_kept(
    cloud_google: Google,
    add_google_camera: GoogleCameraAdder,
    rtsp_server: RtspServer,
) -> None:
    """A reload does not undo what the user changed by hand; changing the option does."""
    hass = cloud_google.hass
    entry = await add_google_camera("Porch", rtsp_server.url("cam1"))
    # The user does not want Google to switch the camera off.
    async_expose_entity(hass, CLOUD_GOOGLE, "switch.porch_power", False)

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await cloud_google.sync_ids() == {"camera.porch"}

    await set_options(hass, entry, **{CONF_EXPOSE_TO_GOOGLE: False})
    await set_options(hass, entry, **{CONF_EXPOSE_TO_GOOGLE: True})
    assert await cloud_google.sync_ids() == {"camera.porch", "switch.porch_power"}


async def test_camera_without_video_exposes_its_power_switch(
    cloud_google: Google,
    add_google_camera: GoogleCameraAdder,
) -> None:
    """No video source: no CameraStream device, but voice can still switch the camera."""
    await add_google_camera("Porch", None)
    payload = await cloud_google.send("SYNC")
    devices = {device["id"]: device["traits"] for device in payload["devices"]}
    assert devices == {"switch.porch_power": ["action.devices.traits.OnOff"]}
