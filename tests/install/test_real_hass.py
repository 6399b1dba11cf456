"""A real Home Assistant of the newest release installs and runs the integration.

As a new user's would: `hass` from .venv-ha (scripts/setup), no --skip-pip, the integration
copied into config/custom_components/, python-miio not installed beforehand. The demo's
--check mode (scripts/demo_setup.py) does the rest: simulated cameras and the RTSP server,
cameras added through the config flow over REST, a still of each through
/api/camera_proxy compared with its mount's colour, the log searched for failed installs.
Needs PyPI; uses the demo's fixed loopback addresses, so no demo may be running.
"""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.real_hass
def test_newest_home_assistant_installs_and_shows_the_cameras(tmp_path: Path) -> None:
    venv = Path(os.environ.get("XCB_HA_VENV", ROOT / ".venv-ha")).resolve()
    python = venv / "bin" / "python"
    assert python.exists(), f"{venv} is missing: run scripts/setup ha"
    # Home Assistant must install python-miio itself.
    subprocess.run(
        [python, "-m", "uv", "pip", "uninstall", "--quiet", "--python", python, "python-miio"],
        check=True,
    )
    config = tmp_path / "config"
    result = subprocess.run(
        [sys.executable, "scripts/demo_setup.py", "--check", "--config", config,
         "--hass", venv / "bin" / "hass"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "real-install check: passed" in result.stdout
    log = (config / "home-assistant.log").read_text(encoding="utf-8")
    assert "Requirements for xiaomi_cam_bridge not found" not in log
    installs = [line for line in log.splitlines() if "Attempting install of python-miio" in line]
    print("\n".join(installs))
    assert installs
