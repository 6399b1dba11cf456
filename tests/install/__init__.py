"""Installing the integration as Home Assistant does: its resolver, and a real `hass`."""
