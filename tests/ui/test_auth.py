"""The dashboard with authentication on: a login page, sessions that end when their token is
revoked, signed picture URLs, and controls that follow the token's scope (tokens signed in
through the login page's token form; users with passwords: test_users.py)."""

from __future__ import annotations

import pytest
from loguru import logger
from nicegui import ui
from ui_harness import Dashboard, sign_in, until

from ui.components.live_view import LiveView
from ui.pages.login import safe_next

pytestmark = pytest.mark.anyio


@pytest.fixture
def auth() -> bool:
    return True


def _admin_token(dashboard: Dashboard) -> str:
    path = dashboard.services.auth.initial_token_path
    assert path is not None
    return path.read_text().strip()


async def _sign_in(dashboard: Dashboard, token: str, then: str = "/") -> None:
    await sign_in(dashboard, then, token=token)


async def test_signed_out_visitors_get_the_login_page(dashboard: Dashboard):
    response = await dashboard.http.get("/cameras")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/cameras"
    await dashboard.user.open("/models")
    await dashboard.user.should_see(marker="password")
    await dashboard.user.should_not_see(marker="token")  # behind "Use an API token instead"
    await dashboard.user.should_not_see(marker="tile-demo")
    dashboard.user.find(marker="use-token").click()
    await dashboard.user.should_see(marker="token")
    await dashboard.user.should_not_see(marker="password")


async def test_a_wrong_token_is_refused(dashboard: Dashboard):
    refused = await dashboard.http.post("/auth/session", data={"token": "apl_nope_nope"})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/login?error=token&next=%2F"
    assert "set-cookie" not in refused.headers
    await dashboard.user.open(refused.headers["location"])
    await dashboard.user.should_see("not valid", marker="sign-in-error")
    await dashboard.user.should_see(marker="token")  # the token form stays open
    assert (await dashboard.http.get("/")).status_code == 303


async def test_admin_sees_live_pictures_through_signed_urls(dashboard: Dashboard):
    await _sign_in(dashboard, _admin_token(dashboard))
    await dashboard.user.should_see(marker="tile-demo", retries=50)
    (live,) = dashboard.user.find(LiveView).elements
    await until(lambda: "sig=" in (live.source or ""))
    signed = await dashboard.http.get(live.source)  # no header: the signature is the key
    assert signed.status_code == 200
    assert signed.headers["content-type"] == "image/jpeg"
    bare = live.source.split("&exp=")[0]
    assert (await dashboard.http.get(bare)).status_code == 401


async def test_a_viewer_watches_but_cannot_change(dashboard: Dashboard):
    issued = dashboard.services.auth.create("wall screen", "viewer")
    await _sign_in(dashboard, issued.token, then="/cameras")
    user = dashboard.user
    await user.should_see(marker="camera-row-demo", retries=50)
    (add,) = user.find(marker="add-camera").elements
    assert add.enabled is False
    add.enable()  # as if the browser sent the click anyway
    user.find(marker="add-camera").click()
    await until(lambda: user.notify.contains("needs the operator scope"))
    await user.should_not_see(marker="camera-name")
    await user.open("/models")
    await user.should_see(marker="activate-yolov3-tiny")  # listed off the event loop
    (upload,) = user.find(ui.upload).elements
    assert upload.enabled is False
    (activate,) = user.find(marker="activate-yolov3-tiny").elements
    assert activate.enabled is False


async def test_revoking_a_token_ends_its_sessions(dashboard: Dashboard):
    issued = dashboard.services.auth.create("temp", "operator")
    await _sign_in(dashboard, issued.token)
    await dashboard.user.should_see(marker="tile-demo", retries=50)
    dashboard.services.auth.revoke(issued.info.id)
    assert (await dashboard.http.get("/")).status_code == 303


async def test_sign_out(dashboard: Dashboard):
    await _sign_in(dashboard, _admin_token(dashboard))
    await dashboard.user.should_see(marker="tile-demo", retries=50)
    dashboard.user.find(marker="sign-out").click()
    assert (await dashboard.http.get("/")).status_code == 303


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/cameras", "/cameras"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("javascript:alert(1)", "/"),
        (None, "/"),
    ],
)
def test_after_login_only_local_paths(target, expected):
    assert safe_next(target) == expected


def _bearer(dashboard: Dashboard) -> dict[str, str]:
    return {"Authorization": f"Bearer {_admin_token(dashboard)}"}


async def _link(dashboard: Dashboard, token: str) -> str:
    made = await dashboard.http.post(
        "/v1/auth/login-links", headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 201, made.text
    return made.json()["path"]


async def test_a_sign_in_link_signs_in_like_its_token(dashboard: Dashboard):
    """What `appliance open` opens: signed in as the token that asked, with its scope."""
    issued = dashboard.services.auth.create("wall screen", "viewer")
    link = await _link(dashboard, issued.token)
    assert issued.token not in link
    user = dashboard.user
    await user.open(link + "&next=/cameras")
    await user.should_see(marker="camera-row-demo", retries=50)
    (add,) = user.find(marker="add-camera").elements
    assert add.enabled is False  # a viewer, as with the pasted token
    assert (await dashboard.http.get("/")).status_code == 200


async def test_a_used_sign_in_link_is_refused(dashboard: Dashboard):
    link = await _link(dashboard, _admin_token(dashboard))
    await dashboard.user.open(link)
    await dashboard.user.should_see(marker="tile-demo", retries=50)
    dashboard.user.find(marker="sign-out").click()
    await dashboard.user.open(link)
    await dashboard.user.should_see("used already", marker="link-refused")
    await dashboard.user.should_see(marker="password")  # one can still sign in
    assert (await dashboard.http.get("/")).status_code == 303


async def _refused(dashboard: Dashboard, **form: str) -> str:
    """Post the login form as the browser does; where the refusal sends it."""
    answer = await dashboard.http.post("/auth/session", data=form)
    assert answer.status_code == 303 and "set-cookie" not in answer.headers
    return answer.headers["location"]


async def test_admins_see_recent_failed_sign_ins_on_the_health_page(dashboard: Dashboard):
    guess = "apl_0badc0de_" + "x" * 43  # a guess at token 0badc0de
    assert "error=token" in await _refused(dashboard, token=guess)
    assert "error=password" in await _refused(dashboard, name="admin", password="letmein!")
    link = await _link(dashboard, _admin_token(dashboard))
    await dashboard.user.open(link)
    await dashboard.user.should_see(marker="tile-demo", retries=50)
    dashboard.user.find(marker="sign-out").click()
    await dashboard.user.open(link)  # used already: a failed sign-in too
    await _sign_in(dashboard, _admin_token(dashboard), then="/health")
    await dashboard.user.should_see(marker="failed-sign-ins")
    for text in ("wrong token", "token 0badc0de", "bad sign-in link", "wrong password", "admin"):
        await dashboard.user.should_see(text, marker="failed-sign-in")
    await dashboard.user.should_see("127.0.0.1", marker="failed-sign-in")
    dashboard.user.find(marker="sign-out").click()
    viewer = dashboard.services.auth.create("wall screen", "viewer")
    await _sign_in(dashboard, viewer.token, then="/health")
    await dashboard.user.should_see(marker="warnings")
    await dashboard.user.should_not_see(marker="failed-sign-ins")  # admins only


async def test_tokens_on_the_login_form_are_throttled_like_the_api(dashboard: Dashboard):
    link = await _link(dashboard, _admin_token(dashboard))  # a good link, asked for first
    for _ in range(10):
        assert "error=token" in await _refused(dashboard, token="apl_nope_nope")
    asked = await dashboard.http.post("/v1/auth/login-links", headers=_bearer(dashboard))
    assert asked.status_code == 429  # the API too: the same address (the test client's)
    refused = await _refused(dashboard, token=_admin_token(dashboard))  # the right one
    assert "error=throttled" in refused
    await dashboard.user.open(refused)
    await dashboard.user.should_see("Too many failed sign-ins", marker="sign-in-error")
    assert (await dashboard.http.get("/")).status_code == 303
    await dashboard.user.open(link)
    await dashboard.user.should_see("Too many failed sign-ins", marker="link-refused")
    assert (await dashboard.http.get("/")).status_code == 303


async def test_dashboard_actions_are_audited_with_who_and_from_where(dashboard: Dashboard):
    records: list[dict] = []
    sink = logger.add(
        lambda message: records.append(message.record["extra"]),
        filter=lambda record: record["extra"].get("audit") is True,
        level="INFO",
    )
    try:
        await _sign_in(dashboard, _admin_token(dashboard), then="/cameras")
        await dashboard.user.should_see(marker="camera-row-demo", retries=50)
        dashboard.user.find(marker="delete-demo").click()
        dashboard.user.find(marker="confirm-remove").click()
        await until(lambda: any(r["event"] == "camera.remove" for r in records))
    finally:
        logger.remove(sink)
    (removed,) = [r for r in records if r["event"] == "camera.remove"]
    admin_id = _admin_token(dashboard).split("_")[1]
    assert removed["outcome"] == "ok" and removed["target"] == "demo"
    assert removed["client"] == "127.0.0.1" and removed["token_id"] == admin_id
