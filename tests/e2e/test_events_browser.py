"""The Events page in real headless Chromium against `appliance serve` with authentication on
(the pictures and the clip load through signed URLs): two file cameras make real events (a
person visiting an empty scene; two people and a cat walking over a zone and a line); the grid
shows their snapshots, a card's clip PLAYS in the page and seeks, the filters narrow the grid
as the API does, and Delete removes an event. Screenshots go to the test's tmp dir and to
$APPLIANCE_SCREENSHOTS when set (events.png, event-clip.png for docs/screenshots)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Server, start_server
from test_dashboard_browser import (
    CHROMIUM,
    DRIVER,
    open_chromium,
    screenshot,
    sign_in_with_token,
    wait_for,
)
from test_scene_browser import _clicked, button

from appliance.devtools.trajectories import write_trajectory_clip
from appliance.devtools.visits import write_visit_clip

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)
EVENTS = {"pre_s": 1.5, "post_s": 1.0, "labels": ["person", "cat"]}
LEFT = {"points": [[0.0, 0.4], [0.36, 0.4], [0.36, 1.0], [0.0, 1.0]]}
GATE = {"points": [[0.5, 0.0], [0.5, 1.0]]}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("events-browser")
    visit = write_visit_clip(base / "visit.avi", empty_s=2.0, visit_s=3.0)
    walk = write_trajectory_clip(base / "walk.avi")
    cameras = [
        {"id": "door", "name": "Door", "uri": f"file://{visit.path}", "events": EVENTS},
        {
            "id": "walk",
            "name": "Walk",
            "uri": f"file://{walk.path}",
            "events": EVENTS,
            "zones": {"left": LEFT},
            "lines": {"gate": GATE},
        },
    ]
    root = base / "serve"
    root.mkdir()
    with start_server(root, cameras, auth=True) as running:
        with httpx.Client(base_url=running.url, headers=running.headers, timeout=10) as http:
            wait_for(lambda: _with_clips(http, "door"), timeout=90, what="a door event's clip")
            # on the walk the actors never leave the frame: their events (with zones and
            # lines by now) end when the camera stops, and it starts again afterwards
            wait_for(lambda: _crossed(http), timeout=60, what="a walk event crossing the gate")
            http.post("/v1/cameras/walk/stop").raise_for_status()
            wait_for(lambda: _with_clips(http, "walk"), timeout=90, what="a walk event's clip")
            http.post("/v1/cameras/walk/start").raise_for_status()
        yield running


def _crossed(http: httpx.Client) -> bool:
    listed = http.get("/v1/events", params={"camera": "walk", "limit": 100}).json()["events"]
    return any(e["lines"] and e["zones"] for e in listed)


def _with_clips(http: httpx.Client, camera: str) -> list[dict]:
    listed = http.get("/v1/events", params={"camera": camera, "limit": 100}).json()["events"]
    return [e for e in listed if e["has_clip"]]


@pytest.fixture
def http(service: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, headers=service.headers, timeout=10) as client:
        yield client


@pytest.fixture
def browser(service: Server, tmp_path: Path):
    """Signed in with the admin token, on the Events page."""
    driver = open_chromium(tmp_path, "1500,1000")
    try:
        assert service.token
        sign_in_with_token(driver, service.url + "/login?next=/events", service.token)
        wait_for(lambda: cards(driver), timeout=30, what="the event cards")
        yield driver
    finally:
        driver.quit()


def cards(driver) -> list[str]:
    """The ids of the cards in the grid, in their order."""
    return driver.execute_script(
        "return [...document.querySelectorAll('[data-event]')].map(e => e.dataset.event)"
    )


def pictures_loaded(driver) -> bool:
    return driver.execute_script(
        "const imgs = [...document.querySelectorAll('[data-event] img')];"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0)"
    )


def video_state(driver) -> dict:
    return driver.execute_script(
        "const v = document.querySelector('.q-dialog video');"
        "return v && {ready: v.readyState, time: v.currentTime, paused: v.paused,"
        " width: v.videoWidth, height: v.videoHeight, duration: v.duration,"
        " poster: v.poster, src: v.currentSrc, error: v.error && v.error.message,"
        " muted: v.muted}"
    )


def fetch(driver, url: str) -> list:
    """[status, content type] of a GET the page itself makes (its cookies, no token)."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {cache: 'no-store'})"
        ".then(r => done([r.status, r.headers.get('content-type')]))"
        ".catch(e => done([0, String(e)]))",
        url,
    )


def open_card(driver, event_id: str) -> None:
    card = driver.find_element("css selector", f'[data-event="{event_id}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
    wait_for(lambda: _clicked(card), what="the card to take the click")
    wait_for(
        lambda: driver.find_elements("css selector", ".q-dialog video, .q-dialog img"),
        what="the event's dialog",
    )


def test_the_grid_shows_snapshots_and_a_clip_plays(
    service: Server, browser, http: httpx.Client, tmp_path: Path
):
    shown = wait_for(lambda: _same_as_api(browser, http), what="the API's newest events")
    assert shown == sorted(shown, reverse=True)  # ids start with the start time: newest first
    wait_for(lambda: pictures_loaded(browser), what="every card's snapshot")
    src = browser.execute_script("return document.querySelector('[data-event] img').src")
    assert "/snapshot.jpg?crop=1&exp=" in src and "sig=" in src
    # for the screenshot: new cards keep coming, each loading its picture
    wait_for(lambda: pictures_loaded(browser) and not time.sleep(0.5) and pictures_loaded(browser))
    screenshot(browser, tmp_path, "events")

    # the walk that did most (zones entered, lines crossed) shows the most in its details
    event = max(_with_clips(http, "walk"), key=lambda e: (len(e["lines"]), len(e["zones"])))
    open_card(browser, event["id"])
    state = wait_for(
        lambda: (s := video_state(browser)) and s["ready"] >= 2 and s, what="the clip to load"
    )
    assert state["error"] is None and (state["width"], state["height"]) == (1280, 720)
    assert f"/v1/events/{event['id']}/snapshot.jpg?exp=" in state["poster"]
    assert f"/v1/events/{event['id']}/clip.mp4?exp=" in state["src"]
    assert fetch(browser, state["poster"]) == [200, "image/jpeg"]
    # it plays by itself (muted): the time moves on
    start = state["time"]
    moving = wait_for(
        lambda: (s := video_state(browser)) and s["time"] > start + 0.5 and s,
        timeout=15,
        what="the clip's time to advance",
    )
    assert not moving["paused"] and moving["muted"]
    assert moving["duration"] >= EVENTS["pre_s"]
    # seeking works (Range requests on the signed URL): paused, back to 0.2 s, frame shown
    browser.execute_script(
        "const v = document.querySelector('.q-dialog video'); v.pause();"
        "window.seekedTo = null; v.onseeked = () => { window.seekedTo = v.currentTime };"
        "v.currentTime = 0.2"
    )
    seeked = wait_for(
        lambda: browser.execute_script(
            "const v = document.querySelector('.q-dialog video');"
            "return window.seekedTo !== null && v.readyState >= 2 && [window.seekedTo]"
        ),
        what="the seek back",
    )
    assert seeked[0] == pytest.approx(0.2, abs=0.1)
    browser.execute_script("document.querySelector('.q-dialog video').play()")
    download = browser.find_element(
        "xpath", "//div[contains(@class,'q-dialog')]//a[.//span[text()='Download clip']]"
    )
    assert download.get_attribute("download") == f"{event['id']}.mp4"
    assert fetch(browser, download.get_attribute("href")) == [200, "video/mp4"]
    facts = browser.find_element("css selector", ".q-dialog").text
    assert "Walk" in facts and event["label"] in facts and f"#{event['track_id']}" in facts
    wait_for(lambda: (s := video_state(browser)) and s["time"] > 1.0, what="playing on")
    browser.execute_script("document.querySelector('.q-dialog video').pause()")  # its controls
    time.sleep(0.5)
    screenshot(browser, tmp_path, "event-clip")


def _choose(driver, field: str, option: str) -> None:
    """Pick `option` in the select labelled `field`."""
    select = driver.find_element(
        "xpath", f"//label[.//div[contains(@class,'q-field__label')][text()='{field}']]"
    )
    select.click()
    item = wait_for(
        lambda: [
            o
            for o in driver.find_elements(
                "xpath", f"//div[contains(@class,'q-menu')]//div[@role='option'][.='{option}']"
            )
            if o.is_displayed()
        ],
        what=f"the option {option}",
    )[0]
    item.click()


def _ids(http: httpx.Client, **params: str | int) -> list[str]:
    return [
        e["id"] for e in http.get("/v1/events", params={**params, "limit": 24}).json()["events"]
    ]


def _same_as_api(driver, http: httpx.Client, **params: str | int) -> list[str] | None:
    """The cards, once they are the API's answer to the same filter (new events keep coming:
    compared at the same moment, twice over)."""
    for _ in range(2):
        shown, expected = cards(driver), _ids(http, **params)
        if shown == expected:
            return shown
    return None


def test_filters_narrow_the_grid_as_the_api_does(service: Server, browser, http: httpx.Client):
    _choose(browser, "Camera", "Walk")
    walk = wait_for(lambda: _same_as_api(browser, http, camera="walk"), what="walk's events")
    assert walk and all(http.get(f"/v1/events/{i}").json()["camera"] == "walk" for i in walk)
    _choose(browser, "Label", "cat")
    cats = wait_for(
        lambda: _same_as_api(browser, http, camera="walk", label="cat"), what="the cats"
    )
    assert all(http.get(f"/v1/events/{i}").json()["label"] == "cat" for i in cats)
    _choose(browser, "Camera", "Door")
    wait_for(lambda: "No events match these filters" in browser.page_source, what="none")
    assert not cards(browser)
    _choose(browser, "Label", "person")
    _choose(browser, "Zone", "left")
    wait_for(lambda: "No events match these filters" in browser.page_source, what="none")
    _choose(browser, "Camera", "Walk")
    in_zone = wait_for(
        lambda: _same_as_api(browser, http, camera="walk", label="person", zone="left"),
        what="people who entered the zone",
    )
    assert all("left" in http.get(f"/v1/events/{i}").json()["zones"] for i in in_zone)
    button(browser, "Last hour").click()
    wait_for(
        lambda: _same_as_api(
            browser, http, camera="walk", label="person", zone="left", after=int(time.time() - 3600)
        ),
        what="the last hour",
    )


def dialog_delete_buttons(driver) -> list:
    """The Delete buttons shown in dialogs, in document order (an opened dialog comes last)."""
    found = driver.find_elements(
        "xpath", "//div[contains(@class,'q-dialog')]//button[.//span[text()='Delete']]"
    )
    return [b for b in found if b.is_displayed()]


def test_delete_removes_the_event_and_its_card(service: Server, browser, http: httpx.Client):
    event = _with_clips(http, "door")[0]
    wait_for(lambda: event["id"] in cards(browser), what="the door event's card")
    open_card(browser, event["id"])
    wait_for(lambda: button(browser, "Delete"), what="Delete").click()
    # the event's dialog has a Delete button too: wait for the confirmation's, opened over it
    # (taken too early, only the first is there, and every click on it is intercepted)
    confirm = wait_for(lambda: dialog_delete_buttons(browser)[1:], what="the confirmation")[-1]
    wait_for(lambda: _clicked(confirm), what="the confirmation's transition to end")
    wait_for(lambda: event["id"] not in cards(browser), what="the card to go")
    assert http.get(f"/v1/events/{event['id']}").status_code == 404
    assert http.get(f"/v1/events/{event['id']}/clip.mp4").status_code == 404


def test_a_phone_sized_window_fits_the_grid_and_the_clip(
    service: Server, http: httpx.Client, tmp_path: Path
):
    """One card a row, the dialog's video above its details, nothing wider than the screen."""
    driver = open_chromium(tmp_path, "420,860")
    try:
        assert service.token
        sign_in_with_token(driver, service.url + "/login?next=/events", service.token)
        wait_for(lambda: cards(driver), what="the cards")
        widths = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " ...[...document.querySelectorAll('[data-event]')].map(c => c.offsetLeft)]"
        )
        assert widths[0] <= widths[1] and len(set(widths[2:])) == 1, widths  # one column
        event = _with_clips(http, "walk")[0]
        open_card(driver, event["id"])
        wait_for(lambda: (s := video_state(driver)) and s["ready"] >= 2, what="the clip")
        screen, video, facts = driver.execute_script(
            "const box = e => { const r = e.getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom] };"
            "const facts = document.querySelector('.q-dialog [data-part=facts]');"
            "return [window.innerWidth, box(document.querySelector('.q-dialog video')),"
            " box(facts)]"
        )
        assert video[0] >= 0 and video[2] <= screen and facts[2] <= screen, (screen, video, facts)
        assert facts[1] >= video[3] - 1, (video, facts)  # the details below the video
        screenshot(driver, tmp_path, "events-phone")
    finally:
        driver.quit()
