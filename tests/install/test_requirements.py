"""Home Assistant's own installer accepts the manifest's requirements.

The call is the one HA makes for a custom integration (`requirements.py` →
`util.package.install_package`, uv with this release's package_constraints.txt), in its
`--target` form (HA's form outside a virtualenv), so nothing lands in the test lane.
Test runs skip pip, so only this shows a conflict with HA's pins. Needs PyPI.
"""

from __future__ import annotations

from importlib.metadata import distributions
import json
from pathlib import Path

from homeassistant.requirements import pip_kwargs
from homeassistant.util.package import install_package
from packaging.requirements import Requirement
import pytest

MANIFEST = json.loads(
    (
        Path(__file__).parents[2] / "custom_components" / "xiaomi_cam_bridge" / "manifest.json"
    ).read_text(encoding="utf-8")
)


def _ha_install(requirement: str, target: Path) -> bool:
    """Install as Home Assistant does: its constraints and timeout, into target."""
    return install_package(requirement, target=str(target), **pip_kwargs(None))


def _installed(target: Path) -> dict[str, str]:
    return {d.metadata["Name"].lower(): d.version for d in distributions(path=[str(target)])}


def test_home_assistant_installs_the_manifest_requirements(tmp_path: Path) -> None:
    for requirement in MANIFEST["requirements"]:
        assert _ha_install(requirement, tmp_path), requirement
    installed = _installed(tmp_path)
    for requirement in map(Requirement, MANIFEST["requirements"]):
        assert requirement.specifier.contains(installed[requirement.name.lower()])
    # python-miio's own dependencies came through HA's pins, PyAV was never asked for.
    assert "av" not in installed
    assert "netifaces" in installed


def test_home_assistant_refuses_a_package_it_pins_otherwise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the old manifest asked for: refused by every HA since 2025.12."""
    assert not _ha_install("av==13.1.0", tmp_path)
    assert "Unable to install package av==13.1.0" in caplog.text
    assert _installed(tmp_path) == {}
