"""The MQTT connection as /v1/system and the dashboard show it: no credentials, ever."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MqttState = Literal["disabled", "connecting", "connected", "disconnected", "error"]


@dataclass(frozen=True)
class MqttStatus:
    state: MqttState
    broker: str | None  # host:port
    last_error: str | None  # "not authorized", "cannot connect to host:port", …
    since: float  # epoch seconds of the last state change
    published: int  # messages the broker acknowledged
    dropped: int  # events refused while the queue was full, or after close

    @classmethod
    def disabled(cls) -> MqttStatus:
        return cls("disabled", None, None, 0.0, 0, 0)
