"""The header's status light: one colour and the reasons behind it."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.services.container import Services
from appliance.services.detection import ServiceState


@dataclass(frozen=True)
class Status:
    level: str  # "ok", "warning" or "error"
    reasons: list[str] = field(default_factory=list)

    @property
    def color(self) -> str:
        return {"ok": "positive", "warning": "warning", "error": "negative"}[self.level]

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "All cameras streaming, no warnings"


def device_status(services: Services) -> Status:
    """Red: models failed or a camera failed. Amber: loading, a camera recovering, or a
    health warning (hot, throttled, low-power mode). Green otherwise."""
    errors: list[str] = []
    warnings: list[str] = []
    readiness = services.detection.readiness
    if readiness.state is ServiceState.FAILED:
        errors.append(f"models failed to load: {readiness.error}")
    elif readiness.state is not ServiceState.READY:
        warnings.append("models loading")
    for view in services.cameras.list():
        state = view.capture.state.value
        if not view.config.enabled:
            continue
        if state == "failed" or view.inference_error:
            errors.append(f"{view.config.name}: {view.inference_error or view.capture.last_error}")
        elif state in ("stalled", "reconnecting"):
            warnings.append(f"{view.config.name}: {state}")
    warnings += [warning.message for warning in services.telemetry.warnings()]
    if errors:
        return Status("error", errors + warnings)
    return Status("warning", warnings) if warnings else Status("ok")
