"""Signing in with a name and a password, in real headless Chromium against `appliance
serve` with authentication on: a wrong password is said on the page, the right one reaches
the Live page; the first admin is made to choose a password first; signing out ends the
session (the pages send the browser back to the login page, the cookie no longer works)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Server, start_server
from test_dashboard_browser import (
    CHROMIUM,
    DRIVER,
    labelled,
    open_chromium,
    screenshot,
    tile_frames,
    visible,
    wait_for,
)

from appliance.auth.accounts import Accounts
from appliance.auth.sessions import COOKIE, HEADER

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("users-browser")
    camera = {"id": "door", "name": "Door", "uri": "demo://", "fps_limit": 2}
    with start_server(root, [camera], auth=True) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path):
    driver = open_chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def accounts(service: Server) -> Accounts:
    """The service's users.json, as `appliance user …` changes it."""
    return Accounts(service.log.parent / "data")


def submit_password(driver, name: str, password: str) -> None:
    """Type into the login page's name and password fields and press Sign in."""
    field = wait_for(lambda: visible(driver, "input[name=name]"), what="the login form")[0]
    field.send_keys(name)
    visible(driver, "input[name=password]")[0].send_keys(password)
    labelled(driver, "Sign in")[0].click()


def on_live_page(driver) -> bool:
    frames = tile_frames(driver)
    return bool(frames.get("door"))


def test_a_wrong_password_is_said_then_the_right_one_reaches_live(
    service: Server, browser, tmp_path: Path
):
    accounts(service).add("walt", "viewer", "walt's password")
    browser.get(service.url + "/")
    assert "/login?next=/" in browser.current_url
    submit_password(browser, "walt", "not walt's")
    wait_for(lambda: said(browser, "Wrong name or password"), what="the error on the page")
    assert "error=password" in browser.current_url
    screenshot(browser, tmp_path, "login-wrong-password")
    submit_password(browser, "nobody", "not walt's")  # an unknown name: the same words
    wait_for(lambda: said(browser, "Wrong name or password"), what="the same error")

    submit_password(browser, "walt", "walt's password")
    wait_for(lambda: on_live_page(browser), what="the Live page with a picture")
    cookie = browser.get_cookie(COOKIE)
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expiry"]
    assert not browser.execute_script("return document.cookie.includes(arguments[0])", COOKIE)


def test_the_first_admin_chooses_a_password_then_reaches_live(
    service: Server, browser, tmp_path: Path
):
    first = accounts(service).read_initial()
    assert first
    browser.get(service.url + "/login")
    submit_password(browser, "admin", first)
    wait_for(lambda: "/account/password" in browser.current_url, what="the password page")
    wait_for(lambda: "Choose your own password" in browser.page_source, what="the request")
    browser.get(service.url + "/cameras")  # no way around it
    wait_for(lambda: "/account/password" in browser.current_url, what="back on that page")
    screenshot(browser, tmp_path, "must-change")
    fields = wait_for(lambda: visible(browser, "input[type=password]"), what="the fields")
    assert len(fields) == 2  # new and again: no current password asked
    fields[0].send_keys("admin's own password")
    fields[1].send_keys("admin's own password")
    labelled(browser, "Change password")[0].click()
    wait_for(lambda: "/cameras" in browser.current_url, what="on to where it was going")
    wait_for(lambda: "ADD CAMERA" in browser.page_source.upper(), what="the Cameras page")
    assert accounts(service).read_initial() is None
    browser.get(service.url + "/")
    wait_for(lambda: on_live_page(browser), what="the Live page")
    browser.get(service.url + "/users")  # an admin: the Users page lists everyone
    wait_for(lambda: said(browser, "admin"), what="the Users page")
    screenshot(browser, tmp_path, "users")


def test_sign_out_ends_the_session(service: Server, browser):
    accounts(service).add("xena", "operator", "xena's password")
    browser.get(service.url + "/login?next=/health")
    submit_password(browser, "xena", "xena's password")
    wait_for(lambda: browser.current_url.endswith("/health"), what="the Health page")
    session = browser.get_cookie(COOKIE)["value"]
    replay = {"Cookie": f"{COOKIE}={session}", HEADER: "1"}
    with httpx.Client(base_url=service.url) as http:
        assert http.get("/v1/system", headers=replay).status_code == 200
        account = wait_for(lambda: icon_button(browser, "account_circle"), what="the account")
        account[0].click()
        wait_for(lambda: menu_item(browser, "Sign out"), what="the menu")[0].click()
        wait_for(lambda: "/login" in browser.current_url, what="the login page")
        assert http.get("/v1/system", headers=replay).status_code == 401  # ended on the server
    browser.get(service.url + "/cameras")
    wait_for(lambda: "/login?next=/cameras" in browser.current_url, what="sent to sign in")


def said(driver, text: str) -> bool:
    """Whether a displayed element on the page reads exactly `text`."""
    found = driver.find_elements("xpath", f"//*[normalize-space(text())='{text}']")
    return any(e.is_displayed() for e in found)


def icon_button(driver, icon: str) -> list:
    found = driver.find_elements("xpath", f"//button[.//i[text()='{icon}']]")
    return [b for b in found if b.is_displayed()]


def menu_item(driver, text: str) -> list:
    items = driver.find_elements("xpath", f"//div[contains(@class,'q-item')][.//text()='{text}']")
    return [i for i in items if i.is_displayed()]
