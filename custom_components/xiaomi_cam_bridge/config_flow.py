"""Config flow: user, zeroconf, reauth, reconfigure and options."""

from __future__ import annotations

from collections.abc import Mapping
import logging
import re
from typing import Any

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_SCAN_INTERVAL, CONF_TOKEN
from homeassistant.core import callback
from homeassistant.helpers.device_registry import format_mac
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import voluptuous as vol

from .camlib.exceptions import CannotConnect, InvalidToken, WrongDevice
from .camlib.miio_client import CameraInfo, is_valid_token
from .const import (
    CONF_DEVICE_ID,
    CONF_MAC,
    CONF_MODEL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
    ZEROCONF_PREFIXES,
)
from .data import XiaomiCamConfigEntry, create_client, model_name

_LOGGER = logging.getLogger(__name__)

_TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_HOST_SELECTOR = TextSelector()


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


class XiaomiCamConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a camera by host and token, or from zeroconf discovery."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing discovered."""
        self._discovered_host: str | None = None

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
        self._abort_if_unique_id_configured(updates={CONF_HOST: host})

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
        # The MAC the camera reports is authoritative (discovery may have guessed).
        await self.async_set_unique_id(format_mac(info.mac), raise_on_progress=False)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=model_name(info.model), data=_entry_data(host, token, info)
        )

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
                return self.async_update_reload_and_abort(
                    entry, data_updates=_entry_data(host, token, info)
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_TOKEN): _TOKEN_SELECTOR}),
            errors=errors,
            description_placeholders={CONF_NAME: entry.title, CONF_HOST: host},
        )

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
                return self.async_update_reload_and_abort(
                    entry, data_updates=_entry_data(host, token, info)
                )
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


class XiaomiCamOptionsFlow(OptionsFlow):
    """Options of a camera entry; changing them reloads the entry."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Polling options (later issues add the video source as further steps)."""
        if user_input is not None:
            # Merge so options owned by other steps survive this one.
            options = {**self.config_entry.options, **user_input}
            options[CONF_SCAN_INTERVAL] = int(options[CONF_SCAN_INTERVAL])
            return self.async_create_entry(data=options)
        schema = vol.Schema(
            {
                vol.Required(CONF_SCAN_INTERVAL): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL,
                        max=MAX_SCAN_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema,
                {
                    CONF_SCAN_INTERVAL: self.config_entry.options.get(
                        CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL
                    )
                },
            ),
        )
