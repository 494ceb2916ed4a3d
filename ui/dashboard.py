"""Mounts the NiceGUI dashboard on the service's FastAPI app and registers its pages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.storage import Storage

from appliance.auth.login_links import LoginLinkError
from appliance.errors import TooManyFailuresError
from appliance.services.container import Services
from ui import session
from ui.context import Dashboard
from ui.pages.activity import activity_page
from ui.pages.camera import camera_page
from ui.pages.cameras import cameras_page
from ui.pages.events import events_page
from ui.pages.health import health_page
from ui.pages.live import live_page
from ui.pages.login import login_page, safe_next
from ui.pages.models import models_page

FAVICON = "🎯"


def setup_dashboard(
    app: FastAPI,
    services: Services,
    *,
    device_name: str,
    storage_secret: str,
    upload_dir: str,
    storage_dir: Path,
) -> None:
    """Register the pages and mount them at `/`. Call once per process (NiceGUI keeps its
    pages and its app in module state) and after every API route, which keeps precedence."""
    Storage.path = storage_dir  # per-user settings (dark mode) in the data dir, not the cwd
    dash = Dashboard(services=services, device_name=device_name, upload_dir=upload_dir)
    register_pages(dash)
    ui.run_with(
        app,
        title=device_name,
        favicon=FAVICON,
        dark=None,  # follow the system until the user picks
        storage_secret=storage_secret,
        show_welcome_message=False,
        reconnect_timeout=5.0,
    )


def register_pages(dash: Dashboard) -> None:
    def gate(path: str) -> RedirectResponse | None:
        """Signed-out visitors go to the login page (and come back afterwards)."""
        if session.signed_in(dash):
            return None
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)

    @ui.page("/login")
    def login(next: str | None = None, code: str | None = None) -> RedirectResponse | None:
        """?code=: a one-time sign-in link; redeemed, it goes on to `next` signed in (and
        the code leaves the address bar). Refused, the page says why."""
        problem = None
        if code is not None:
            try:
                if dash.services.auth.enabled:  # off: nobody needs to sign in
                    session.sign_in_with_link(dash, code)
            except (LoginLinkError, TooManyFailuresError) as exc:
                problem = exc.message
            else:
                return RedirectResponse(safe_next(next), status_code=303)
        login_page(dash, next, problem)
        return None

    @ui.page("/")
    def live() -> RedirectResponse | None:
        if redirect := gate("/"):
            return redirect
        live_page(dash)
        return None

    @ui.page("/cameras")
    def cameras() -> RedirectResponse | None:
        if redirect := gate("/cameras"):
            return redirect
        cameras_page(dash)
        return None

    @ui.page("/cameras/{camera_id}")
    async def camera(camera_id: str) -> RedirectResponse | None:
        if redirect := gate(f"/cameras/{camera_id}"):
            return redirect
        await camera_page(dash, camera_id)
        return None

    @ui.page("/models")
    async def models() -> RedirectResponse | None:
        if redirect := gate("/models"):
            return redirect
        await models_page(dash)
        return None

    @ui.page("/health")
    def health() -> RedirectResponse | None:
        if redirect := gate("/health"):
            return redirect
        health_page(dash)
        return None

    @ui.page("/events")
    async def events() -> RedirectResponse | None:
        if redirect := gate("/events"):
            return redirect
        await events_page(dash)
        return None

    @ui.page("/activity")
    def activity() -> RedirectResponse | None:
        if redirect := gate("/activity"):
            return redirect
        activity_page(dash)
        return None
