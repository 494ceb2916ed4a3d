"""The NiceGUI dashboard, served by the same app as the API (see ui.dashboard)."""
