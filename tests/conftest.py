"""Shared fixtures for the xiaomi_cam_bridge tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING
from unittest.mock import PropertyMock, patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    Platform,
    __version__ as HA_VERSION,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import format_mac
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

# Bind the name `custom_components` to this repository's (namespace) package before
# Home Assistant's loader puts phcc's testing_config, whose regular `custom_components`
# package would win, on sys.path. The integration itself is imported inside fixtures
# only, so the HA-free device tests (tests/device) never import it.
import custom_components  # noqa: F401
from tests.peers.miio_sim import MiioCameraSimulator

if TYPE_CHECKING:
    # Imported for the type only: importing the plugin module before pytest_plugins
    # loads it would keep pytest from rewriting its asserts.
    from tests.peers.miio_fixtures import MiioCameraFactory

type ConfigEntryFactory = Callable[..., MockConfigEntry]
type SnapshotEntities = Callable[[], Awaitable[None]]

# Real peers (UDP miio simulator, GStreamer RTSP server) live in tests/peers.
pytest_plugins = ["tests.peers.miio_fixtures", "tests.peers.rtsp_fixtures"]

# A fixed entry id keeps snapshots stable.
ENTRY_ID = "01JXIAOMICAMBRIDGE0000000"
# Short enough that tests of an unreachable camera finish quickly, long enough for a
# loaded machine to answer on loopback.
FAST_MIIO_TIMEOUT = 0.3
# An address of Home Assistant on the LAN, as a user sets it in Settings > System >
# Network. The test client reaches the same HTTP app on loopback.
LAN_URL = "http://192.168.1.10:8123"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that picks the platforms `init_integration` sets up."""
    config.addinivalue_line(
        "markers", "platforms(*platforms): set up only these platforms (default: all)"
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None, hass: HomeAssistant, tmp_path: Path
) -> None:
    """Load custom_components/ in every test, with a configuration folder of its own.

    phcc's configuration folder is inside its installed package and shared by every
    test run; the snapshot cache writes under it, so each test gets a fresh one.
    """
    hass.config.config_dir = str(tmp_path / "config")


class _PerReleaseSnapshots(HomeAssistantSnapshotExtension):
    """Home Assistant's serializer, one folder per tested release: tests/ha_snapshots/YYYY.M/.

    What a registry entry holds and how HA writes it change between releases (2026.10
    adds `object_id_base`, keys capabilities by enum), so each lane keeps its own. Not
    under tests/snapshots/: syrupy also walks the default extension's folder, and would
    count the other release's files as unused there (which fails the run).
    """

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        release = ".".join(HA_VERSION.split(".")[:2])
        return str(Path(test_location.filepath).parent / "ha_snapshots" / release)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer, stored in tests/ha_snapshots/YYYY.M/.

    phcc defines the same fixture, but syrupy's own plugin shadows it, which would
    store random registry ids and timestamps in __snapshots__/.
    """
    return snapshot.use_extension(_PerReleaseSnapshots)


@pytest.fixture(autouse=True)
def fail_on_deprecation_reports(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Fail a test in which Home Assistant reports code of ours as deprecated.

    HA logs these ("Detected code that ...", "Detected that custom integration ...") and
    raises only for some; either way they break in a later release.
    """
    yield
    reports = [
        record.getMessage()
        for record in caplog.get_records("call") + caplog.get_records("setup")
        if record.name.startswith("homeassistant")
        and record.getMessage().startswith(("Detected code that", "Detected that custom"))
    ]
    assert reports == []


@pytest.fixture
def fast_miio_timeout() -> Generator[float]:
    """Shorten the miio timeout for tests where the camera does not answer."""
    with patch("custom_components.xiaomi_cam_bridge.helpers.MIIO_TIMEOUT", FAST_MIIO_TIMEOUT):
        yield FAST_MIIO_TIMEOUT


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities that are disabled by default as enabled."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


def _entry_for(sim: MiioCameraSimulator, *, entry_id: str | None = None) -> MockConfigEntry:
    from custom_components.xiaomi_cam_bridge.const import (
        CONF_DEVICE_ID,
        CONF_MAC,
        CONF_MODEL,
        DOMAIN,
    )

    mac = format_mac(sim.config.mac)
    return MockConfigEntry(
        domain=DOMAIN,
        title="Mi Home Security Camera 360°",
        unique_id=mac,
        entry_id=entry_id,
        data={
            CONF_HOST: sim.host,
            CONF_TOKEN: sim.config.token,
            CONF_DEVICE_ID: sim.config.device_id,
            CONF_MODEL: sim.config.model,
            CONF_MAC: mac,
        },
        options={CONF_SCAN_INTERVAL: 30},
    )


@pytest.fixture
def config_entry_factory() -> ConfigEntryFactory:
    """Build the config entry the config flow would create for a simulated camera."""
    return _entry_for


@pytest.fixture
def mock_config_entry(miio_camera: MiioCameraSimulator) -> MockConfigEntry:
    """The config entry of the default simulated camera (not yet added to hass)."""
    return _entry_for(miio_camera, entry_id=ENTRY_ID)


@pytest.fixture
def platforms(request: pytest.FixtureRequest) -> list[Platform]:
    """Platforms to set up: those of the closest `platforms` marker, else all of them.

    A platform's test module marks itself (`pytestmark = pytest.mark.platforms(...)`)
    so that its snapshots hold only its own entities.
    """
    from custom_components.xiaomi_cam_bridge import PLATFORMS

    marker = request.node.get_closest_marker("platforms")
    return list(marker.args) if marker is not None else PLATFORMS


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, platforms: list[Platform]
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the integration against the running simulated camera."""
    mock_config_entry.add_to_hass(hass)
    with patch("custom_components.xiaomi_cam_bridge.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        yield mock_config_entry


@pytest.fixture
def snapshot_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> SnapshotEntities:
    """Compare the set-up entry's entities (registry entries, states) with the snapshot."""

    async def compare() -> None:
        await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)

    return compare


async def async_add_camera(
    hass: HomeAssistant,
    sim: MiioCameraSimulator,
    stream_url: str | None,
    *,
    title: str | None = None,
    entry_id: str | None = None,
    **options: object,
) -> MockConfigEntry:
    """Add and set up the entry of a simulated camera whose video is `stream_url`.

    The source is `custom` with that URL (or `none` for None); more options (username,
    password, ...) as keyword arguments.
    """
    from custom_components.xiaomi_cam_bridge.const import CONF_STREAM_URL, CONF_VIDEO_SOURCE

    entry = _entry_for(sim, entry_id=entry_id)
    entry.add_to_hass(hass)
    video: dict[str, object] = {CONF_VIDEO_SOURCE: "none"}
    if stream_url is not None:
        video = {CONF_VIDEO_SOURCE: "custom", CONF_STREAM_URL: stream_url}
    hass.config_entries.async_update_entry(
        entry, title=title or entry.title, options={**entry.options, **video, **options}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


# -- Google Assistant (test_google_assistant.py, test_repairs.py) --------------------------


@pytest.fixture
async def google_hass(hass: HomeAssistant, socket_enabled: None) -> HomeAssistant:
    """HA with what the camera path needs: http, stream, the exposed-entities store, a URL.

    Short HLS segments (2 s, no LL-HLS) keep the playlist fetch quick; the Nest Hub
    path is the same.
    """
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(
        hass, "stream", {"stream": {"ll_hls": False, "segment_duration": 2}}
    )
    assert await async_setup_component(hass, "homeassistant", {})
    await hass.config.async_update(internal_url=LAN_URL)
    return hass


async def async_add_google_camera(
    hass: HomeAssistant,
    sim: MiioCameraSimulator,
    title: str,
    stream_url: str | None,
    *,
    google_option: bool | None = True,
) -> MockConfigEntry:
    """Add and set up a camera entry with a custom stream URL and the Google option.

    Without a URL the entry keeps the default options (no video source); None for the
    option leaves it unset.
    """
    from custom_components.xiaomi_cam_bridge.const import (
        CONF_EXPOSE_TO_GOOGLE,
        CONF_STREAM_URL,
        CONF_VIDEO_SOURCE,
    )

    entry = _entry_for(sim)
    entry.add_to_hass(hass)
    options = dict(entry.options)
    if stream_url is not None:
        options |= {CONF_VIDEO_SOURCE: "custom", CONF_STREAM_URL: stream_url}
    if google_option is not None:
        options[CONF_EXPOSE_TO_GOOGLE] = google_option
    hass.config_entries.async_update_entry(entry, title=title, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


type GoogleCameraAdder = Callable[..., Awaitable[MockConfigEntry]]


@pytest.fixture
async def add_google_camera(
    google_hass: HomeAssistant, miio_camera_factory: MiioCameraFactory
) -> AsyncGenerator[GoogleCameraAdder]:
    """Add a camera entry (`async_add_google_camera`) for a new simulated camera.

    The entries still loaded at the end are unloaded, which stops their streams.
    """
    entries: list[MockConfigEntry] = []

    async def add(
        title: str, stream_url: str | None, *, google_option: bool | None = True
    ) -> MockConfigEntry:
        sim = await miio_camera_factory()
        entry = await async_add_google_camera(
            google_hass, sim, title, stream_url, google_option=google_option
        )
        entries.append(entry)
        return entry

    yield add
    for entry in entries:
        if entry.state is ConfigEntryState.LOADED:
            assert await google_hass.config_entries.async_unload(entry.entry_id)


async def async_set_options(hass: HomeAssistant, entry: MockConfigEntry, **changes: object) -> None:
    """Change entry options as the options flow does (the entry reloads)."""
    hass.config_entries.async_update_entry(entry, options={**entry.options, **changes})
    await hass.async_block_till_done(wait_background_tasks=True)
