"""Config flow: user, zeroconf, reauth, reconfigure and options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
import logging
import re
from typing import Any

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import format_mac
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

# Home Assistant validates flow schemas with probatio since 2026.9 (voluptuous before it;
# probatio keeps voluptuous's API), so the schemas are built with whichever this release has.
try:
    import probatio as vol  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - Home Assistant 2026.6 to 2026.8
    import voluptuous as vol  # type: ignore[no-redef, unused-ignore]

from .camlib.exceptions import (
    CannotConnect,
    CorruptFrame,
    InvalidToken,
    NoVideoTrack,
    StreamAuthError,
    StreamError,
    UnsupportedCodec,
    WrongDevice,
)
from .camlib.miio_client import CameraInfo, is_valid_token
from .camlib.sources import (
    REASON_MISSING_NAME,
    REASON_PASSWORD_WITHOUT_USERNAME,
    InvalidSource,
    SourcePreset,
    redact_url,
)
from .const import (
    CONF_DEVICE_ID,
    CONF_EXPOSE_TO_GOOGLE,
    CONF_GO2RTC_HOST,
    CONF_GO2RTC_NAME,
    CONF_MAC,
    CONF_MODEL,
    CONF_STREAM_URL,
    CONF_VIDEO_SOURCE,
    DEFAULT_EXPOSE_TO_GOOGLE,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
    ZEROCONF_PREFIXES,
)
from .coordinator import XiaomiCamConfigEntry
from .helpers import create_client, create_engine, model_name, verify_tls, video_url

_LOGGER = logging.getLogger(__name__)

_TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_HOST_SELECTOR = TextSelector()
_TEXT_SELECTOR = TextSelector()
_PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_SOURCE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[preset.value for preset in SourcePreset],
        translation_key=CONF_VIDEO_SOURCE,
        mode=SelectSelectorMode.DROPDOWN,
    )
)

# Steps of the video settings; the first one is `video` in the config flow and `init`
# (with the polling options) in the options flow.
STEP_VIDEO = "video"
STEP_VIDEO_GO2RTC = "video_go2rtc"
STEP_VIDEO_CUSTOM = "video_custom"

_VIDEO_KEYS = (
    CONF_VIDEO_SOURCE,
    CONF_USERNAME,
    CONF_PASSWORD,
    CONF_GO2RTC_HOST,
    CONF_GO2RTC_NAME,
    CONF_STREAM_URL,
    CONF_VERIFY_SSL,
)
# Which keys each source stores besides video_source and the credentials.
_SOURCE_KEYS: dict[SourcePreset, tuple[str, ...]] = {
    SourcePreset.GO2RTC: (CONF_GO2RTC_HOST, CONF_GO2RTC_NAME),
    SourcePreset.CUSTOM: (CONF_STREAM_URL, CONF_VERIFY_SSL),
}

# Most specific first: the form error shown for a stream that failed the check.
_STREAM_ERRORS: tuple[tuple[type[StreamError], str], ...] = (
    (StreamAuthError, "stream_auth"),
    (NoVideoTrack, "no_video_track"),
    (UnsupportedCodec, "unsupported_codec"),
    (CorruptFrame, "stream_corrupt"),
)


def _normalise_token(token: str) -> str:
    """Accept a pasted token with spaces or upper case; python-miio wants lower hex."""
    return token.strip().lower()


def _model_from_zeroconf_name(name: str) -> str:
    """`chuangmi-camera-ipc019_miio12345._miio._udp.local.` -> `chuangmi.camera.ipc019`."""
    return name.split("_miio", 1)[0].split(".", 1)[0].replace("-", ".")


def _entry_data(host: str, token: str, info: CameraInfo) -> dict[str, Any]:
    return {
        CONF_HOST: host,
        CONF_TOKEN: token,
        CONF_DEVICE_ID: info.device_id,
        CONF_MODEL: info.model,
        CONF_MAC: format_mac(info.mac),
    }


async def _async_validate(
    host: str, token: str, *, device_id: int | None = None
) -> tuple[CameraInfo | None, dict[str, str]]:
    """Talk to the camera; return its identity, or the form errors explaining why not."""
    if not is_valid_token(token):
        return None, {CONF_TOKEN: "invalid_token_format"}
    client = create_client(host, token, device_id=device_id)
    try:
        return await client.info(), {}
    except WrongDevice:
        return None, {"base": "wrong_device"}
    except InvalidToken:
        return None, {CONF_TOKEN: "invalid_auth"}
    except CannotConnect:
        return None, {"base": "cannot_connect"}
    except Exception:
        # UnsupportedReply included: the device answers but not like a camera we know.
        _LOGGER.exception("Unexpected error while validating the camera at %s", host)
        return None, {"base": "unknown"}


def _stream_error_key(err: StreamError) -> str:
    for kind, key in _STREAM_ERRORS:
        if isinstance(err, kind):
            return key
    return "stream_unreachable"


async def _async_probe(
    hass: HomeAssistant, camera_id: str, url: str, *, verify: bool
) -> str | None:
    """Open the stream and decode one complete keyframe; return a form error key or None."""
    # The engine derives a key-stretched fingerprint of the URL: not in the event loop.
    engine = await hass.async_add_executor_job(
        partial(create_engine, camera_id, url, warm_period=0.0, verify_tls=verify)
    )
    try:
        await engine.async_probe_media()
    except StreamError as err:
        # The engine's messages carry the URL redacted.
        _LOGGER.debug("Video source check failed: %s", err)
        return _stream_error_key(err)
    except Exception:
        _LOGGER.exception("Unexpected error while checking the stream %s", redact_url(url))
        return "unknown"
    finally:
        await engine.async_close()
    return None


def _reason_field(source: SourcePreset, reason: str) -> str:
    """Return the form field an InvalidSource reason belongs to."""
    if source is SourcePreset.CUSTOM:
        return CONF_STREAM_URL
    if source is SourcePreset.GO2RTC:
        return CONF_GO2RTC_NAME if reason == REASON_MISSING_NAME else CONF_GO2RTC_HOST
    return "base"  # the camera's own address: fixed by Reconfigure, not here


class _VideoSettings:
    """The video settings being entered, shared by the config and options flows.

    The first step asks for the source and the credentials; go2rtc and custom sources
    then ask for their address. The resulting URL is checked by opening it and decoding
    a keyframe. A refused login sends the user back to the first step, where the
    credentials are; other errors stay on the step whose input made the URL.
    """

    def __init__(self, first_step: str, stored: Mapping[str, Any]) -> None:
        """Start from the stored settings (the options flow) or from nothing."""
        self.first_step = first_step
        self.values: dict[str, Any] = {key: stored[key] for key in _VIDEO_KEYS if key in stored}
        self.values.setdefault(CONF_VIDEO_SOURCE, SourcePreset.NONE.value)
        self.redacted_url = ""

    @property
    def source(self) -> SourcePreset:
        """The chosen source."""
        return SourcePreset(self.values[CONF_VIDEO_SOURCE])

    def take_first_step(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        """Record the source and the credentials; return form errors.

        An empty password with an unchanged user name keeps the password entered
        before, so a password is never sent back to the browser to be kept.
        """
        username = (user_input.get(CONF_USERNAME) or "").strip()
        password = user_input.get(CONF_PASSWORD) or ""
        if not password and username and username == self.values.get(CONF_USERNAME):
            password = self.values.get(CONF_PASSWORD, "")
        self.values[CONF_VIDEO_SOURCE] = user_input[CONF_VIDEO_SOURCE]
        for key, value in ((CONF_USERNAME, username), (CONF_PASSWORD, password)):
            if value:
                self.values[key] = value
            else:
                self.values.pop(key, None)
        if password and not username:
            return {CONF_USERNAME: REASON_PASSWORD_WITHOUT_USERNAME}
        return {}

    def next_step(self) -> str | None:
        """Return the step asking for the source's address, or None when the URL is complete."""
        if self.source is SourcePreset.GO2RTC:
            return STEP_VIDEO_GO2RTC
        if self.source is SourcePreset.CUSTOM:
            return STEP_VIDEO_CUSTOM
        return None

    def take(self, user_input: Mapping[str, Any]) -> None:
        """Record the answers of a go2rtc / custom step."""
        self.values.update(
            {
                key: value.strip() if isinstance(value, str) else value
                for key, value in user_input.items()
            }
        )

    async def async_check(
        self,
        hass: HomeAssistant,
        camera_id: str,
        host: str,
        *,
        current_url: str | None = None,
        current_verify: bool = True,
    ) -> dict[str, str]:
        """Build the URL and open it (unless it and its TLS check are unchanged).

        Return form errors.
        """
        self.redacted_url = ""
        try:
            url = video_url({CONF_HOST: host}, self.values)
        except InvalidSource as err:
            return {_reason_field(self.source, err.reason): err.reason}
        if url is None:
            return {}
        self.redacted_url = redact_url(url)  # shown in the error messages
        verify = verify_tls(self.values)
        if url == current_url and verify == current_verify:
            return {}  # checked when it was set: a change of other options needs no stream
        if (error := await _async_probe(hass, camera_id, url, verify=verify)) is not None:
            return {"base": error}
        return {}

    def error_step(self, errors: Mapping[str, str], step: str) -> str:
        """Return the step to show errors on: credentials are asked for on the first one."""
        return self.first_step if errors.get("base") == "stream_auth" else step

    def options(self) -> dict[str, Any]:
        """Return the options to store: only the keys the chosen source uses."""
        source = self.source
        options: dict[str, Any] = {CONF_VIDEO_SOURCE: source.value}
        if source is SourcePreset.NONE:
            return options
        for key in (CONF_USERNAME, CONF_PASSWORD, *_SOURCE_KEYS.get(source, ())):
            if self.values.get(key) not in (None, ""):  # False (verify_ssl) is kept
                options[key] = self.values[key]
        return options

    def placeholders(self, host: str) -> dict[str, str]:
        """Return the description placeholders of the video steps."""
        return {CONF_HOST: host, CONF_STREAM_URL: self.redacted_url}

    def suggested(self) -> dict[str, Any]:
        """Values to fill the forms with; never the password."""
        return {key: value for key, value in self.values.items() if key != CONF_PASSWORD}


def _source_schema(current: str | None = None) -> dict[vol.Marker, Any]:
    """Source and credentials; an options form defaults to the current source."""
    source = (
        vol.Required(CONF_VIDEO_SOURCE)
        if current is None
        else vol.Required(CONF_VIDEO_SOURCE, default=current)
    )
    return {
        source: _SOURCE_SELECTOR,
        vol.Optional(CONF_USERNAME): _TEXT_SELECTOR,
        vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
    }


_GO2RTC_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_GO2RTC_HOST): _HOST_SELECTOR,
        vol.Required(CONF_GO2RTC_NAME): _TEXT_SELECTOR,
    }
)
_CUSTOM_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_STREAM_URL): _TEXT_SELECTOR,
        # As Home Assistant's generic camera: on unless a self-signed camera needs it off.
        vol.Optional(CONF_VERIFY_SSL, default=True): BooleanSelector(),
    }
)


@dataclass(kw_only=True)
class _VideoSteps:
    """The video steps of a flow: its forms, the stream check, the final result.

    Held by the config flow (first step `video`) and the options flow (first step
    `init`, with the polling options); each gives the form of its first step and what
    to do with the checked settings.
    """

    flow: ConfigFlow | OptionsFlow
    settings: _VideoSettings
    host: str
    camera_id: str
    # The schema and suggested values of the first step's form.
    first_form: Callable[[], tuple[vol.Schema, dict[str, Any]]]
    # Ends the flow with the options of the checked settings.
    finish: Callable[[dict[str, Any]], ConfigFlowResult]
    # The stored source: not opened again when neither it nor its TLS check changed.
    current_url: str | None = None
    current_verify: bool = True

    async def async_first_step(self, user_input: Mapping[str, Any] | None) -> ConfigFlowResult:
        """Take the source and the credentials; go on to the address, or check."""
        first = self.settings.first_step
        if user_input is None:
            return self.async_show_form(first)
        if errors := self.settings.take_first_step(user_input):
            return self.async_show_form(first, errors)
        if (step := self.settings.next_step()) is not None:
            return self.async_show_form(step)
        return await self._async_check(first)

    async def async_address_step(
        self, step: str, user_input: Mapping[str, Any] | None
    ) -> ConfigFlowResult:
        """Take a go2rtc / custom address, then check the stream."""
        if user_input is None:
            return self.async_show_form(step)
        self.settings.take(user_input)
        return await self._async_check(step)

    async def _async_check(self, step: str) -> ConfigFlowResult:
        """Open the stream; finish when it gives a picture."""
        errors = await self.settings.async_check(
            self.flow.hass,
            self.camera_id,
            self.host,
            current_url=self.current_url,
            current_verify=self.current_verify,
        )
        if errors:
            return self.async_show_form(self.settings.error_step(errors, step), errors)
        return self.finish(self.settings.options())

    @callback
    def async_show_form(self, step: str, errors: dict[str, str] | None = None) -> ConfigFlowResult:
        """Show a video step, filled with the settings entered so far."""
        if step == self.settings.first_step:
            schema, suggested = self.first_form()
        else:
            schema = _GO2RTC_SCHEMA if step == STEP_VIDEO_GO2RTC else _CUSTOM_SCHEMA
            suggested = self.settings.suggested()
        return self.flow.async_show_form(
            step_id=step,
            data_schema=self.flow.add_suggested_values_to_schema(schema, suggested),
            errors=errors or {},
            description_placeholders=self.settings.placeholders(self.host),
        )


class _VideoAddressSteps:
    """The address steps of both flows, under the names Home Assistant looks steps up by."""

    _video: _VideoSteps | None

    async def async_step_video_go2rtc(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the go2rtc server and the camera's stream name on it."""
        assert self._video is not None
        return await self._video.async_address_step(STEP_VIDEO_GO2RTC, user_input)

    async def async_step_video_custom(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the stream's RTSP URL."""
        assert self._video is not None
        return await self._video.async_address_step(STEP_VIDEO_CUSTOM, user_input)


class XiaomiCamConfigFlow(_VideoAddressSteps, ConfigFlow, domain=DOMAIN):
    """Add a camera by host and token, or from zeroconf discovery."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing discovered."""
        self._discovered_host: str | None = None
        # Set once the user / zeroconf step found the camera.
        self._video: _VideoSteps | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: XiaomiCamConfigEntry) -> XiaomiCamOptionsFlow:
        """Return the options flow."""
        return XiaomiCamOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the host and the token."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            token = _normalise_token(user_input[CONF_TOKEN])
            info, errors = await _async_validate(host, token)
            if info is not None:
                return await self._async_create_camera_entry(host, token, info)
        schema = self.add_suggested_values_to_schema(
            vol.Schema(
                {
                    vol.Required(CONF_HOST): _HOST_SELECTOR,
                    vol.Required(CONF_TOKEN): _TOKEN_SELECTOR,
                }
            ),
            {CONF_HOST: user_input[CONF_HOST]} if user_input else {},
        )
        return self.async_show_form(step_id="user", data_schema=schema, errors=errors)

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """Handle a camera announcing itself; only the token is still needed."""
        name = discovery_info.name
        if not name.startswith(ZEROCONF_PREFIXES):
            return self.async_abort(reason="not_camera")
        mac = discovery_info.properties.get("mac")
        if not mac:
            # Some firmwares put the MAC in the `poch` property only.
            poch = discovery_info.properties.get("poch", "")
            if match := re.search(r"mac=(\w+)", poch):
                mac = match.group(1)
        if not mac:
            return self.async_abort(reason="not_camera")

        host = discovery_info.host
        await self.async_set_unique_id(format_mac(mac))
        # A known camera that moved to another address: update the host and reload.
        # A loaded entry's update listener reloads it; one waiting to retry has none.
        known = (
            None
            if self.unique_id is None
            else self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, self.unique_id)
        )
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: host},
            reload_on_update=known is None or not known.update_listeners,
        )

        self._discovered_host = host
        model = _model_from_zeroconf_name(name)
        self.context["title_placeholders"] = {CONF_NAME: model_name(model), CONF_HOST: host}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the token of a discovered camera."""
        assert self._discovered_host is not None
        host = self._discovered_host
        errors: dict[str, str] = {}
        if user_input is not None:
            token = _normalise_token(user_input[CONF_TOKEN])
            info, errors = await _async_validate(host, token)
            if info is not None:
                return await self._async_create_camera_entry(host, token, info)
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=vol.Schema({vol.Required(CONF_TOKEN): _TOKEN_SELECTOR}),
            errors=errors,
            description_placeholders=self.context["title_placeholders"],
        )

    async def _async_create_camera_entry(
        self, host: str, token: str, info: CameraInfo
    ) -> ConfigFlowResult:
        """Refuse a camera already known, else ask for the video source of the one that answered."""
        # The MAC the camera reports is authoritative (discovery may have guessed).
        await self.async_set_unique_id(format_mac(info.mac), raise_on_progress=False)
        self._abort_if_unique_id_configured()
        settings = _VideoSettings(STEP_VIDEO, {})
        self._video = _VideoSteps(
            flow=self,
            settings=settings,
            host=host,
            camera_id=self.unique_id or format_mac(info.mac),
            first_form=lambda: (vol.Schema(_source_schema()), settings.suggested()),
            finish=lambda options: self.async_create_entry(
                title=model_name(info.model),
                data=_entry_data(host, token, info),
                options=options,
            ),
        )
        return await self.async_step_video()

    async def async_step_video(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the camera's video comes from, and the stream's credentials."""
        assert self._video is not None
        return await self._video.async_first_step(user_input)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start reauthentication: the camera refused the stored token."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new token of the same camera at the same address."""
        entry = self._get_reauth_entry()
        host = entry.data[CONF_HOST]
        errors: dict[str, str] = {}
        if user_input is not None:
            token = _normalise_token(user_input[CONF_TOKEN])
            # The device id is pinned: a different device at this address is refused.
            info, errors = await _async_validate(host, token, device_id=entry.data[CONF_DEVICE_ID])
            if info is not None:
                await self.async_set_unique_id(format_mac(info.mac))
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self._async_update_entry(entry, _entry_data(host, token, info))
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_TOKEN): _TOKEN_SELECTOR}),
            errors=errors,
            description_placeholders={CONF_NAME: entry.title, CONF_HOST: host},
        )

    def _async_update_entry(
        self, entry: XiaomiCamConfigEntry, data_updates: dict[str, Any]
    ) -> ConfigFlowResult:
        """Store the new data and abort; a loaded entry's update listener reloads it.

        HA 2026.10 reports a flow reload on top of an update listener; an entry that
        failed to set up has no listener, so the flow reloads it.
        """
        if entry.update_listeners:
            return self.async_update_and_abort(entry, data_updates=data_updates)
        return self.async_update_reload_and_abort(entry, data_updates=data_updates)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the host and/or token of the same camera.

        The device id is not pinned here: the MAC decides whether it is the same camera,
        and a camera that was reset and re-paired may come back with a new device id.
        An empty token keeps the current one.
        """
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            token = _normalise_token(user_input.get(CONF_TOKEN) or entry.data[CONF_TOKEN])
            info, errors = await _async_validate(host, token)
            if info is not None:
                await self.async_set_unique_id(format_mac(info.mac))
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self._async_update_entry(entry, _entry_data(host, token, info))
        schema = self.add_suggested_values_to_schema(
            vol.Schema(
                {
                    vol.Required(CONF_HOST): _HOST_SELECTOR,
                    vol.Optional(CONF_TOKEN): _TOKEN_SELECTOR,
                }
            ),
            {CONF_HOST: user_input[CONF_HOST] if user_input else entry.data[CONF_HOST]},
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=schema,
            errors=errors,
            description_placeholders={CONF_NAME: entry.title},
        )


class XiaomiCamOptionsFlow(_VideoAddressSteps, OptionsFlow):
    """Options of a camera entry: polling, video source, Google; changing them reloads."""

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._video: _VideoSteps | None = None
        self._general: dict[str, Any] = {}

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the polling interval, Google exposure, video source and its credentials."""
        if self._video is None:
            self._video = self._video_steps()
        if user_input is not None:
            self._general = {
                CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                CONF_EXPOSE_TO_GOOGLE: user_input[CONF_EXPOSE_TO_GOOGLE],
            }
        return await self._video.async_first_step(user_input)

    def _video_steps(self) -> _VideoSteps:
        entry = self.config_entry
        try:
            current_url = video_url(entry.data, entry.options)
        except ValueError:
            current_url = None
        settings = _VideoSettings("init", entry.options)

        def finish(video_options: dict[str, Any]) -> ConfigFlowResult:
            # Keep options owned by others; drop the video keys the new source does not use.
            kept = {key: value for key, value in entry.options.items() if key not in _VIDEO_KEYS}
            return self.async_create_entry(data={**kept, **self._general, **video_options})

        return _VideoSteps(
            flow=self,
            settings=settings,
            host=entry.data[CONF_HOST],
            camera_id=entry.unique_id or entry.entry_id,
            first_form=lambda: self._init_form(settings),
            finish=finish,
            current_url=current_url,
            current_verify=verify_tls(entry.options),
        )

    def _init_form(self, settings: _VideoSettings) -> tuple[vol.Schema, dict[str, Any]]:
        options = self.config_entry.options
        schema = vol.Schema(
            {
                # Defaults, not suggestions: a form sent without them keeps them.
                vol.Required(
                    CONF_SCAN_INTERVAL,
                    default=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL,
                        max=MAX_SCAN_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_EXPOSE_TO_GOOGLE,
                    default=options.get(CONF_EXPOSE_TO_GOOGLE, DEFAULT_EXPOSE_TO_GOOGLE),
                ): BooleanSelector(),
                **_source_schema(settings.values[CONF_VIDEO_SOURCE]),
            }
        )
        return schema, {**self._general, **settings.suggested()}
