"""Checks of the files HACS and Home Assistant read before any code runs.

strings.json and the translations: tests/test_translations.py.
"""

from __future__ import annotations

from importlib.metadata import requires, version
import json
from pathlib import Path
import re
from typing import Any

from awesomeversion import AwesomeVersion
import homeassistant
from homeassistant.const import __version__ as HA_VERSION
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from PIL import Image
import pytest
import yaml

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "custom_components" / "xiaomi_cam_bridge"
MANIFEST = json.loads((COMPONENT / "manifest.json").read_text(encoding="utf-8"))

# hacs.json keys HACS accepts (hacs/integration: repositories/base.py, HacsManifest).
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
    "render_readme",
}

# Every rule of Home Assistant's integration quality scale (script/hassfest/quality_scale.py).
QUALITY_RULES = {
    "action-setup", "appropriate-polling", "brands", "common-modules",
    "config-flow-test-coverage", "config-flow", "dependency-transparency", "docs-actions",
    "docs-high-level-description", "docs-installation-instructions",
    "docs-removal-instructions", "entity-event-setup", "entity-unique-id", "has-entity-name",
    "runtime-data", "test-before-configure", "test-before-setup", "unique-config-entry",
    "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
    "docs-installation-parameters", "entity-unavailable", "integration-owner",
    "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    "devices", "diagnostics", "discovery-update-info", "discovery", "docs-data-update",
    "docs-examples", "docs-known-limitations", "docs-supported-devices",
    "docs-supported-functions", "docs-troubleshooting", "docs-use-cases", "dynamic-devices",
    "entity-category", "entity-device-class", "entity-disabled-by-default",
    "entity-translations", "exception-translations", "icon-translations",
    "reconfiguration-flow", "repair-issues", "stale-devices", "async-dependency",
    "inject-websession", "strict-typing",
}  # fmt: skip


def test_manifest_key_order_and_required_keys() -> None:
    """hassfest wants domain, name, then the other keys sorted."""
    keys = list(MANIFEST)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert MANIFEST["domain"] == COMPONENT.name
    for key in ("codeowners", "documentation", "issue_tracker", "version", "requirements"):
        assert MANIFEST[key], key
    assert MANIFEST["iot_class"] == "local_polling"
    assert MANIFEST["config_flow"] is True
    assert AwesomeVersion(MANIFEST["version"]).valid


# hassfest's requirement pattern (script/hassfest/requirements.py, PACKAGE_REGEX).
HASSFEST_PACKAGE_REGEX = re.compile(r"^(?:--.+\s)?([-_,\.\w\d\[\]]+)(==|>=|<=|~=|!=|<|>|===)*(.*)$")
HA_PACKAGE = Path(homeassistant.__file__).parent
REQUIREMENTS = [Requirement(req) for req in MANIFEST["requirements"]]


def _core_manifest(domain: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(
        (HA_PACKAGE / "components" / domain / "manifest.json").read_text(encoding="utf-8")
    )
    return manifest


def _core_pins(requirements: list[str]) -> dict[str, str]:
    """{normalised name: version} of the `name==version` requirements."""
    pins = {}
    for req in map(Requirement, requirements):
        for spec in req.specifier:
            if spec.operator == "==":
                pins[canonicalize_name(req.name)] = spec.version
    return pins


def _shipped_with_home_assistant() -> set[str]:
    """What Home Assistant installs itself, so a custom integration must not list.

    Its own dependencies, everything its package_constraints.txt pins, and the
    requirements of the core integrations ours loads (`av` comes with `stream`), with
    theirs in turn.
    """
    shipped = {canonicalize_name(Requirement(r).name) for r in requires("homeassistant") or []}
    for line in (HA_PACKAGE / "package_constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            shipped.add(canonicalize_name(Requirement(line).name))
    todo = [*MANIFEST["dependencies"], *MANIFEST.get("after_dependencies", [])]
    seen: set[str] = set()
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        core = _core_manifest(domain)
        shipped |= {canonicalize_name(Requirement(r).name) for r in core.get("requirements", [])}
        todo += [*core.get("dependencies", []), *core.get("after_dependencies", [])]
    return shipped


def test_manifest_requirements_in_the_form_hassfest_accepts() -> None:
    assert MANIFEST["requirements"]
    for req in MANIFEST["requirements"]:
        assert " " not in req
        assert HASSFEST_PACKAGE_REGEX.match(req), req


def test_manifest_lists_nothing_home_assistant_ships() -> None:
    """HA's installer resolves our requirements against its pins: listing one of its own
    packages (av==13.1.0 did) makes every HA that pins another version refuse us."""
    shipped = _shipped_with_home_assistant()
    assert {"av", "numpy", "pyturbojpeg", "aiohttp"} <= shipped  # the scan sees them
    assert [str(r) for r in REQUIREMENTS if canonicalize_name(r.name) in shipped] == []


def test_manifest_admits_what_core_integrations_pin() -> None:
    """A package a core integration also uses (python-miio: xiaomi_miio) is not pinned
    exactly, and its range admits core's version, so both load side by side."""
    core: dict[str, str] = {}
    for path in (HA_PACKAGE / "components").glob("*/manifest.json"):
        core |= _core_pins(json.loads(path.read_text(encoding="utf-8")).get("requirements", []))
    assert core["python-miio"]  # the scan sees xiaomi_miio's pin
    for req in REQUIREMENTS:
        assert all(spec.operator != "==" for spec in req.specifier), str(req)
        if (pinned := core.get(canonicalize_name(req.name))) is not None:
            assert req.specifier.contains(pinned), f"{req} excludes core's {pinned}"


def test_lane_runs_what_the_manifest_and_home_assistant_pin() -> None:
    """Tests run with the python-miio the manifest admits, and the PyAV and PyTurboJPEG
    that this lane's Home Assistant `stream` pins."""
    for req in REQUIREMENTS:
        assert req.specifier.contains(version(req.name)), req.name
    stream = _core_pins(_core_manifest("stream")["requirements"])
    assert version("av") == stream["av"]
    assert version("PyTurboJPEG") == stream["pyturbojpeg"]


def test_manifest_zeroconf_matches_camera_names() -> None:
    names = {entry["name"] for entry in MANIFEST["zeroconf"]}
    assert names == {"chuangmi-camera-*", "mijia-camera-*", "isa-camera-*"}
    assert {entry["type"] for entry in MANIFEST["zeroconf"]} == {"_miio._udp.local."}


def test_hacs_json_uses_only_known_keys() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"]
    assert hacs["content_in_root"] is False


def test_supported_window_is_stated_and_tested() -> None:
    """hacs.json and the README name the window; this lane's HA lies inside it."""
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    assert hacs["homeassistant"] == "2026.6.0"
    assert AwesomeVersion("2026.6.0") <= AwesomeVersion(HA_VERSION) < AwesomeVersion("2026.12")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "2026.6" in readme
    assert "2026.11" in readme


def test_license_is_osi_approved_mit() -> None:
    """HACS requires an OSI-approved licence; pyproject says the same one."""
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_brand_icons(name: str, size: int) -> None:
    with Image.open(COMPONENT / "brand" / name) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)


def test_brand_logo_exists() -> None:
    with Image.open(COMPONENT / "brand" / "logo.png") as image:
        assert image.format == "PNG"
        assert 128 <= min(image.size) <= 256


def test_quality_scale_lists_every_rule_with_reasons() -> None:
    rules: dict[str, Any] = yaml.safe_load(
        (COMPONENT / "quality_scale.yaml").read_text(encoding="utf-8")
    )["rules"]
    assert set(rules) == QUALITY_RULES
    for name, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "todo", "exempt"}, name
        if status != "done":
            assert value["comment"].strip(), f"{name} needs a reason"
