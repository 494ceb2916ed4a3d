"""What every page is built from: the app's services and how to present this device."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.services.container import Services

MEDIA_URL_TTL_S = 120.0  # a picture URL is fetched within a frame or two; a leaked one dies soon


@dataclass(frozen=True)
class Dashboard:
    services: Services
    device_name: str
    upload_dir: str  # where model uploads are staged before validation (inside the data dir)

    def media_url(self, path: str) -> str:
        """A URL the browser can load in <img> or a download: signed when authentication is
        on (an <img> cannot send the Authorization header)."""
        if not self.services.auth.enabled:
            return path
        return self.services.auth.sign(path, MEDIA_URL_TTL_S)
