"""Source URIs: what parses, what is refused and why, and credentials kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.errors import InvalidSourceError
from appliance.sources import check_allowed, parse_uri, redact


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "my clip.mp4"
    path.write_bytes(b"not decoded while parsing")
    return path


@pytest.mark.parametrize(
    ("uri", "scheme", "target", "index"),
    [
        ("usb://0", "usb", "0", 0),
        ("USB://12", "usb", "12", 12),
        ("v4l2:///dev/video2", "v4l2", "/dev/video2", None),
        ("v4l2:///dev/v4l/by-id/usb-Logitech_C920-video-index0", "v4l2", None, None),
        ("csi://1", "csi", "1", 1),
        ("rtsp://cam.local:554/stream1", "rtsp", "rtsp://cam.local:554/stream1", None),
        ("rtsp://admin:s3cret@10.0.0.7/live", "rtsp", "rtsp://admin:s3cret@10.0.0.7/live", None),
        ("rtsps://cam.local/secure", "rtsps", "rtsps://cam.local/secure", None),
        ("gst://videotestsrc ! appsink", "gst", "videotestsrc ! appsink", None),
        ("demo://", "demo", "", None),
    ],
)
def test_accepted(uri: str, scheme: str, target: str | None, index: int | None) -> None:
    parsed = parse_uri(uri)
    assert parsed.scheme == scheme
    assert parsed.index == index
    if target is not None:
        assert parsed.target == target


def test_demo_query() -> None:
    parsed = parse_uri("demo://?fps=7.5&width=640&height=360")
    assert (parsed.fps, parsed.width, parsed.height) == (7.5, 640, 360)
    assert parse_uri("demo://").fps is None


def test_file_uri_names_an_existing_file(clip: Path) -> None:
    parsed = parse_uri("file://" + str(clip).replace(" ", "%20"))
    assert parsed.scheme == "file"
    assert parsed.path == clip
    assert parsed.target == str(clip)
    assert parse_uri(f"file://localhost{clip}").path == clip


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("", "unknown or missing scheme"),
        ("/dev/video0", "unknown or missing scheme"),
        ("http://cam.local/mjpeg", "unknown or missing scheme"),
        ("usb://", "device number"),
        ("usb://-1", "device number"),
        ("usb://one", "device number"),
        ("usb://0/extra", "device number"),
        ("csi://x", "device number"),
        ("v4l2://dev/video0", "device path"),
        ("v4l2:///etc/passwd", "device path"),
        ("rtsp://", "needs a host"),
        ("rtsp://cam.local:99999/x", "out of range"),
        ("rtsp://cam .local/x", "needs a host and no spaces"),
        ("file://relative/clip.mp4", "absolute local path"),
        ("file:///no/such/clip.mp4", "no such video file"),
        ("gst://   ", "pipeline"),
        ("demo://somewhere", "only query options"),
        ("demo://?fps=0", "fps must be between"),
        ("demo://?width=wide", "width must be a number"),
        ("demo://?colour=red", "unknown demo option"),
    ],
)
def test_refused(uri: str, why: str) -> None:
    with pytest.raises(InvalidSourceError, match=why) as caught:
        parse_uri(uri)
    if "no such" not in why:
        assert "usb://N" in caught.value.message
        assert "demo://" in caught.value.message


def test_refusals_do_not_repeat_the_password() -> None:
    with pytest.raises(InvalidSourceError) as caught:
        parse_uri("rtsp://admin:hunter2@cam.local:99999/x")
    assert "hunter2" not in caught.value.message
    assert "admin:***@" in caught.value.message


def test_allowed_roots(clip: Path, tmp_path: Path) -> None:
    uri = f"file://{clip}"
    assert parse_uri(uri, allowed_roots=[tmp_path]).path == clip
    with pytest.raises(InvalidSourceError, match="outside the folders"):
        parse_uri(uri, allowed_roots=[tmp_path / "videos"])
    with pytest.raises(InvalidSourceError, match="outside the folders"):
        parse_uri(uri, allowed_roots=[])


def test_allowed_roots_resolve_dot_dot_and_links(clip: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "link.mp4").symlink_to(clip)
    with pytest.raises(InvalidSourceError):
        check_allowed(videos / ".." / clip.name, [videos])
    with pytest.raises(InvalidSourceError):
        check_allowed(videos / "link.mp4", [videos])
    check_allowed(videos / "link.mp4", [tmp_path])


def test_repr_is_redacted() -> None:
    parsed = parse_uri("rtsp://admin:hunter2@cam.local/live")
    assert "hunter2" not in repr(parsed)
    assert parsed.redacted == "rtsp://admin:***@cam.local/live"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("rtsp://user:secret@host/path", "rtsp://user:***@host/path"),
        ("rtsps://user:secret@host:322/a?b=1", "rtsps://user:***@host:322/a?b=1"),
        ("rtsp://user:p@ss/w:rd@host/live", "rtsp://user:***@host/live"),
        ("rtsp://user@host/path", "rtsp://user@host/path"),
        ("rtsp://host:554/path", "rtsp://host:554/path"),
        ("rtsp://host/path?user=a&password=b&x=1", "rtsp://host/path?user=a&password=***&x=1"),
        ("rtsp://host/p?PWD=b", "rtsp://host/p?PWD=***"),
        ("rtsp://host/p?passwd=b#frag", "rtsp://host/p?passwd=***#frag"),
        ("rtsp://host/p?token=abc.def&key=k1", "rtsp://host/p?token=***&key=***"),
        ("rtsp://host/p?monkey=1&keys=2", "rtsp://host/p?monkey=1&keys=2"),
        (
            "gst://rtspsrc location=rtsp://u:pw@cam/x user-pw=pw2 ! decodebin ! appsink",
            "gst://rtspsrc location=rtsp://u:***@cam/x user-pw=*** ! decodebin ! appsink",
        ),
        ('gst://rtspsrc user-pw="two words" ! fakesink', "gst://rtspsrc user-pw=*** ! fakesink"),
        ("usb://0", "usb://0"),
        ("demo://?fps=15", "demo://?fps=15"),
    ],
)
def test_redact(uri: str, shown: str) -> None:
    assert redact(uri) == shown
