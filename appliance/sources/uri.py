"""Source URIs: which schemes exist, what each one names, and which files may be opened."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from appliance.errors import InvalidSourceError
from appliance.sources.redact import redact

Scheme = Literal["usb", "v4l2", "rtsp", "rtsps", "file", "csi", "gst", "demo"]
ACCEPTED = (
    "usb://N",
    "v4l2:///dev/videoN",
    "rtsp://[user:password@]host[:port]/path",
    "rtsps://…",
    "file:///absolute/path",
    "csi://N",
    "gst://PIPELINE",
    "demo://[?fps=15&width=1280&height=720]",
)
_INDEX = re.compile(r"[0-9]{1,3}")
_V4L2_DEVICE = re.compile(r"/dev/video\d+|/dev/v4l/by-(?:id|path)/[^/]+")
_DEMO_LIMITS = {"width": (64, 3840), "height": (64, 2160), "fps": (0.1, 120.0)}


@dataclass(frozen=True)
class SourceURI:
    """A parsed, validated source URI. `raw` keeps credentials: show `redacted`, never `raw`."""

    scheme: Scheme
    target: str  # what the backend opens: a URL, a device path, a file path or a pipeline
    raw: str = field(repr=False)
    index: int | None = None  # usb:// and csi:// device numbers
    path: Path | None = None  # file:// and v4l2:// paths
    width: int | None = None  # demo:// query
    height: int | None = None
    fps: float | None = None

    @property
    def redacted(self) -> str:
        return redact(self.raw)

    def __repr__(self) -> str:
        return f"SourceURI({self.redacted!r})"


def parse_uri(uri: str, allowed_roots: Sequence[Path] | None = None) -> SourceURI:
    """Validate `uri`; a file:// path must exist and, given `allowed_roots`, lie inside one."""
    scheme, sep, rest = uri.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _PARSERS:
        raise _invalid(uri, "unknown or missing scheme")
    parsed = _PARSERS[scheme](uri.strip(), cast(Scheme, scheme), rest)
    if parsed.path is not None and scheme == "file":
        check_allowed(parsed.path, allowed_roots)
    return parsed


def check_allowed(path: Path, allowed_roots: Sequence[Path] | None) -> None:
    """Refuse a file outside every allowed root, links and `..` resolved; None allows any."""
    if allowed_roots is None:
        return
    real = path.resolve()
    if not any(real.is_relative_to(root.resolve()) for root in allowed_roots):
        raise InvalidSourceError(
            f"{path} is outside the folders video files may be read from "
            f"({', '.join(str(root) for root in allowed_roots) or 'none'})"
        )


def _device_index(uri: str, scheme: Scheme, rest: str) -> SourceURI:
    if not _INDEX.fullmatch(rest):
        raise _invalid(uri, f"{scheme}:// takes a device number, e.g. {scheme}://0")
    return SourceURI(scheme, rest, uri, index=int(rest))


def _v4l2(uri: str, scheme: Scheme, rest: str) -> SourceURI:
    if not _V4L2_DEVICE.fullmatch(rest):
        raise _invalid(uri, "v4l2:// takes a device path, e.g. v4l2:///dev/video0")
    return SourceURI("v4l2", rest, uri, path=Path(rest))


def _rtsp(uri: str, scheme: Scheme, rest: str) -> SourceURI:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise _invalid(uri, str(exc)) from None
    if not parts.hostname or any(ch.isspace() for ch in uri):
        raise _invalid(uri, f"{scheme}:// needs a host and no spaces")
    return SourceURI(scheme, uri, uri)


def _file(uri: str, scheme: Scheme, rest: str) -> SourceURI:
    host, slash, tail = rest.partition("/")
    if host not in ("", "localhost") or not slash:
        raise _invalid(uri, "file:// takes an absolute local path, e.g. file:///videos/clip.mp4")
    path = Path(unquote("/" + tail.split("?", 1)[0].split("#", 1)[0]))
    if not path.is_file():
        raise InvalidSourceError(f"{redact(uri)}: no such video file")
    return SourceURI("file", str(path), uri, path=path)


def _gst(uri: str, scheme: Scheme, rest: str) -> SourceURI:
    if not rest.strip():
        raise _invalid(uri, "gst:// takes a GStreamer pipeline, e.g. gst://videotestsrc ! appsink")
    return SourceURI("gst", rest.strip(), uri)


def _demo(uri: str, scheme: Scheme, rest: str) -> SourceURI:
    path, _, query = rest.partition("?")
    if path.strip("/"):
        raise _invalid(uri, "demo:// takes only query options: fps, width, height")
    values: dict[str, float] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in _DEMO_LIMITS:
            raise _invalid(uri, f"unknown demo option {name!r}; use fps, width, height")
        values[name] = _number(uri, name, value)
    width, height = values.get("width"), values.get("height")
    return SourceURI(
        "demo",
        "",
        uri,
        width=None if width is None else int(width),
        height=None if height is None else int(height),
        fps=values.get("fps"),
    )


def _number(uri: str, name: str, text: str) -> float:
    low, high = _DEMO_LIMITS[name]
    try:
        value = float(text) if name == "fps" else int(text)
    except ValueError:
        raise _invalid(uri, f"{name} must be a number") from None
    if not low <= value <= high:
        raise _invalid(uri, f"{name} must be between {low} and {high}")
    return value


def _invalid(uri: str, reason: str) -> InvalidSourceError:
    return InvalidSourceError(
        f"invalid source {redact(uri)!r}: {reason}; accepted: {', '.join(ACCEPTED)}"
    )


_PARSERS: dict[str, Callable[[str, Scheme, str], SourceURI]] = {
    "usb": _device_index,
    "v4l2": _v4l2,
    "rtsp": _rtsp,
    "rtsps": _rtsp,
    "file": _file,
    "csi": _device_index,
    "gst": _gst,
    "demo": _demo,
}
