"""What a telemetry source is: something that opens, reads partial samples and closes."""

from __future__ import annotations

from typing import Protocol

from appliance.errors import ApplianceError
from appliance.telemetry.model import Reading


class SourceUnavailableError(ApplianceError):
    """The source cannot work on this machine now (no driver, no jtop.service); retried later."""

    code = "telemetry_source_unavailable"


class TelemetrySource(Protocol):
    """One backend. `open` and `sample` may raise anything: the sampler catches, closes the
    source and opens it again `retry_after_s` later, so a broken backend never stops the rest."""

    name: str
    retry_after_s: float

    def open(self) -> None: ...

    def sample(self) -> Reading: ...

    def close(self) -> None: ...
