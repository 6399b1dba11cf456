"""Device layer of xiaomi_cam_bridge: no Home Assistant imports here."""
