"""The motion gate on the demo camera's page in real headless Chromium, checked through the
REST API: a mask drawn over the caption is saved in the camera's `motion.masks`, and with
the Motion switch on, the regions that move are drawn as rectangles over the live picture,
the mask dark and hatched. The screenshot goes to $APPLIANCE_SCREENSHOTS as motion.png when
set (docs/screenshots)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Server, start_server
from test_dashboard_browser import CHROMIUM, DRIVER, open_chromium, screenshot, wait_for
from test_scene_browser import TOLERANCE, button, click_picture, overlay, settle

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)
CAMERA = {"id": "demo", "name": "Demo scene", "uri": "demo://", "fps_limit": 6}
CAPTION = [(0.01, 0.925), (0.55, 0.925), (0.55, 0.99), (0.01, 0.99)]  # the changing caption
MOVE_WAIT_S = 35  # the demo's photos glide 10 s of every 30


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("motion"), [CAMERA]) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path):
    driver = open_chromium(tmp_path, "1500,1180")  # the picture, the figures and the masks
    try:
        yield driver
    finally:
        driver.quit()


def saved_masks(http: httpx.Client) -> list[list[list[float]]]:
    return http.get("/v1/cameras/demo").json()["motion"]["masks"]


def motion_switch(driver):
    """The Motion switch (Quasar's q-toggle) beside Boxes."""
    return driver.find_element(
        "xpath", "//div[contains(@class,'q-toggle')][.//div[normalize-space()='Motion']]"
    )


def away_from_the_switch(driver) -> None:
    from selenium.webdriver import ActionChains

    title = driver.find_element("xpath", "//*[normalize-space()='Stage latencies']")
    ActionChains(driver).move_to_element(title).perform()


def test_draw_a_mask_then_watch_what_moves(service: Server, browser, tmp_path: Path):
    browser.get(service.url + "/cameras/demo")
    wait_for(
        lambda: browser.execute_script(
            "const i = document.querySelector('[data-camera] img');"
            "return i && i.complete && i.naturalWidth > 0"
        ),
        what="the live picture",
    )
    with httpx.Client(base_url=service.url, timeout=10) as http:
        assert saved_masks(http) == []
        wait_for(lambda: button(browser, "Draw mask"), what="the Draw mask button").click()
        for n, (x, y) in enumerate(CAPTION, start=1):
            click_picture(browser, x, y)
            wait_for(lambda n=n: overlay(browser, "circle") == n, what=f"point {n}")
        wait_for(lambda: button(browser, "Save mask"), what="Save enabled").click()
        masks = wait_for(lambda: saved_masks(http), what="the saved mask")
        assert [m["points"] for m in masks] == [
            [pytest.approx(list(p), abs=TOLERANCE) for p in CAPTION]
        ]
        wait_for(lambda: "mask 1" in browser.page_source, what="the mask's row")

        motion_switch(browser).click()
        wait_for(lambda: overlay(browser, "polygon[data-mask]") == 1, what="the mask drawn")
        wait_for(
            lambda: overlay(browser, "rect[data-motion]") > 0,
            timeout=MOVE_WAIT_S,
            what="rectangles where the photos move",
        )
        telemetry = browser.find_element("xpath", "//*[contains(text(),'of frames inferred')]")
        assert "motion events/min" in telemetry.text
        settle(lambda: not browser.find_elements("css selector", ".q-notification"), timeout=10)
        settle(lambda: overlay(browser, "rect[data-motion]") >= 2, timeout=5)  # for the shot
        away_from_the_switch(browser)  # its tooltip would cover the page
        screenshot(browser, tmp_path, "motion")
        assert overlay(browser, "pattern") == 1  # the hatching survived the sanitiser

        motion_switch(browser).click()
        wait_for(lambda: overlay(browser, "rect, polygon") == 0, what="the overlay to clear")
