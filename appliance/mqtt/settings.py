"""`APPLIANCE_MQTT_URL` parsed into a broker address; the password never shows in a repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from appliance.errors import InvalidInputError

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_RESERVED_HINT = "percent-encode reserved characters (@ : / ? #) in the user name and password"


class MqttUrlError(InvalidInputError, ValueError):
    """A broker URL we cannot use. A ValueError too, so pydantic validators report it. The
    message never repeats the URL: it may hold a password."""

    code = "invalid_mqtt_url"


@dataclass(frozen=True)
class MqttTarget:
    """Where the broker is and how to sign in to it."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr or a log

    @property
    def broker(self) -> str:
        """host:port, for status and logs: no credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.broker}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """`mqtt://user:pass@host:1883` or `mqtts://…` (TLS, port 8883 by default)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise MqttUrlError(
            f"MQTT URL: the port must be a number 1-65535; {_RESERVED_HINT}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        shown = scheme or "none"
        raise MqttUrlError(f"MQTT URL: scheme {shown!r} is not supported; use mqtt:// or mqtts://")
    if not parts.hostname:
        raise MqttUrlError(f"MQTT URL: no broker host; {_RESERVED_HINT}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MqttUrlError(f"MQTT URL: only scheme, credentials, host and port; {_RESERVED_HINT}")
    if port == 0:
        raise MqttUrlError("MQTT URL: the port must be a number 1-65535")
    return MqttTarget(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        tls=scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def check_topic_prefix(prefix: str) -> str:
    """A prefix is one or more topic levels: not empty, no wildcards, no leading or trailing /."""
    if not prefix or prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"MQTT prefix {prefix!r}: needs text and no leading or trailing '/'")
    if any(c in prefix for c in "+#\0") or "//" in prefix:
        raise ValueError(f"MQTT prefix {prefix!r}: no '+', '#', NUL or empty levels")
    return prefix
