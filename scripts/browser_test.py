"""Real-browser test of the demo: Debian's Chromium driven by Playwright, as a user would.

Uses the demo already answering on http://127.0.0.1:8123, or starts scripts/develop and
stops it at the end. Then: logs in; sees both cameras' pictures on the default dashboard,
each of the colour its own camera's stream shows; toggles switches on the dashboard and
on a device page, checking both Home Assistant's state and the simulated camera's
property (read over miio with python-miio); adds a third camera through Settings ->
Devices & services -> Add integration. Screenshots go to build/screenshots/.

The last line is "N passed, N failed"; the exit status is 1 when anything failed.
Not a pytest module on purpose: it needs a browser and a running Home Assistant.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
import math
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any
import urllib.parse

import demo_setup as demo
from demo_setup import CAMERAS, HA_URL, REPO, SPARE_CAMERA, DemoCamera, HomeAssistantApi
from miio.device import Device
from playwright.sync_api import BrowserContext, Locator, Page, Route, sync_playwright

SCREENSHOTS = REPO / "build" / "screenshots"
DASHBOARD_URL = f"{HA_URL}/{demo.DASHBOARD}/0"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MIIO_HELLO = bytes.fromhex("21310020") + b"\xff" * 28
UI_TIMEOUT_MS = 20_000
STATE_TIMEOUT = 15.0  # seconds for a command to reach the camera and come back
# Mean colour of a picture vs. its camera's colour: H.264 and the moving ball shift it
# a little; another camera's colour is far further away (> 200).
COLOUR_TOLERANCE = 60.0

# Deep search through shadow roots (Home Assistant's frontend is all web components):
# mark elements with data-test-* attributes so Playwright's CSS locators can find them.
TAG_JS = """
() => {
  const walk = (node, visit) => {
    for (const el of node.children || []) {
      visit(el);
      if (el.shadowRoot) walk(el.shadowRoot, visit);
      walk(el, visit);
    }
  };
  let count = 0;
  walk(document, (el) => {
    const tag = el.tagName.toLowerCase();
    const config = el.config || el._config;
    if (tag === "hui-card" && config && config.type === "picture-entity") {
      el.setAttribute("data-test-camera", config.entity); count++;
    } else if (tag === "hui-card" && config && config.type === "entities" && config.title) {
      el.setAttribute("data-test-card", config.title); count++;
    } else if (tag.endsWith("-entity-row") && config && config.entity) {
      el.setAttribute("data-test-row", config.entity); count++;
    } else if (tag === "ha-selector" && el.name) {
      el.setAttribute("data-test-field", el.name); count++;
    } else if ((tag.endsWith("-item") || tag.endsWith("radio") || tag.endsWith("-option"))
               && el.value) {  // the options of a select: list items, or *-option in 2026.11
      el.setAttribute("data-test-value", String(el.value)); count++;
    }
  });
  return count;
}
"""

# The mean colour of an <img> as the browser decoded it (same origin: canvas not tainted).
MEAN_COLOUR_JS = """
(img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) {
    sum[0] += data[i]; sum[1] += data[i + 1]; sum[2] += data[i + 2];
  }
  const n = data.length / 4;
  return {mean: sum.map((s) => s / n), width: img.naturalWidth, height: img.naturalHeight};
}
"""

# Mean colours of the top and bottom halves of the frame a <video> shows: a picture that
# lost a slice shows one half green (zeros in YUV), which a whole-frame mean could hide.
VIDEO_HALVES_JS = """
(video) => {
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  ctx.drawImage(video, 0, 0);
  const half = Math.floor(canvas.height / 2);
  const mean = (y) => {
    const data = ctx.getImageData(0, y, canvas.width, half).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) {
      sum[0] += data[i]; sum[1] += data[i + 1]; sum[2] += data[i + 2];
    }
    return sum.map((s) => s / (data.length / 4));
  };
  return {top: mean(0), bottom: mean(half), time: video.currentTime};
}
"""

FLOW_STEP_JS = """
(dialog) => {
  const step = dialog._step;
  return step ? {type: step.type, step_id: step.step_id || null, errors: step.errors || null,
                 reason: step.reason || null} : null;
}
"""


class CheckFailed(AssertionError):
    """A check of the test did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def wait_until[T](what: str, probe: Callable[[], T | None], timeout: float = STATE_TIMEOUT) -> T:
    """Poll a remote state (HA over REST, the camera over UDP) until it holds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)  # remote state: there is no event to wait on from here
    raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")


def camera_prop(camera: DemoCamera, prop: str) -> Any:
    """Ask the simulated camera itself, over miio, for one property."""
    reply = Device(camera.host, camera.token, timeout=2).send("get_prop", [prop])
    return reply[0]


def camera_answers(camera: DemoCamera) -> bool:
    """Whether something answers a miio hello on the camera's address (0.5 s)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(MIIO_HELLO, (camera.host, 54321))
        try:
            return len(sock.recv(1024)) == 32
        except OSError:
            return False


def colour_distance(a: Sequence[float], b: Sequence[float]) -> float:
    return math.dist(a, b)


# --- the demo's processes ----------------------------------------------------------------


class DemoProcess:
    """scripts/develop started by the test, echoed with a prefix, stopped at the end."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [str(REPO / "scripts" / "develop")],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._echo, daemon=True).start()

    def _echo(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            print(f"  demo| {line}", flush=True)
            if line.startswith(demo.READY_LINE):
                self.ready.set()
        self.ready.set()  # ended: let the waiter see it

    def wait_ready(self, timeout: float) -> None:
        if not self.ready.wait(timeout) or self.proc.poll() is not None:
            raise CheckFailed("scripts/develop did not get the demo ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class SpareCamera:
    """The simulator of the camera the test adds by hand, unless the demo runs one."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        if camera_answers(SPARE_CAMERA):
            return
        self.proc = subprocess.Popen(
            SPARE_CAMERA.simulator_argv(),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        # The simulator prints one line once it is bound (or dies with a traceback).
        first = self.proc.stdout.readline().decode(errors="replace")
        if not first.startswith("miio camera "):
            raise CheckFailed(f"the spare camera simulator did not start: {first.strip()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


# --- the checks --------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    passed: bool
    seconds: float
    message: str = ""


class BrowserTest:
    def __init__(self, context: BrowserContext, api: HomeAssistantApi) -> None:
        self.context = context
        self.api = api
        self.page: Page = context.new_page()
        self.page.set_default_timeout(UI_TIMEOUT_MS)
        # Reported, not failed on: the frontend has its own occasional glitches.
        self.page.on("pageerror", lambda err: print(f"     page error: {err}", flush=True))
        self.results: list[Result] = []
        self.shot_number = 0

    # helpers

    def shot(self, name: str, target: Page | Locator | None = None) -> Path:
        self.shot_number += 1
        path = SCREENSHOTS / f"{self.shot_number:02d}-{name}.png"
        if target is None or isinstance(target, Page):
            self.page.screenshot(path=path, full_page=True)
        else:
            target.screenshot(path=path)
        return path

    def tagged(self, attribute: str, value: str, within: Locator | None = None) -> Locator:
        """Wait until an element gets data-test-<attribute>=value (re-tagging as the
        frontend renders); return its locator."""
        name = f"data-test-{attribute}"
        self.page.wait_for_function(
            f"([name, value]) => ({TAG_JS})() >= 0 && "
            "(function find(n) { for (const el of n.children || []) {"
            " if (el.getAttribute(name) === value) return true;"
            " if (el.shadowRoot && find(el.shadowRoot)) return true;"
            " if (find(el)) return true; } return false; })(document)",
            arg=[name, value],
        )
        return (within or self.page.locator(":root")).locator(f'[{name}="{value}"]').first

    def state(self, entity_id: str) -> str:
        result: dict[str, Any] = self.api.call("GET", f"/api/states/{entity_id}")
        return str(result["state"])

    def entities(self, camera: DemoCamera) -> dict[str, str]:
        """The camera's entity ids by unique-id key (`power`, `status_light`, ...)."""
        _, entities = self.api.camera_registry(camera)
        prefix = camera.unique_id + "_"
        return {
            e["unique_id"].removeprefix(prefix): e["entity_id"]
            for e in entities
            if e["unique_id"].startswith(prefix)
        }

    def camera_entity(self, camera: DemoCamera) -> str:
        _, entities = self.api.camera_registry(camera)
        cameras = [str(e["entity_id"]) for e in entities if e["entity_id"].startswith("camera.")]
        check(len(cameras) == 1, f"{camera.name}: expected one camera entity, found {cameras}")
        return cameras[0]

    def run(self, name: str, step: Callable[[], None]) -> bool:
        print(f"--- {name}", flush=True)
        started = time.monotonic()
        try:
            step()
        except Exception as err:  # every failure is reported, then the next check runs
            seconds = time.monotonic() - started
            with_trace = not isinstance(err, CheckFailed)
            message = f"{type(err).__name__}: {err}".strip()
            print(f"FAIL {name} ({seconds:.1f} s): {message}", flush=True)
            if with_trace:
                traceback.print_exc()
            try:
                print(f"     screenshot {self.shot('FAILED-' + slug(name)).relative_to(REPO)}")
            except Exception as shot_err:  # the page may be gone
                print(f"     no screenshot: {shot_err}")
            self.results.append(Result(name, False, seconds, message))
            return False
        seconds = time.monotonic() - started
        print(f"PASS {name} ({seconds:.1f} s)", flush=True)
        self.results.append(Result(name, True, seconds))
        return True

    # checks

    def login(self) -> None:
        page = self.page
        page.goto(HA_URL + "/")
        page.wait_for_url("**/auth/authorize**")
        page.locator("input[name=username]").fill(demo.DEMO_USER)
        page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
        self.shot("login")
        page.get_by_role("button", name="Log in").click()
        # Where a login lands: HA 2026.11's "Home" dashboard (/home/...), earlier
        # releases' Overview (/lovelace/...). The cards are on the demo's own dashboard.
        page.wait_for_url(re.compile(r".*/(home|lovelace)/.*"))
        page.goto(DASHBOARD_URL)
        for camera in CAMERAS:
            self.tagged("card", camera.name)
        self.shot("dashboard")

    def camera_pictures(self) -> None:
        """Each camera card shows a picture, of the colour of its own camera's stream."""
        self.page.goto(DASHBOARD_URL)
        first, second = (self._check_picture(camera) for camera in CAMERAS)
        check(colour_distance(first, second) > 2 * COLOUR_TOLERANCE, "the pictures look alike")
        self.shot("dashboard-cameras")

    def _check_picture(self, camera: DemoCamera) -> list[float]:
        """The camera's dashboard card shows a picture of its own colour; return the mean."""
        card = self.tagged("camera", self.camera_entity(camera))
        img = card.locator("img").first
        self.page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle()
        )
        measured = img.evaluate(MEAN_COLOUR_JS)
        mean: list[float] = measured["mean"]
        self.shot(f"camera-{slug(camera.name)}", card)
        own = colour_distance(mean, camera.colour)
        shown = [round(c) for c in mean]
        print(
            f"     {camera.name}: {measured['width']}x{measured['height']}, mean colour "
            f"{shown}, its camera's {list(camera.colour)} (distance {own:.0f})"
        )
        check(
            own < COLOUR_TOLERANCE,
            f"{camera.name}'s picture has mean colour {shown}, its camera's is {camera.colour}",
        )
        for other in demo.ALL_CAMERAS:
            check(
                other is camera or own < colour_distance(mean, other.colour),
                f"{camera.name}'s picture looks more like {other.name}'s camera",
            )
        return mean

    def live_view(self) -> None:
        """The camera's dialog plays its live stream (HLS), whole pictures of its colour."""
        camera = CAMERAS[0]
        self.page.goto(DASHBOARD_URL)
        self.tagged("camera", self.camera_entity(camera)).click()
        video = self.page.locator("ha-more-info-dialog video").first
        # Home Assistant starts the stream on demand: the first segments take seconds.
        self.page.wait_for_function(
            "(video) => video.readyState >= 2 && video.currentTime > 1",
            arg=video.element_handle(timeout=UI_TIMEOUT_MS),
            timeout=60_000,
        )
        halves = video.evaluate(VIDEO_HALVES_JS)
        self.shot(f"live-{slug(camera.name)}")
        for half in ("top", "bottom"):
            mean = [round(c) for c in halves[half]]
            distance = colour_distance(mean, camera.colour)
            print(
                f"     live {half} half at {halves['time']:.1f} s: {mean} (distance {distance:.0f})"
            )
            check(
                distance < COLOUR_TOLERANCE,
                f"{camera.name}'s live picture: {half} half is {mean}, not {camera.colour}",
            )
        self.page.keyboard.press("Escape")

    def _toggle(self, camera: DemoCamera, entity_id: str, prop: str, shot: str) -> None:
        """Click the row's switch; Home Assistant and the camera must both follow."""
        before = self.state(entity_id)
        check(before in ("on", "off"), f"{entity_id} is {before!r}")
        prop_before = camera_prop(camera, prop)
        check(prop_before == before, f"{camera.name} has {prop}={prop_before!r}, HA {before!r}")
        want = "off" if before == "on" else "on"
        row = self.tagged("row", entity_id)
        row.locator("ha-switch").click()
        wait_until(f"{entity_id} to be {want}", lambda: self.state(entity_id) == want)
        wait_until(
            f"{camera.name}'s {prop} to be {want}", lambda: camera_prop(camera, prop) == want
        )
        print(f"     {entity_id}: {before} -> {want}; camera {prop}: {prop_before} -> {want}")
        self.shot(shot)

    def dashboard_power_switch(self) -> None:
        """Power of the second camera, off and on again, from the dashboard."""
        camera = CAMERAS[1]
        self.page.goto(DASHBOARD_URL)
        power = self.entities(camera)["power"]
        self._toggle(camera, power, "power", f"{slug(camera.name)}-power-toggled")
        self._toggle(camera, power, "power", f"{slug(camera.name)}-power-restored")

    def device_page_status_light(self) -> None:
        """The status light (a configuration entity) of the first camera, on its device page."""
        camera = CAMERAS[0]
        device, _ = self.api.camera_registry(camera)
        self.page.goto(f"{HA_URL}/config/devices/device/{device['id']}")
        light = self.entities(camera)["status_light"]
        self._toggle(camera, light, "light", f"{slug(camera.name)}-status-light")

    def add_third_camera(self) -> None:
        """Settings -> Devices & services -> Add integration, as a user types it."""
        camera = SPARE_CAMERA
        page = self.page
        page.goto(HA_URL + "/config/integrations/dashboard")
        page.get_by_role("button", name="Add integration").click()
        page.locator("dialog-add-integration input").fill("Xiaomi Camera Bridge")
        page.locator("dialog-add-integration ha-integration-list-item").filter(
            has_text="Xiaomi Camera Bridge"
        ).click()
        dialog = page.locator("dialog-data-entry-flow")
        answers = camera.flow_answers()
        seen: list[str] = []
        for _ in range(8):
            step = self._flow_step(dialog)
            if step["type"] == "create_entry":
                break
            check(step["type"] == "form", f"the flow ended with {step}")
            step_id = step["step_id"]
            check(not step["errors"], f"step {step_id} shows errors {step['errors']}")
            check(step_id in answers, f"unexpected flow step {step_id!r}")
            check(step_id not in seen, f"step {step_id} came back")
            seen.append(step_id)
            for field, value in answers[step_id].items():
                self._fill(dialog, field, value)
            self.shot(f"add-camera-{step_id}")
            dialog.get_by_role("button", name="Submit").click()
            page.wait_for_function(
                "([dialog, step]) => !dialog._step || dialog._step.step_id !== step"
                " || (dialog._step.errors && Object.keys(dialog._step.errors).length > 0)",
                arg=[dialog.element_handle(), step_id],
            )
        else:
            raise CheckFailed(f"the flow did not finish after steps {seen}")
        print(f"     flow steps: {' -> '.join(seen)} -> created")
        self.shot("add-camera-created")
        dialog.get_by_role("button", name="Finish").click()
        device, _ = wait_until(
            "the new camera's device", lambda: self._registry_or_none(camera), timeout=30
        )
        entry_id = device["config_entries"][0]
        entry = next(e for e in self.api.entries() if e["entry_id"] == entry_id)
        check(entry["state"] == "loaded", f"the new entry is {entry['state']}")
        power = self.entities(camera)["power"]
        check(self.state(power) == "on", f"{power} is {self.state(power)}")
        page.goto(HA_URL + "/config/integrations/integration/" + demo.DOMAIN)
        page.get_by_text(device["name_by_user"] or device["name"]).first.wait_for()
        self.shot("integration-three-cameras")
        page.goto(DASHBOARD_URL)
        self.tagged("row", power)
        self._check_picture(camera)
        self.shot("dashboard-three-cameras")

    def _flow_step(self, dialog: Locator) -> dict[str, Any]:
        handle = dialog.element_handle()
        self.page.wait_for_function("(dialog) => !!dialog._step", arg=handle)
        step: dict[str, Any] = dialog.evaluate(FLOW_STEP_JS)
        return step

    def _fill(self, dialog: Locator, field: str, value: Any) -> None:
        box = self.tagged("field", field, within=dialog)
        # The selector's control is rendered after the field itself (lazy-loaded element):
        # wait for it, or the count() checks below race it.
        box.locator("ha-select, ha-radio, input, textarea").first.wait_for()
        if box.locator("ha-select").count():
            box.locator("ha-select").click()
            self.tagged("value", str(value), within=box).click()
        elif box.locator("ha-radio").count():
            self.tagged("value", str(value), within=box).click()
        else:
            box.locator("input, textarea").first.fill(str(value))

    def _registry_or_none(self, camera: DemoCamera) -> Any:
        try:
            return self.api.camera_registry(camera)
        except demo.DemoError:
            return None


def slug(name: str) -> str:
    """File-name form of a check's or camera's name."""
    return demo.slug(name).replace("_", "-")


def remove_spare_entries(api: HomeAssistantApi) -> None:
    """Forget the third camera (left over from an interrupted run, or added by this one)."""
    try:
        device, _ = api.camera_registry(SPARE_CAMERA)
    except demo.DemoError:
        return
    for entry_id in device["config_entries"]:
        api.call("DELETE", f"/api/config/config_entries/entry/{entry_id}")


def block_non_loopback(route: Route) -> None:
    """Only loopback: the frontend would fetch brand icons from the internet."""
    host = urllib.parse.urlsplit(route.request.url).hostname or ""
    if host == "localhost" or host.startswith("127."):
        route.continue_()
    else:
        route.abort()


def run_checks(api: HomeAssistantApi) -> list[Result]:
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.route("**/*", block_non_loopback)
        test = BrowserTest(context, api)
        try:
            if test.run("log in and see the dashboard", test.login):
                test.run("both cameras' pictures, each from its own camera", test.camera_pictures)
                test.run("live view plays the camera's own whole pictures", test.live_view)
                test.run(
                    "power switch on the dashboard reaches the camera", test.dashboard_power_switch
                )
                test.run(
                    "status light on the device page reaches the camera",
                    test.device_page_status_light,
                )
                spare = SpareCamera()
                try:
                    test.run("add a third camera through the UI", test.add_third_camera)
                finally:
                    remove_spare_entries(api)
                    spare.stop()
            else:
                for name in ("camera pictures", "live view", "switches", "add a third camera"):
                    test.results.append(Result(name, False, 0.0, "not run: login failed"))
        finally:
            context.close()
        return test.results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    started = time.monotonic()
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)

    demo_process: DemoProcess | None = None
    results: list[Result] = []
    try:
        if demo.port_in_use(demo.HA_HOST, demo.HA_PORT):
            print(f"==> using the demo already running on {HA_URL}")
        else:
            print("==> starting the demo (scripts/develop)")
            demo_process = DemoProcess()
            demo_process.wait_ready(timeout=900)  # a fresh machine installs packages first
        api = HomeAssistantApi()
        api.login()
        remove_spare_entries(api)
        results = run_checks(api)
    except Exception as err:
        traceback.print_exc()
        results.append(Result("set up the demo", False, 0.0, str(err)))
    finally:
        if demo_process is not None:
            print("==> stopping the demo")
            demo_process.stop()

    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    wall = time.monotonic() - started
    print(f"\nScreenshots: {SCREENSHOTS.relative_to(REPO)}/  wall time {wall:.1f} s")
    for result in results:
        status = "PASS" if result.passed else "FAIL"
        print(f"  {status} {result.name} ({result.seconds:.1f} s) {result.message}".rstrip())
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
