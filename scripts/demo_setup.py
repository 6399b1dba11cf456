"""The demo behind scripts/develop: simulated cameras, an RTSP test server and a real
Home Assistant, set up through Home Assistant's own APIs. Everything stays on loopback.

- two miio camera simulators (tests/peers/miio_sim.py) on 127.0.0.2 and 127.0.0.3
  (python-miio always talks to port 54321, so each camera has its own address; the test
  suite's simulators move to other loopback addresses when these are taken);
- the GStreamer RTSP server (tests/peers/rtsp_server.py) with one coloured, moving
  picture per camera on rtsp://127.0.0.1:18554/<mount>;
- `hass -c config` on http://127.0.0.1:8123, onboarded through the onboarding API
  (login `demo` / `demo-bridge`), both cameras added through the integration's config
  flow over the REST API, then named "Front door" and "Garden" like a user would.

Home Assistant runs from .venv-ha (the newest release, scripts/setup) without --skip-pip:
it installs the integration's requirements itself, as it does for a user. A second run
reuses config/. Ctrl-C (or SIGTERM) stops every process it started. The browser test
(scripts/browser_test.py) imports the constants and the API client.

--check is the real-install check (tests/install/test_real_hass.py): the integration is
copied into the config folder as HACS copies it, each camera's still is fetched through
/api/camera_proxy and compared with the colour its RTSP mount sends, Home Assistant's log is
searched for a failed requirement install, and everything stops again.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
import contextlib
import ctypes
from dataclasses import dataclass
from io import BytesIO
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import IO, Any
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
from PIL import Image, ImageStat

REPO = Path(__file__).resolve().parent.parent
CONFIG_TEMPLATE = REPO / "demo" / "configuration.yaml"
DEFAULT_CONFIG_DIR = REPO / "config"
DEFAULT_HASS = REPO / ".venv-ha" / "bin" / "hass"
LOG_DIR = REPO / "build" / "demo"
SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's python3-gi for the RTSP server

DOMAIN = "xiaomi_cam_bridge"
HA_HOST = "127.0.0.1"
HA_PORT = 8123
HA_URL = f"http://{HA_HOST}:{HA_PORT}"
# The frontend's own client id: a login made here looks like one made in the browser.
CLIENT_ID = f"{HA_URL}/"
REDIRECT_URI = f"{HA_URL}/?auth_callback=1"
DEMO_NAME = "Demo"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-bridge"
RTSP_PORT = 18554  # fixed, because the stream URLs are stored in the config entries

READY_LINE = "DEMO READY"
DASHBOARD = "demo-cameras"  # url path of the demo's dashboard (HA wants a hyphen in it)


@dataclass(frozen=True, slots=True)
class DemoCamera:
    """A simulated camera: its miio identity and its picture on the RTSP server.

    The tokens are the simulators' own, made up for the demo; they protect nothing.
    """

    name: str
    host: str
    token: str
    mac: str
    device_id: int
    model: str
    mount: str
    colour: tuple[int, int, int]

    @property
    def stream_url(self) -> str:
        return f"rtsp://127.0.0.1:{RTSP_PORT}/{self.mount}"

    @property
    def colour_hex(self) -> str:
        return "".join(f"{c:02x}" for c in self.colour)

    @property
    def unique_id(self) -> str:
        """The config entry's unique id: Home Assistant's format_mac of the MAC."""
        return self.mac.lower()

    def flow_answers(self) -> dict[str, dict[str, Any]]:
        """What a user types into each config-flow step for this camera."""
        return {
            "user": {"host": self.host, "token": self.token},
            "video": {"video_source": "custom"},
            "video_custom": {"stream_url": self.stream_url},
        }

    def simulator_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.peers.miio_sim",
            "--host",
            self.host,
            "--token",
            self.token,
            "--device-id",
            hex(self.device_id),
            "--model",
            self.model,
            "--mac",
            self.mac,
        ]


CAMERAS = (
    DemoCamera(
        name="Front door",
        host="127.0.0.2",
        token="de0c0ffee0000000000000000000a001",
        mac="78:11:DC:DE:00:01",
        device_id=0x0DE00001,
        model="chuangmi.camera.ipc019",
        mount="front",
        colour=(0xC8, 0x32, 0x28),  # red
    ),
    DemoCamera(
        name="Garden",
        host="127.0.0.3",
        token="de0c0ffee0000000000000000000a002",
        mac="78:11:DC:DE:00:02",
        device_id=0x0DE00002,
        model="chuangmi.camera.ipc009",
        mount="garden",
        colour=(0x28, 0x64, 0xDC),  # blue
    ),
)
# Not configured by the demo: the one a user (or the browser test) adds through the UI.
SPARE_CAMERA = DemoCamera(
    name="Garage",
    host="127.0.0.4",
    token="de0c0ffee0000000000000000000a003",
    mac="78:11:DC:DE:00:03",
    device_id=0x0DE00003,
    model="chuangmi.camera.ipc019",
    mount="garage",
    colour=(0xE6, 0xC8, 0x1E),  # yellow
)
ALL_CAMERAS = (*CAMERAS, SPARE_CAMERA)


class DemoError(Exception):
    """The demo cannot run; the message says why and what to do."""


# --- child processes -------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Let the kernel SIGTERM the child if the demo itself dies without cleaning up."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


class Child:
    """A process of the demo in its own process group, its output copied to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready_prefix: str | None = None,
        stdin_pipe: bool = False,
        on_exit: Callable[[Child], None] | None = None,
    ) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOG_DIR / f"{name}.log"
        self.ready_line: str | None = None
        self.stopping = False
        self._ready_prefix = ready_prefix
        self._settled = threading.Event()  # ready line seen, or the process ended
        self._on_exit = on_exit
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            list(argv),
            cwd=REPO,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own group: the terminal's Ctrl-C reaches only the demo, which then stops
            # the children in order; killpg also reaches anything a child spawned.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._pump = threading.Thread(target=self._copy_output, name=name, daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._log.write(raw)
            self._log.flush()
            if self.ready_line is None and self._ready_prefix is not None:
                line = raw.decode(errors="replace").strip()
                if line.startswith(self._ready_prefix):
                    self.ready_line = line
                    self._settled.set()
        self.proc.wait()
        self._log.close()
        self._settled.set()
        if self._on_exit is not None and not self.stopping:
            self._on_exit(self)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float) -> str:
        """Wait for the line starting with the ready prefix; return it."""
        if not self._settled.wait(timeout):
            raise DemoError(
                f"{self.name} did not start within {timeout:.0f} s; see {self.log_path}"
            )
        if self.ready_line is None:
            raise DemoError(
                f"{self.name} exited with {self.proc.wait()}:\n{self.log_tail()}"
                f"\n(full log: {self.log_path})"
            )
        return self.ready_line

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group, SIGKILL it after `timeout`."""
        self.stopping = True
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"    {self.name} ignored SIGTERM for {timeout:.0f} s: killing it")
        # Also when the leader is gone: whatever it spawned is still in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._pump.join(5)


# --- Home Assistant API ------------------------------------------------------------------


class HomeAssistantApi:
    """The REST and websocket API of the demo's Home Assistant, as the demo user."""

    def __init__(self, base_url: str = HA_URL) -> None:
        self.base_url = base_url
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float = 60.0,
    ) -> tuple[int, Any]:
        """Return (status, decoded JSON body or text); HTTP errors are returned too."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            if self.token is None:
                raise DemoError("not logged in to Home Assistant")
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def request_bytes(self, path: str, timeout: float = 60.0) -> tuple[int, bytes]:
        """GET a binary resource (a camera still) as the demo user."""
        req = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """Like request() but any status other than 200/201 is an error."""
        status, result = self.request(method, path, body, **kwargs)
        if status not in (200, 201):
            raise DemoError(f"{method} {path} answered {status}: {result}")
        return result

    def is_up(self) -> bool:
        """True once the auth views answer: 200, or 400 while no user exists yet."""
        try:
            status, _ = self.request("GET", "/auth/providers", auth=False, timeout=2)
        except OSError:
            return False
        return status in (200, 400)

    def _token_from_code(self, code: str) -> None:
        result = self.call(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
            auth=False,
        )
        self.token = result["access_token"]

    def login(self, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> None:
        """Log in through the login flow, as the frontend's login page does."""
        flow = self.call(
            "POST",
            "/auth/login_flow",
            {
                "client_id": CLIENT_ID,
                "handler": ["homeassistant", None],
                "redirect_uri": REDIRECT_URI,
            },
            auth=False,
        )
        result = self.call(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": CLIENT_ID, "username": username, "password": password},
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise DemoError(
                f"Home Assistant refused the demo login ({result.get('errors')}); "
                "this config/ was onboarded with another password: delete config/ to start over"
            )
        self._token_from_code(result["result"])

    def onboard_or_login(self) -> bool:
        """Finish whatever onboarding steps are left; return True if it onboarded now."""
        status, _ = self.request("GET", "/auth/providers", auth=False)
        user_exists = status == 200  # 400 "onboarding_required" until the owner exists
        if user_exists:
            self.login()
        # Onboarding registers its views only while it is unfinished; they may come up
        # a moment after the auth views.
        deadline = time.monotonic() + 30
        while (answer := self.request("GET", "/api/onboarding", auth=False))[0] != 200:
            if user_exists and answer[0] == 404:
                return False
            if time.monotonic() > deadline:
                raise DemoError(f"GET /api/onboarding answered {answer[0]}: {answer[1]}")
            time.sleep(0.25)  # polling a remote view: no event to wait on
        done = {step["step"] for step in answer[1] if step["done"]}
        if "user" not in done:
            result = self.call(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": CLIENT_ID,
                    "name": DEMO_NAME,
                    "username": DEMO_USER,
                    "password": DEMO_PASSWORD,
                    "language": "en",
                },
                auth=False,
            )
            self._token_from_code(result["auth_code"])
        # Location, units and time zone come from configuration.yaml.
        if "core_config" not in done:
            self.call("POST", "/api/onboarding/core_config")
        if "analytics" not in done:
            self.call("POST", "/api/onboarding/analytics")
        if "integration" not in done:
            self.call(
                "POST",
                "/api/onboarding/integration",
                {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI},
            )
        return "user" not in done

    def wait_running(self, timeout: float, alive: Callable[[], bool]) -> None:
        """Wait until every integration has started (core state RUNNING)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive():
                raise DemoError("Home Assistant exited while starting")
            if self.call("GET", "/api/config").get("state") == "RUNNING":
                return
            time.sleep(0.5)  # polling a remote state: no event to wait on over REST
        raise DemoError(f"Home Assistant was not running after {timeout:.0f} s")

    def ws(self, *messages: dict[str, Any]) -> list[Any]:
        """Send websocket commands one after the other; return their results."""
        if self.token is None:
            raise DemoError("not logged in to Home Assistant")
        token = self.token
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"

        async def exchange() -> list[Any]:
            results: list[Any] = []
            async with aiohttp.ClientSession() as session, session.ws_connect(url) as sock:
                await sock.receive_json()  # auth_required
                await sock.send_json({"type": "auth", "access_token": token})
                if (reply := await sock.receive_json())["type"] != "auth_ok":
                    raise DemoError(f"websocket login refused: {reply}")
                for msg_id, message in enumerate(messages, 1):
                    await sock.send_json({"id": msg_id, **message})
                    reply = await sock.receive_json()
                    if not reply.get("success"):
                        raise DemoError(f"websocket {message['type']} failed: {reply.get('error')}")
                    results.append(reply["result"])
            return results

        def run() -> list[Any]:
            return asyncio.run(asyncio.wait_for(exchange(), 60))

        # A thread of its own: callers may be inside Playwright's sync API, whose
        # thread already has an event loop.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(run).result()

    # -- integration helpers -----------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        """The integration's config entries."""
        result: list[dict[str, Any]] = self.call(
            "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
        )
        return result

    def remove_onboarding_extras(self) -> None:
        """Remove the entries onboarding's core_config step makes (shopping list, TTS...).

        They are not part of the demo, and offline their setup fails (--skip-pip leaves
        their requirements out), which would show as failed integrations.
        """
        for entry in self.call("GET", "/api/config/config_entries/entry"):
            if entry["source"] == "onboarding":
                self.call("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")

    def add_camera(self, camera: DemoCamera) -> list[str] | None:
        """Run the config flow for a camera; return the steps it took, None if it existed."""
        answers = camera.flow_answers()
        steps: list[str] = []
        result = self.call(
            "POST",
            "/api/config/config_entries/flow",
            {"handler": DOMAIN, "show_advanced_options": False},
        )
        # A handful of steps at most; the bound only guards against a flow looping.
        for _ in range(8):
            kind = result.get("type")
            if kind == "create_entry":
                return steps
            if kind == "abort":
                if result.get("reason") == "already_configured":
                    return None
                raise DemoError(f"adding {camera.name}: flow aborted: {result.get('reason')}")
            if kind != "form":
                raise DemoError(f"adding {camera.name}: unexpected flow result {result}")
            step = result["step_id"]
            if result.get("errors"):
                raise DemoError(f"adding {camera.name}: step {step}: {result['errors']}")
            if step not in answers:
                raise DemoError(f"adding {camera.name}: the flow asks for unknown step {step!r}")
            steps.append(step)
            result = self.call(
                "POST", f"/api/config/config_entries/flow/{result['flow_id']}", answers[step]
            )
        raise DemoError(f"adding {camera.name}: the flow did not finish")

    def camera_registry(self, camera: DemoCamera) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The camera's device and its entities, found by MAC (the entry's unique id)."""
        devices, entities = self.ws(
            {"type": "config/device_registry/list"}, {"type": "config/entity_registry/list"}
        )
        for device in devices:
            if ["mac", camera.unique_id] in device["connections"]:
                own = [e for e in entities if e["device_id"] == device["id"]]
                return device, own
        raise DemoError(f"no device with MAC {camera.mac} in Home Assistant")

    def confirm_http_config(self) -> None:
        """Confirm the loopback-only HTTP settings, as a user does in the dialog.

        Home Assistant 2026.11 moves `http:` from YAML into storage as a pending trial:
        until it is confirmed the frontend covers every page with a dialog, and after
        five minutes Home Assistant reverts it (restarting, on all interfaces).
        """
        try:
            (state,) = self.ws({"type": "http/config"})
        except DemoError as err:
            if "unknown_command" in str(err):
                return  # a release that still reads `http:` from YAML
            raise
        pending = state.get("pending")
        if not pending or pending.get("error") is not None:
            return
        if pending.get("server_host") != [HA_HOST] or pending.get("server_port") != HA_PORT:
            raise DemoError(f"pending HTTP settings are not the demo's: {pending}")
        self.ws({"type": "http/config/promote"})
        print("==> HTTP settings (loopback only) confirmed")

    def save_dashboard(self) -> None:
        """A "Cameras" dashboard laid out as Home Assistant's classic Overview.

        Its "original-states" strategy shows every device's entities, the cameras as
        picture cards, and follows devices added later. The demo's own dashboard, because
        the default one changes between releases (2026.11 opens on a new areas overview).
        """
        (dashboards,) = self.ws({"type": "lovelace/dashboards/list"})
        if not any(d["url_path"] == DASHBOARD for d in dashboards):
            self.ws(
                {
                    "type": "lovelace/dashboards/create",
                    "url_path": DASHBOARD,
                    "title": "Cameras",
                    "icon": "mdi:cctv",
                    "mode": "storage",
                    "show_in_sidebar": True,
                    "require_admin": False,
                }
            )
        config = {"strategy": {"type": "original-states"}}
        self.ws({"type": "lovelace/config/save", "url_path": DASHBOARD, "config": config})

    def name_camera(self, camera: DemoCamera) -> None:
        """Give the camera's entry, device and entity ids the demo's name, as a user would."""
        device, entities = self.camera_registry(camera)
        messages: list[dict[str, Any]] = []
        if device["name_by_user"] != camera.name:
            messages.append(
                {
                    "type": "config/device_registry/update",
                    "device_id": device["id"],
                    "name_by_user": camera.name,
                }
            )
        titles = {entry["entry_id"]: entry["title"] for entry in self.entries()}
        messages.extend(
            {"type": "config_entries/update", "entry_id": entry_id, "title": camera.name}
            for entry_id in device["config_entries"]
            if titles.get(entry_id) not in (None, camera.name)
        )
        prefix = slug(camera.name)
        for entity in entities:
            domain, object_id = entity["entity_id"].split(".", 1)
            want = prefix + (f"_{slug(entity['original_name'])}" if entity["original_name"] else "")
            if object_id != want:
                messages.append(
                    {
                        "type": "config/entity_registry/update",
                        "entity_id": entity["entity_id"],
                        "new_entity_id": f"{domain}.{want}",
                    }
                )
        if messages:
            self.ws(*messages)


# A still's median colour is its background's: the moving ball covers a small part.
COLOUR_TOLERANCE = 40


def median_rgb(jpeg: bytes) -> tuple[int, int, int]:
    """Median of each channel of a JPEG (a truncated one raises)."""
    with Image.open(BytesIO(jpeg)) as image:
        image.load()
        red, green, blue = ImageStat.Stat(image.convert("RGB")).median
    return red, green, blue


def slug(name: str) -> str:
    """Entity-id form of a name, as Home Assistant makes it for ASCII names."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# --- the demo ----------------------------------------------------------------------------


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


class Demo:
    """Starts, sets up and stops the demo's processes."""

    def __init__(
        self,
        config_dir: Path = DEFAULT_CONFIG_DIR,
        *,
        spare: bool = False,
        hass: Path = DEFAULT_HASS,
        copy_integration: bool = False,
    ) -> None:
        self.config_dir = config_dir.resolve()
        self.hass = hass
        self.copy_integration = copy_integration
        self.cameras = ALL_CAMERAS if spare else CAMERAS
        self.api = HomeAssistantApi()
        self.children: list[Child] = []
        self.died = threading.Event()
        self.onboarded_now = False

    def _child_exited(self, child: Child) -> None:
        self.died.set()

    def _spawn(self, name: str, argv: Sequence[str], **kwargs: Any) -> Child:
        child = Child(name, argv, on_exit=self._child_exited, **kwargs)
        self.children.append(child)
        return child

    def prepare_config(self) -> None:
        """config/: the template configuration.yaml and a link to custom_components.

        With copy_integration, a copy of the integration's folder instead, as HACS makes.
        """
        self.config_dir.mkdir(parents=True, exist_ok=True)
        text = CONFIG_TEMPLATE.read_text(encoding="utf-8")
        if (self.config_dir / ".storage" / "http").exists():
            # Home Assistant already holds the HTTP settings: it ignores the YAML from
            # then on and raises a repair for it.
            text = re.sub(r"(?ms)^# http: begin$.*?^# http: end\n", "", text)
        (self.config_dir / "configuration.yaml").write_text(text, encoding="utf-8")
        link = self.config_dir / "custom_components"
        if self.copy_integration:
            if link.is_symlink():
                link.unlink()
            target_dir = link / DOMAIN
            shutil.rmtree(target_dir, ignore_errors=True)
            shutil.copytree(
                REPO / "custom_components" / DOMAIN,
                target_dir,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            return
        target = os.path.relpath(REPO / "custom_components", self.config_dir)
        if link.is_symlink() and str(link.readlink()) != target:
            link.unlink()
        if not link.is_symlink():
            if link.exists():
                raise DemoError(f"{link} exists and is not a link to the repository's")
            link.symlink_to(target, target_is_directory=True)

    def start(self) -> None:
        if port_in_use(HA_HOST, HA_PORT):
            raise DemoError(f"something already listens on {HA_URL} (a demo still running?)")
        if not Path(SYSTEM_PYTHON).exists():
            raise DemoError(f"{SYSTEM_PYTHON} (with python3-gi) is needed: run scripts/setup")
        if not self.hass.exists():
            raise DemoError(f"{self.hass} is missing: run scripts/setup ha")
        self.prepare_config()
        started = time.monotonic()

        # One slice per picture, like the cameras' own encoders: Home Assistant's HLS
        # player loses all but one slice of a multi-slice RTSP picture (half-green live
        # view); the snapshot tests cover multi-slice pictures.
        mounts = [
            f"name={c.mount},color={c.colour_hex},pattern=ball,slices=1"
            for c in (*CAMERAS, SPARE_CAMERA)
        ]
        rtsp = self._spawn(
            "rtsp_server",
            [
                SYSTEM_PYTHON,
                "tests/peers/rtsp_server.py",
                "--port",
                str(RTSP_PORT),
                *(arg for mount in mounts for arg in ("--mount", mount)),
            ],
            ready_prefix="READY",
            # The server quits on EOF: if the demo dies, so does the server.
            stdin_pipe=True,
        )
        sims = [
            self._spawn(f"miio_sim_{c.host}", c.simulator_argv(), ready_prefix="miio camera ")
            for c in self.cameras
        ]
        # No --skip-pip: Home Assistant installs what the manifests ask for (python-miio for
        # this integration, av for stream...) with its own installer and constraints.
        hass = self._spawn("hass", [str(self.hass), "-c", str(self.config_dir)])
        hosts = ", ".join(c.host for c in self.cameras)
        print(f"==> started: RTSP server :{RTSP_PORT}, cameras on {hosts}, Home Assistant")
        rtsp.wait_ready(30)
        for sim in sims:
            sim.wait_ready(30)
        self._wait_http(hass, timeout=240)
        print(f"    Home Assistant answers after {time.monotonic() - started:.1f} s")
        self.onboarded_now = self.api.onboard_or_login()
        if self.onboarded_now:
            print(f"==> onboarded: user {DEMO_USER!r}")
        self.api.confirm_http_config()
        self.api.wait_running(240, hass.running)
        print(f"    Home Assistant running after {time.monotonic() - started:.1f} s")
        for camera in CAMERAS:
            steps = self.api.add_camera(camera)
            done = f"added (flow: {' -> '.join(steps)})" if steps else "already configured"
            print(f"==> {camera.name}: {done}")
        self.api.remove_onboarding_extras()
        broken = [
            f"{e['title']} ({e['state']})" for e in self.api.entries() if e["state"] != "loaded"
        ]
        if broken:
            # Kept running: the UI shows the failure, the log says why.
            print(f"    warning: not loaded: {', '.join(broken)}; see config/home-assistant.log")
        for camera in CAMERAS:
            try:
                self.api.name_camera(camera)
            except DemoError as err:
                print(f"    warning: {camera.name} not renamed: {err}")
        self.api.save_dashboard()
        print(f"    ready after {time.monotonic() - started:.1f} s")

    def check(self) -> list[str]:
        """The real-install check; return what is wrong (nothing when all is well)."""
        problems = []
        log = (self.config_dir / "home-assistant.log").read_text(encoding="utf-8", errors="replace")
        manifest = json.loads((REPO / "custom_components" / DOMAIN / "manifest.json").read_text())
        for bad in (
            f"Requirements for {DOMAIN} not found",
            f"Setup failed for custom integration '{DOMAIN}'",
            *(f"Unable to install package {req}" for req in manifest["requirements"]),
        ):
            problems += [line for line in log.splitlines() if bad in line]
        problems += [
            f"entry {e['title']}: {e['state']}"
            for e in self.api.entries()
            if e["state"] != "loaded"
        ]
        for camera in CAMERAS:
            _, entities = self.api.camera_registry(camera)
            entity_id = next(
                e["entity_id"] for e in entities if e["entity_id"].startswith("camera.")
            )
            status, body = self.api.request_bytes(f"/api/camera_proxy/{entity_id}")
            if status != 200:
                problems.append(f"{entity_id}: /api/camera_proxy answered {status}")
                continue
            colour = median_rgb(body)
            distance = max(abs(a - b) for a, b in zip(colour, camera.colour, strict=True))
            print(f"    {entity_id}: {len(body)} byte JPEG, median colour {colour}")
            if distance > COLOUR_TOLERANCE:
                problems.append(f"{entity_id} shows {colour}, its mount sends {camera.colour}")
        return problems

    def _wait_http(self, hass: Child, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.api.is_up():
            if not hass.running():
                raise DemoError(f"Home Assistant exited:\n{hass.log_tail()}")
            if time.monotonic() > deadline:
                raise DemoError(f"Home Assistant did not answer within {timeout:.0f} s")
            time.sleep(0.25)  # polling a remote port: no event to wait on

    def wait(self) -> None:
        """Block until a child exits on its own (then raise) or a signal interrupts."""
        while not self.died.wait(1.0):
            pass
        dead = [c for c in self.children if not c.running()]
        details = "\n".join(f"  {c.name} (exit {c.proc.returncode}):\n{c.log_tail()}" for c in dead)
        raise DemoError(f"a demo process stopped on its own:\n{details}")

    def stop(self) -> None:
        # Home Assistant first: it may still talk to the cameras while shutting down.
        for child in reversed(self.children):
            child.stop()
        self.children.clear()


def banner(demo: Demo) -> str:
    lines = [
        "",
        f"Demo running: {HA_URL}  (user {DEMO_USER!r}, password {DEMO_PASSWORD!r})",
    ]
    lines += [f"  {c.name:<10} miio {c.host}  video {c.stream_url}" for c in CAMERAS]
    if SPARE_CAMERA not in demo.cameras:
        lines.append("  a third camera to add by hand: scripts/develop --spare")
    else:
        lines.append(
            f"  add by hand: {SPARE_CAMERA.name} host {SPARE_CAMERA.host} token "
            f"{SPARE_CAMERA.token} (a simulator's made-up token), video {SPARE_CAMERA.stream_url}"
        )
    lines += [
        f"Logs: {LOG_DIR.relative_to(REPO)}/*.log, {demo.config_dir.name}/home-assistant.log",
        "Ctrl-C stops everything.",
        f"{READY_LINE} {HA_URL}",
    ]
    return "\n".join(lines)


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _still_stopping(signum: int, frame: FrameType | None) -> None:
    print("    still stopping, please wait", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_DIR, help="Home Assistant config dir"
    )
    parser.add_argument(
        "--hass", type=Path, default=DEFAULT_HASS, help="the hass executable to run"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="real-install check: copy the integration, start, check the stills, stop",
    )
    parser.add_argument(
        "--spare",
        action="store_true",
        help=f"also start the simulator of a third camera ({SPARE_CAMERA.host}) to add by hand",
    )
    args = parser.parse_args(argv)
    # Explicitly: a shell starting the demo in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    demo = Demo(args.config, spare=args.spare, hass=args.hass, copy_integration=args.check)
    code = 0
    try:
        demo.start()
        if args.check:
            problems = demo.check()
            for problem in problems:
                print(f"    problem: {problem}")
            print(f"==> real-install check: {'FAILED' if problems else 'passed'}", flush=True)
            code = 1 if problems else 0
        else:
            print(banner(demo), flush=True)
            demo.wait()
    except KeyboardInterrupt, _Stop:
        pass
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave processes behind.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _still_stopping)
        print("==> stopping the demo", flush=True)
        demo.stop()
        print("    stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
