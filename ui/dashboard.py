"""Mounts the NiceGUI dashboard on the service's FastAPI app and registers its pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from nicegui import ui
from nicegui.storage import Storage

from appliance.services.container import Services
from ui.context import Dashboard
from ui.pages.camera import camera_page
from ui.pages.cameras import cameras_page
from ui.pages.events import events_page
from ui.pages.health import health_page
from ui.pages.live import live_page
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
    @ui.page("/")
    def live() -> None:
        live_page(dash)

    @ui.page("/cameras")
    def cameras() -> None:
        cameras_page(dash)

    @ui.page("/cameras/{camera_id}")
    def camera(camera_id: str) -> None:
        camera_page(dash, camera_id)

    @ui.page("/models")
    def models() -> None:
        models_page(dash)

    @ui.page("/health")
    def health() -> None:
        health_page(dash)

    @ui.page("/events")
    def events() -> None:
        events_page(dash)
