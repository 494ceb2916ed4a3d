"""What every page is built from: the app's services and how to present this device."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.services.container import Services


@dataclass(frozen=True)
class Dashboard:
    services: Services
    device_name: str
    upload_dir: str  # where model uploads are staged before validation (inside the data dir)
