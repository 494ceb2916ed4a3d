"""The dashboard in real headless Chromium (Debian's chromium + chromium-driver) against
`appliance serve` on loopback: live tiles move, the camera page lists detections, and a model
uploaded and activated on the Models page takes effect. Screenshots of each page go to the
test's tmp dir (and to $APPLIANCE_SCREENSHOTS when set, to refresh docs/screenshots)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from helpers import Server, compose_scene, second_model, start_server

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)
EIGHT = [
    {"id": f"cam{i}", "name": f"Camera {i}", "uri": "demo://", "fps_limit": 2} for i in range(8)
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("dashboard")
    with start_server(root, EIGHT) as running:
        yield running


def open_chromium(tmp_path: Path, size: str = "1500,1000"):
    """Headless Chromium with its own profile, `size` as "width,height"."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={size}"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser(tmp_path: Path):
    driver = open_chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or probe}"
        time.sleep(0.2)


def screenshot(driver, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / f"{name}.png"))
    target = os.environ.get("APPLIANCE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / f"{name}.png", Path(target) / f"{name}.png")


def visible(driver, css: str) -> list:
    """The displayed elements matching `css` (the login page keeps its hidden form too)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return [e for e in driver.find_elements("css selector", css) if e.is_displayed()]
    except StaleElementReferenceException:  # Vue replaced it meanwhile: look again
        return []


def labelled(driver, text: str) -> list:
    """The displayed buttons labelled exactly `text`."""
    found = driver.find_elements("xpath", f"//button[.//span[text()='{text}']]")
    return [b for b in found if b.is_displayed()]


def sign_in_with_token(driver, login_url: str, token: str) -> None:
    """On the login page: "Use an API token instead", paste it, sign in."""
    driver.get(login_url)
    wait_for(lambda: labelled(driver, "Use an API token instead"), what="the login page")[0].click()
    wait_for(lambda: visible(driver, "input[name=token]"), what="the token field")[0].send_keys(
        token
    )
    labelled(driver, "Sign in with the token")[0].click()


def tile_frames(driver) -> dict[str, int]:
    """Camera id -> frame id of the picture each live tile has loaded (0: none yet)."""
    script = """
      return [...document.querySelectorAll('[data-camera]')].map(el => {
        const img = el.querySelector('img');
        const m = /frame=(\\d+)/.exec(img.currentSrc || img.src || '');
        return [el.dataset.camera, img.complete && img.naturalWidth > 0 && m ? +m[1] : 0];
      });
    """
    return dict(driver.execute_script(script))


def test_eight_live_tiles_all_keep_updating(service: Server, browser, tmp_path: Path):
    """Eight tiles on one page, each loading newer frames: no tile starves for a connection."""
    browser.get(service.url + "/")
    first = wait_for(
        lambda: (f := tile_frames(browser)) and len(f) == 8 and all(f.values()) and f,
        what="eight tiles with a picture",
    )
    later = wait_for(
        lambda: (f := tile_frames(browser)) and all(f[c] > first[c] for c in first) and f,
        timeout=30,
        what="every tile to show a newer frame",
    )
    assert set(later) == {c["id"] for c in EIGHT}
    screenshot(browser, tmp_path, "live")


def test_camera_page_lists_detections(service: Server, browser, tmp_path: Path):
    browser.get(service.url + "/cameras/cam0")
    wait_for(lambda: "Recent detections" in browser.page_source, what="the camera page")

    def labels() -> set[str]:
        rows = browser.find_elements("css selector", ".q-table tbody tr td:nth-child(2)")
        return {row.text.split(" #")[0] for row in rows} & {"person", "cat", "cup"}  # "person #3"

    assert wait_for(labels, timeout=40, what="detections of the demo scene")
    screenshot(browser, tmp_path, "camera")


def test_every_page_renders(service: Server, browser, tmp_path: Path):
    for path, name, text in [
        ("/cameras", "cameras", "ADD CAMERA"),
        ("/health", "health", "CPU"),
        ("/activity", "activity", "camera.state"),
    ]:
        browser.get(service.url + path)
        wait_for(lambda t=text: t.lower() in browser.page_source.lower(), what=path)
        time.sleep(1.5)  # charts draw their first points
        screenshot(browser, tmp_path, name)


def test_model_upload_and_activation_take_effect(service: Server, browser, tmp_path: Path):
    """Upload through the page's file input, activate everywhere, see the swap report; the
    API then serves the new model by default and the cameras use it."""
    model = second_model(tmp_path / "second.onnx")
    browser.get(service.url + "/models")
    upload = wait_for(
        lambda: browser.find_elements("css selector", ".q-uploader input[type=file]"),
        what="the upload input",
    )[0]
    upload.send_keys(str(model))
    wait_for(lambda: "second is valid" in browser.page_source, timeout=90, what="validation")
    screenshot(browser, tmp_path, "models-validated")
    close = browser.find_elements("xpath", "//button[.//span[text()='Close']]")
    close[-1].click()
    wait_for(  # the report's dialog is gone before anything under it is clicked
        lambda: "second is valid" not in browser.page_source, what="the report to close"
    )
    card = wait_for(
        lambda: browser.find_elements(
            "xpath", "//div[contains(@class,'q-card')][.//div[text()='second']]"
        ),
        what="the second model's card",
    )[0]
    card.find_element("xpath", ".//button[.//span[text()='Activate']]").click()
    go = wait_for(
        lambda: browser.find_elements(
            "xpath", "//div[contains(@class,'q-dialog')]//button[.//span[text()='Activate']]"
        ),
        what="the activation dialog",
    )
    wait_for(lambda: go[-1].is_displayed() and go[-1].is_enabled(), what="the dialog to open")
    time.sleep(0.5)  # Quasar's opening transition: a click during it lands on the backdrop
    go[-1].click()
    wait_for(lambda: "Activated second" in browser.page_source, timeout=90, what="swap report")
    wait_for(
        lambda: "Loading and warming" not in browser.page_source,
        timeout=5,
        what="the busy notification to go once the swap is done",
    )
    screenshot(browser, tmp_path, "models-activated")
    with httpx.Client(base_url=service.url) as http:
        models = {m["name"]: m for m in http.get("/v1/models").json()["models"]}
        assert models["second"]["default"] is True
        cameras = http.get("/v1/cameras").json()["cameras"]
        assert all(c["model"] is None for c in cameras)  # they follow the default: second
        jpeg = compose_scene().jpeg()
        detect = http.post("/v1/detect", content=jpeg, headers={"content-type": "image/jpeg"})
        assert detect.json()["model"]["name"] == "second"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service as installed: authentication on, the first admin token in its data dir."""
    root = tmp_path_factory.mktemp("secured")
    camera = {"id": "door", "name": "Door", "uri": "demo://", "fps_limit": 5}
    with start_server(root, [camera], auth=True) as running:
        yield running


def test_sign_in_then_watch(secured: Server, browser, tmp_path: Path):
    """Signed out, the dashboard asks to sign in; with the admin token (the login page's
    token form) the live tile loads its pictures through signed URLs (an <img> cannot send
    the token)."""
    assert secured.token
    browser.get(secured.url + "/")
    wait_for(lambda: visible(browser, "input[name=password]"), what="the login page")
    screenshot(browser, tmp_path, "login")
    sign_in_with_token(browser, browser.current_url, secured.token)
    frames = wait_for(
        lambda: (f := tile_frames(browser)) and f.get("door") and f,
        what="the signed-in Live page with a loaded picture",
    )
    assert frames["door"] > 0
    src = browser.execute_script("return document.querySelector('[data-camera] img').src")
    assert "sig=" in src


def test_appliance_open_link_opens_a_signed_in_dashboard(secured: Server, browser):
    """The link `appliance open` prints (a one-time code from the admin token in the data
    dir, not the token) opens the Live page signed in; used again, it is refused."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env |= {"APPLIANCE_PORT": str(secured.port), "APPLIANCE_DATA_DIR": str(secured_data(secured))}
    opened = subprocess.run(
        [sys.executable, "-m", "appliance", "open", "--no-browser"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    link = opened.stdout.strip()
    assert secured.token and link.startswith(f"{secured.url}/login?code=")
    assert secured.token.split("_", 2)[2] not in link
    browser.get(link)
    frames = wait_for(
        lambda: (f := tile_frames(browser)) and f.get("door") and f,
        what="the Live page, signed in by the link",
    )
    assert frames["door"] > 0 and not visible(browser, "input[type=password]")
    assert "code=" not in browser.current_url  # redeemed and redirected away

    browser.delete_all_cookies()  # another browser with the same link
    browser.get(link)
    wait_for(lambda: "used already" in browser.page_source, what="the refusal")
    assert visible(browser, "input[name=password]")


def secured_data(server: Server) -> Path:
    return server.log.parent / "data"
