"""One event clip being written: encoded packets muxed into an MP4 as they come, no re-encode."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import av
from av.video.stream import VideoStream

from appliance.durable import fsync_dir
from appliance.events.h264 import TIME_BASE, EncodedPacket

PARTIAL_SUFFIX = ".part"


def partial_path(path: Path) -> Path:
    """Where a clip is written until it is complete: hidden, beside its final name."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


class ClipFile:
    """An MP4 under a hidden partial name until `finish` renames it to `path`. Timestamps
    start at 0 at the first packet, which must be a keyframe. `+faststart` puts the index
    (moov) before the media (mdat), so a browser can play and seek before the download ends;
    ffmpeg does that by rewriting the file once at the end, in `finish`."""

    def __init__(self, path: Path, template: VideoStream, first: EncodedPacket) -> None:
        if not first.keyframe:
            raise ValueError("a clip must start on a keyframe")
        self.path, self.partial = path, partial_path(path)
        self.first_at = self.last_at = first.captured_at
        self.packets = 0
        self._origin = first.dts
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(
            str(self.partial), "w", format="mp4", container_options={"movflags": "+faststart"}
        )
        try:
            self._stream = self._container.add_stream_from_template(template)
            self._stream.time_base = TIME_BASE
            self.write(first)
        except BaseException:
            self.abort()
            raise

    def write(self, packet: EncodedPacket) -> None:
        out = av.Packet(packet.data)
        out.pts, out.dts = packet.pts - self._origin, packet.dts - self._origin
        out.duration = packet.duration
        out.time_base = TIME_BASE
        out.is_keyframe = packet.keyframe
        out.stream = self._stream
        self._container.mux(out)
        self.packets += 1
        self.last_at = packet.captured_at

    def finish(self) -> Path:
        """Write the index, make the file durable, rename it into place; the path."""
        try:
            self._container.close()
            fd = os.open(self.partial, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.partial, self.path)
        except BaseException:
            self.abort()
            raise
        fsync_dir(self.path.parent)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (closing may fail too: a full disk)."""
        with contextlib.suppress(Exception):
            self._container.close()
        self.partial.unlink(missing_ok=True)
