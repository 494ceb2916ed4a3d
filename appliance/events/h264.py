"""H.264 for clips: BGR frames in, encoded packets out, one libx264 encoder per resolution.

Tuned for a recorder that encodes every frame of a camera all the time: `ultrafast` (the
cheapest preset; its files are larger, which short event clips can afford), `zerolatency`
(no B-frames and no look-ahead, so each frame comes out as one packet straight away, in
capture order, and dts == pts), a keyframe forced every `keyframe_s` of capture time (so a
clip can start within that of any instant, whatever the frame rate) and closed GOPs with
IDR keyframes (so a clip starting at one decodes on its own). SPS/PPS go into the codec's
extradata (global header), which MP4 needs for its `avcC` box.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import cv2
import numpy as np
from av.codec.context import Flags
from av.video.frame import PictureType

TIME_BASE = Fraction(1, 90_000)
_TICKS = 90_000
# BGR -> YUV by OpenCV (BT.601, limited range: faster than swscale here); say so in the
# stream, so players do not assume BT.709 for HD and shift the colours.
_COLOUR = "colorprim=bt709:transfer=bt709:colormatrix=smpte170m:range=tv"


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded frame. `pts`/`dts`/`duration` count 1/90000 s from the encoder's first
    frame; `captured_at` is the frame's wall-clock time (epoch s), to match event times."""

    data: bytes
    pts: int
    dts: int
    duration: int
    captured_at: float
    keyframe: bool


@dataclass(frozen=True)
class EncoderSettings:
    crf: int = 23
    preset: str = "ultrafast"
    keyframe_s: float = 1.0
    threads: int = 1  # one per camera: the cheapest in CPU, and cameras are many
    level_fps: int = 30  # frame rate the H.264 level is chosen for (timestamps vary anyway)


class H264Encoder:
    """libx264 at one even `width` x `height`. Packets come out one frame late: a packet's
    duration is only known when the next frame arrives (`flush` gives the last one)."""

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        self.width, self.height, self.settings = width, height, settings
        self._codec = _open_codec(width, height, settings)
        self._captured: dict[int, float] = {}  # pts -> captured_at, while inside libx264
        self._held: EncodedPacket | None = None
        self._first_mono: float | None = None
        self._last_pts = -1
        self._last_key_mono = float("-inf")
        self._interval = 0.0
        self._template: av.container.InputContainer | None = None
        self._first_key: bytes | None = None

    def encode(
        self, pixels: np.ndarray, captured_mono: float, captured_at: float, keyframe: bool = False
    ) -> list[EncodedPacket]:
        """Encode one BGR frame of this encoder's size; `keyframe` forces an IDR frame."""
        pts = self._pts(captured_mono)
        frame = av.VideoFrame.from_ndarray(
            cv2.cvtColor(pixels, cv2.COLOR_BGR2YUV_I420), format="yuv420p"
        )
        frame.pts = pts
        if keyframe or captured_mono - self._last_key_mono + self._interval / 2 >= (
            self.settings.keyframe_s
        ):
            frame.pict_type = PictureType.I
            self._last_key_mono = captured_mono
        self._captured[pts] = captured_at
        return self._collect(self._codec.encode(frame))

    def flush(self) -> list[EncodedPacket]:
        """Drain libx264 and hand out the held packet (its duration: the last interval)."""
        out = self._collect(self._codec.encode(None))
        if self._held is not None:
            out.append(replace(self._held, duration=max(1, round(self._interval * _TICKS))))
            self._held = None
        return out

    def template(self) -> av.video.stream.VideoStream:
        """A stream carrying this encoder's parameters (SPS/PPS), for `add_stream_from_template`
        of each clip's MP4: demuxed once from the extradata and the first keyframe."""
        if self._template is None:
            if self._first_key is None:
                raise RuntimeError("no keyframe encoded yet")
            data = bytes(self._codec.extradata or b"") + self._first_key
            self._template = av.open(io.BytesIO(data), format="h264")
        return self._template.streams.video[0]

    def close(self) -> None:
        if self._template is not None:
            self._template.close()
            self._template = None

    def _pts(self, captured_mono: float) -> int:
        if self._first_mono is None:
            self._first_mono = captured_mono
        pts = max(round((captured_mono - self._first_mono) * _TICKS), self._last_pts + 1)
        if self._last_pts >= 0:
            self._interval = (pts - self._last_pts) / _TICKS
        self._last_pts = pts
        return pts

    def _collect(self, packets: list[av.Packet]) -> list[EncodedPacket]:
        out = []
        for packet in packets:
            data = bytes(packet)
            if packet.is_keyframe and self._first_key is None:
                self._first_key = data
            pts = int(packet.pts)
            current = EncodedPacket(
                data,
                pts,
                int(packet.dts if packet.dts is not None else pts),
                0,
                self._captured.pop(pts, 0.0),
                bool(packet.is_keyframe),
            )
            if self._held is not None:
                out.append(replace(self._held, duration=max(1, current.pts - self._held.pts)))
            self._held = current
        return out


def _open_codec(width: int, height: int, settings: EncoderSettings) -> av.CodecContext:
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = TIME_BASE
    codec.framerate = Fraction(settings.level_fps)
    codec.gop_size = 10 * settings.level_fps  # a backstop: keyframes are forced by time
    codec.flags |= Flags.global_header
    codec.thread_count = settings.threads
    codec.options = {
        "preset": settings.preset,
        "tune": "zerolatency",
        "crf": str(settings.crf),
        "forced-idr": "1",
        "x264-params": _COLOUR,
    }
    codec.open()
    return codec
