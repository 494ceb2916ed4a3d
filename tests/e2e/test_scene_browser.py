"""Lines, zones and motion masks drawn in real headless Chromium on the demo camera's page,
checked through the REST API: clicks on the live picture become the saved points, the list
shows the counts the API reports, Delete removes the line; a mask drawn over the caption is
saved in the camera's `motion.masks`, and with the Motion switch on the regions that move
are drawn as rectangles over the picture. The screenshots of the page go to
$APPLIANCE_SCREENSHOTS as camera-lines-zones.png and motion.png when set (docs/screenshots)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Server, start_server
from test_dashboard_browser import CHROMIUM, DRIVER, open_chromium, screenshot, wait_for

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)
CAMERA = {"id": "demo", "name": "Demo scene", "uri": "demo://", "fps_limit": 6}
# The cat's feet swing across x = 0.52 every few seconds; the astronaut stands in the zone.
DOOR = [(0.52, 0.55), (0.52, 0.97)]
BENCH = [(0.03, 0.3), (0.34, 0.3), (0.34, 0.85), (0.03, 0.85)]
TOLERANCE = 0.01  # a click lands on a whole CSS pixel of a picture shown ~0.7x
CAPTION = [(0.01, 0.925), (0.55, 0.925), (0.55, 0.99), (0.01, 0.99)]  # the changing caption
MOVE_WAIT_S = 35  # the demo's photos glide 10 s of every 30


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("scene"), [CAMERA]) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path):
    """Taller than the other pages' window: the picture and the list of lines fit in one."""
    driver = open_chromium(tmp_path, "1500,1180")
    try:
        yield driver
    finally:
        driver.quit()


def click_picture(driver, fx: float, fy: float) -> None:
    """Click the live picture at fraction (fx, fy) of its width and height."""
    from selenium.webdriver import ActionChains

    img = driver.find_element("css selector", "[data-camera] img")
    width, height = img.size["width"], img.size["height"]
    dx, dy = round((fx - 0.5) * width), round((fy - 0.5) * height)  # from the centre
    ActionChains(driver).move_to_element_with_offset(img, dx, dy).click().perform()


def button(driver, text: str):
    """The visible, enabled button labelled `text`, or None (also while Vue replaces it)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        found = driver.find_elements("xpath", f"//button[.//span[text()='{text}']]")
        return found[0] if found and found[0].is_displayed() and found[0].is_enabled() else None
    except StaleElementReferenceException:
        return None


def overlay(driver, shape: str) -> int:
    """How many `shape` elements the draft overlay on the picture holds."""
    return driver.execute_script(
        f"return document.querySelectorAll('[data-camera] svg {shape}').length"
    )


def open_camera_page(driver, url: str) -> None:
    """Open a camera's page and wait until its live picture shows."""
    driver.get(url)
    wait_for(
        lambda: driver.execute_script(
            "const i = document.querySelector('[data-camera] img');"
            "return i && i.complete && i.naturalWidth > 0"
        ),
        what="the live picture",
    )


def draw(
    driver, kind: str, name: str | None, points: list[tuple[float, float]], shot: Path | None
) -> None:
    """Draw, name (masks have none) and save; `shot` shows the draft on the picture just
    before saving."""
    # a notification of the last save may still lie over the buttons at the bottom
    wait_for(lambda: not notifications(driver), what="the notifications to go", timeout=15)
    wait_for(lambda: button(driver, f"Draw {kind}"), what=f"the Draw {kind} button").click()
    for n, (x, y) in enumerate(points, start=1):
        click_picture(driver, x, y)
        wait_for(lambda n=n: overlay(driver, "circle") == n, what=f"point {n} on the overlay")
    if name is not None:
        driver.find_element("css selector", "#scene-name").send_keys(name)
    if shot is not None:
        driver.save_screenshot(str(shot))
    wait_for(lambda: button(driver, f"Save {kind}"), what="Save enabled").click()


def notifications(driver) -> int:
    return driver.execute_script("return document.querySelectorAll('.q-notification').length")


def saved_points(http: httpx.Client, kind: str, name: str) -> list[list[float]] | None:
    response = http.get(f"/v1/cameras/demo/{kind}s/{name}")
    return response.json()["points"] if response.status_code == 200 else None


def row_text(driver, kind: str, name: str) -> str:
    """The text of the list's row for `name` (the row holds its Delete button); looked up
    again when the list was rebuilt between finding the row and reading it."""
    from selenium.common.exceptions import StaleElementReferenceException

    button = f"//button[@aria-label='Delete {kind} {name}']"
    for _ in range(5):
        rows = driver.find_elements("xpath", f"{button}/ancestor::div[contains(@class,'row')][1]")
        try:
            return rows[0].text if rows else ""
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"the row of {kind} {name} kept being rebuilt")


def test_draw_a_line_and_a_zone_watch_their_counts_and_delete(
    service: Server, browser, tmp_path: Path
):
    open_camera_page(browser, service.url + "/cameras/demo")
    with httpx.Client(base_url=service.url, timeout=10) as http:
        draw(browser, "line", "door", DOOR, tmp_path / "drawing-line.png")
        line = wait_for(lambda: saved_points(http, "line", "door"), what="the saved line")
        assert line == [pytest.approx(list(p), abs=TOLERANCE) for p in DOOR]
        # the draft leaves the overlay: the annotated stream draws the saved line
        wait_for(lambda: overlay(browser, "circle") == 0, what="the draft to clear")

        draw(browser, "zone", "bench", BENCH, tmp_path / "drawing-zone.png")
        zone = wait_for(lambda: saved_points(http, "zone", "bench"), what="the saved zone")
        assert zone == [pytest.approx(list(p), abs=TOLERANCE) for p in BENCH]

        def line_matches_api() -> bool:
            counts = http.get("/v1/cameras/demo/lines/door").json()["counts"]
            totals = f"in {sum(counts['in'].values())} · out {sum(counts['out'].values())}"
            return totals in row_text(browser, "line", "door")

        wait_for(line_matches_api, what="the line's counts as the API reports them")
        wait_for(lambda: "inside" in row_text(browser, "zone", "bench"), what="the zone's row")
        # for the screenshot, not asserted: counts come from the tracker, at this machine's pace
        settle(lambda: "in 0 · out 0" not in row_text(browser, "line", "door"), timeout=45)
        settle(lambda: "now person" in row_text(browser, "zone", "bench"), timeout=15)
        settle(lambda: not browser.find_elements("css selector", ".q-notification"), timeout=10)
        screenshot(browser, tmp_path, "camera-lines-zones")

        browser.find_element("xpath", "//button[@aria-label='Delete line door']").click()
        confirm = wait_for(
            lambda: browser.find_elements(
                "xpath", "//div[contains(@class,'q-dialog')]//button[.//span[text()='Delete']]"
            ),
            what="the confirmation",
        )[-1]
        wait_for(lambda: confirm.is_displayed(), what="the dialog to open")
        wait_for(lambda: _clicked(confirm), what="the dialog's transition to end")
        wait_for(
            lambda: http.get("/v1/cameras/demo/lines/door").status_code == 404,
            what="the line to go",
        )
        wait_for(lambda: not row_text(browser, "line", "door"), what="its row to go")
        assert saved_points(http, "zone", "bench") == zone


def settle(probe: Callable[[], bool], timeout: float) -> bool:
    """Wait for `probe` at most `timeout` seconds; whether it came true."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _clicked(element) -> bool:
    """Click once Quasar's opening transition lets the click through to the button."""
    from selenium.common.exceptions import ElementClickInterceptedException

    try:
        element.click()
    except ElementClickInterceptedException:
        return False
    return True


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
    open_camera_page(browser, service.url + "/cameras/demo")
    with httpx.Client(base_url=service.url, timeout=10) as http:
        assert saved_masks(http) == []
        draw(browser, "mask", None, CAPTION, None)
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
