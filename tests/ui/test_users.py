"""Dashboard users (authentication on): the first admin must change its password before
anything else; admins manage users on the Users page (add, role, new password, remove),
each change ending that user's sessions; others neither see nor use that page."""

from __future__ import annotations

import pytest
from ui_harness import Dashboard, only, sign_in, until

from appliance.auth.scopes import Scope

pytestmark = pytest.mark.anyio


@pytest.fixture
def auth() -> bool:
    return True


@pytest.fixture
def cameras() -> list[dict]:
    return []  # nothing on the CPU beside the pages


def _initial_password(dashboard: Dashboard) -> str:
    password = dashboard.services.auth.accounts.read_initial()
    assert password is not None
    return password


async def test_the_first_admin_must_choose_a_password_before_going_on(dashboard: Dashboard):
    user, auth = dashboard.user, dashboard.services.auth
    first = _initial_password(dashboard)
    answer = await dashboard.http.post(
        "/auth/session", data={"name": "admin", "password": first, "next": "/cameras"}
    )
    assert answer.headers["location"] == "/cameras"
    for path in ("/cameras", "/users", "/"):  # every page sends it to the password page
        response = await dashboard.http.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/password?next=")
    await user.open("/cameras")
    await user.should_see(marker="must-change", retries=50)
    await user.should_not_see(marker="current-password")  # it just signed in with it
    user.find(marker="new-password").type("the admin's own")
    user.find(marker="repeat-password").type("not the same")
    user.find(marker="change-password").click()
    await user.should_see("differ", marker="password-problem", retries=50)
    only(dashboard, "repeat-password").value = "the admin's own"
    user.find(marker="change-password").click()
    await until(lambda: user.notify.contains("Password changed"))
    assert auth.check_password("admin", "the admin's own") is not None
    assert auth.check_password("admin", first) is None
    assert auth.accounts.read_initial() is None  # admin.password is gone
    assert (await dashboard.http.get("/cameras")).status_code == 200  # still signed in
    await user.open("/cameras")
    await user.should_see(marker="add-camera", retries=50)


async def test_a_short_password_is_refused_with_the_reason(dashboard: Dashboard):
    await sign_in(dashboard, "/", name="admin", password=_initial_password(dashboard))
    user = dashboard.user
    await user.open("/account/password")
    user.find(marker="new-password").type("short")
    user.find(marker="repeat-password").type("short")
    user.find(marker="change-password").click()
    await user.should_see("at least 8 characters", marker="password-problem", retries=50)
    assert dashboard.services.auth.accounts.read_initial() is not None  # unchanged


async def _admin(dashboard: Dashboard) -> None:
    """Signed in as an admin user who owes nothing, on the Users page."""
    dashboard.services.auth.add_user("root", "admin", "root's password")
    await sign_in(dashboard, "/users", name="root", password="root's password")
    await dashboard.user.should_see(marker="add-user", retries=50)


async def test_an_admin_adds_changes_and_removes_a_user(dashboard: Dashboard):
    await _admin(dashboard)
    user, auth = dashboard.user, dashboard.services.auth
    await user.should_see(marker="nav-users", retries=50)
    user.find(marker="add-user").click()
    await user.should_see(marker="user-name", retries=50)
    user.find(marker="user-name").type("Bob")
    only(dashboard, "user-role").value = "operator"
    user.find(marker="user-password").type("bob's first")
    user.find(marker="user-password-again").type("bob's first")
    user.find(marker="user-save").click()
    await until(lambda: user.notify.contains("Added bob"))
    await user.should_see(marker="user-row-bob", retries=50)
    await user.should_see(marker="must-change-bob", retries=50)
    assert auth.check_password("bob", "bob's first").scope is Scope.OPERATOR

    bob = auth.open_session(auth.check_password("bob", "bob's first"))
    only(dashboard, "user-role-bob").value = "viewer"
    await until(lambda: user.notify.contains("bob is now viewer"))
    assert {u.name: u.role for u in auth.list_users()}["bob"] is Scope.VIEWER
    assert auth.session(bob.id) is None  # a new role: signed out

    bob = auth.open_session(auth.check_password("bob", "bob's first"))
    user.find(marker="user-password-bob").click()
    await user.should_see(marker="user-password", retries=50)
    user.find(marker="user-password").type("set by root")
    user.find(marker="user-password-again").type("set by root")
    user.find(marker="user-save").click()
    await until(lambda: user.notify.contains("New password set for bob"))
    assert auth.check_password("bob", "set by root") is not None
    assert auth.session(bob.id) is None  # a new password: signed out

    bob = auth.open_session(auth.check_password("bob", "set by root"))
    user.find(marker="user-remove-bob").click()
    await user.should_see(marker="confirm-remove", retries=50)
    user.find(marker="confirm-remove").click()
    await until(lambda: user.notify.contains("Removed bob"))
    assert "bob" not in {u.name for u in auth.list_users()}
    assert auth.session(bob.id) is None
    assert (await dashboard.http.get("/users")).status_code == 200  # root goes on


async def test_the_last_admin_stays_an_admin(dashboard: Dashboard):
    await _admin(dashboard)
    auth = dashboard.services.auth
    auth.remove_user("admin")  # root is the only admin left
    only(dashboard, "user-role-root").value = "viewer"
    await until(lambda: dashboard.user.notify.contains("last admin"))
    assert {u.name: u.role for u in auth.list_users()}["root"] is Scope.ADMIN


async def test_non_admins_do_not_see_or_use_the_users_page(dashboard: Dashboard):
    dashboard.services.auth.add_user("olive", "operator", "olive's password")
    await sign_in(dashboard, "/users", name="olive", password="olive's password")
    user = dashboard.user
    await user.should_see(marker="admins-only", retries=50)
    await user.should_not_see(marker="add-user")
    await user.should_not_see(marker="nav-users")
    await user.should_see(marker="nav-cameras", retries=50)


async def test_a_removed_user_is_sent_to_the_login_page(dashboard: Dashboard):
    auth = dashboard.services.auth
    auth.add_user("pat", "viewer", "pat's password")
    await sign_in(dashboard, "/health", name="pat", password="pat's password")
    auth.remove_user("pat")  # e.g. `appliance user remove pat`
    assert (await dashboard.http.get("/health")).status_code == 303
