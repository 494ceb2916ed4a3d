"""What every page is built from: the app's services and how to present this device."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.services.container import Services

MEDIA_URL_TTL_S = 120.0  # a picture URL is fetched within a frame or two; a leaked one dies soon
# a <video> keeps making Range requests while it plays and seeks: its URL must outlive a viewing
CLIP_URL_TTL_S = 15 * 60.0


@dataclass(frozen=True)
class Dashboard:
    services: Services
    device_name: str
    upload_dir: str  # where model uploads are staged before validation (inside the data dir)

    def media_url(self, path: str, ttl_s: float = MEDIA_URL_TTL_S) -> str:
        """A URL the browser can load in <img>, <video> or a download: signed for `ttl_s`
        seconds when authentication is on (those cannot send the Authorization header)."""
        if not self.services.auth.enabled:
            return path
        return self.services.auth.sign(path, ttl_s)
