"""Event clips for one camera: encode every frame once, keep a few seconds, mux per event.

Like an NVR, the recorder encodes the camera's frames to H.264 continuously on its own
thread and keeps the last `pre_s` (+ slack) seconds of *encoded* packets in a ring (well
under a megabyte a second at 720p15, where raw frames would take 40 MB). An event's clip is
the ring's packets from the keyframe at or before `start - pre_s`, then every packet as it
comes until `end + post_s`, muxed into its own MP4 without re-encoding, so fifty events at
once cost fifty muxers (memcpy and write), not fifty encoders.

Threads: `offer`, `begin`, `finish`, `discard`, `stats` and `close` may be called from any
thread (`offer` from the camera's pipeline thread: it only queues, never waits). Encoding,
the optional `render` and muxing run on the recorder thread; finishing a file (its index,
fsync, rename) and `on_clip` run on a writer thread, so a slow disk delays clips, not frames.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from loguru import logger

from appliance.domain import ProcessedFrame
from appliance.events.clip_file import ClipFile
from appliance.events.h264 import EncodedPacket, EncoderSettings, H264Encoder
from appliance.events.inbox import Inbox
from appliance.events.ring import PacketRing

OnClip = Callable[[str, Path | None], None]
Render = Callable[[ProcessedFrame], np.ndarray]

_TICK_S = 0.25  # how often an idle recorder checks for clips whose camera went quiet
_QUIET_S = 1.0  # frames missing this long past a clip's post-roll: finish it without them
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a file name, never a path
STILL_FPS = 2.0  # frames a second clips keep of a still scene


@dataclass(frozen=True, slots=True)
class RecorderStats:
    frames_encoded: int
    frames_dropped: int  # refused by `offer` because the recorder was behind
    frames_queued: int
    ring_bytes: int
    ring_s: float
    clips_open: int
    clips_written: int
    clips_failed: int
    encode_ms_mean: float  # colour conversion + libx264, per frame
    render_ms_mean: float
    write_ms_mean: float  # finishing one file: index (faststart), fsync, rename


@dataclass(frozen=True, slots=True)
class _Begin:
    event_id: str
    start_time: float


@dataclass(frozen=True, slots=True)
class _Finish:
    event_id: str
    end_time: float


@dataclass(frozen=True, slots=True)
class _Discard:
    event_id: str


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Command = _Begin | _Finish | _Discard | _Stop


@dataclass
class _Clip:
    event_id: str
    start_at: float
    end_at: float | None = None  # the event's end + post_s, once it ended
    file: ClipFile | None = None  # None until a keyframe to start from


class ClipRecorder:
    """Records clips of one camera's events into `clips_dir/<event id>.mp4`.

    `on_clip(event_id, path)` reports each clip once: its path when written, or None when
    there is none (no keyframe before the event ended, a disk error). A clip stops at
    `max_clip_s` even if its event goes on (a car parked for an hour): it is written then and
    a later `finish` for it is ignored. A change of frame size (a source that reconnected at
    another resolution) ends the open clips there, written as far as they got. `discard`
    drops a clip without a report. The thread starts here; `close` stops it."""

    def __init__(
        self,
        camera_id: str,
        clips_dir: Path,
        pre_s: float = 3.0,
        post_s: float = 2.0,
        render: Render | None = None,
        on_clip: OnClip | None = None,
        queue_frames: int = 8,
        *,
        max_clip_s: float = 300.0,
        begin_slack_s: float = 2.0,
        encoder: EncoderSettings | None = None,
    ) -> None:
        self.camera_id, self.clips_dir = camera_id, clips_dir
        self.pre_s, self.post_s, self.max_clip_s = pre_s, post_s, max_clip_s
        self._render, self._on_clip = render, on_clip
        self._settings = encoder or EncoderSettings()
        # begin() may name a start up to begin_slack_s ago (events start after a few frames)
        self._ring = PacketRing(pre_s + begin_slack_s)
        self._inbox: Inbox[ProcessedFrame, _Command] = Inbox(queue_frames)
        self._last_offer_mono = float("-inf")  # offer()'s caller's: one thread per camera
        self._clips: dict[str, _Clip] = {}
        self._encoder: H264Encoder | None = None
        self._want_key = False
        self._last_frame = time.monotonic()
        self._errors = 0
        # each count has one writing thread: "written"/"unwritten" the writer, the rest the recorder
        self._counts = {"encoded": 0, "rendered": 0, "failed": 0, "written": 0, "unwritten": 0}
        self._ms = {"encode": 0.0, "render": 0.0, "write": 0.0}
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"clips-{camera_id}-write")
        self._thread = threading.Thread(target=self._run, name=f"clips-{camera_id}", daemon=True)
        self._thread.start()

    # --- any thread ---------------------------------------------------------------------

    def offer(self, processed: ProcessedFrame) -> bool:
        """Queue a frame for encoding; False (the frame is dropped from clips) when the
        recorder is `queue_frames` behind or closed. Never waits. While the scene is still
        (a frame the motion gate carried, nothing moving in it) only STILL_FPS frames a
        second are encoded: they are the same picture, and the clip holds each one longer
        (its frames carry their own durations), for a fraction of the encoding."""
        frame = processed.frame
        still = processed.carried and frame.motion is not None and not frame.motion.moving
        if still and frame.captured_mono - self._last_offer_mono < 1.0 / STILL_FPS:
            return True
        self._last_offer_mono = frame.captured_mono
        return self._inbox.put_frame(processed)

    def begin(self, event_id: str, start_time: float) -> None:
        """Start `event_id`'s clip, `pre_s` before `start_time` (epoch s, a frame's
        `captured_at`) as far as the ring reaches. The id names the file: letters, digits,
        `.`, `_`, `-`, not starting with a dot (ValueError otherwise)."""
        if not _SAFE_ID.fullmatch(event_id):
            raise ValueError(f"unsafe event id for a file name: {event_id!r}")
        self._inbox.put_command(_Begin(event_id, start_time))

    def finish(self, event_id: str, end_time: float) -> None:
        """The event ended at `end_time`: its clip goes on to `end_time + post_s`."""
        self._inbox.put_command(_Finish(event_id, end_time))

    def discard(self, event_id: str) -> None:
        """Drop the event's clip (a partial file is deleted); `on_clip` is not called."""
        self._inbox.put_command(_Discard(event_id))

    def close(self, timeout: float | None = None) -> None:
        """Encode what is queued, write every open clip as far as it got, stop the threads."""
        self._inbox.close(_Stop())
        self._thread.join(timeout)

    def stats(self) -> RecorderStats:
        counts, ms = self._counts, self._ms
        files = counts["written"] + counts["unwritten"]
        return RecorderStats(
            frames_encoded=counts["encoded"],
            frames_dropped=self._inbox.dropped,
            frames_queued=self._inbox.waiting_frames(),
            ring_bytes=self._ring.nbytes,
            ring_s=round(self._ring.span_s(), 3),
            clips_open=len(self._clips),
            clips_written=counts["written"],
            clips_failed=counts["failed"] + counts["unwritten"],
            encode_ms_mean=round(ms["encode"] / max(counts["encoded"], 1), 3),
            render_ms_mean=round(ms["render"] / max(counts["rendered"], 1), 3),
            write_ms_mean=round(ms["write"] / max(files, 1), 3),
        )

    def __enter__(self) -> ClipRecorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the recorder thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                item = self._inbox.get(_TICK_S)
                if item is None:
                    self._quiet()
                    continue
                is_frame, value = item
                if isinstance(value, _Stop):
                    break
                try:
                    self._frame(value) if is_frame else self._command(value)
                except Exception as exc:  # one bad frame or file must not stop the recorder
                    self._error(exc)
        finally:
            self._end_session()
            for clip in list(self._clips.values()):
                self._fail(clip, "the recorder stopped before its first keyframe")
            self._writer.shutdown(wait=True)

    def _frame(self, processed: ProcessedFrame) -> None:
        self._last_frame = time.monotonic()
        pixels = self._pixels(processed)
        height, width = pixels.shape[:2]
        if width < 2 or height < 2:
            return
        if self._encoder is None or (self._encoder.width, self._encoder.height) != (width, height):
            self._end_session()
            self._encoder = H264Encoder(width, height, self._settings)
        frame = processed.frame
        start = time.perf_counter()
        try:
            packets = self._encoder.encode(
                pixels, frame.captured_mono, frame.captured_at, self._want_key
            )
        except Exception:
            self._end_session()
            raise
        self._ms["encode"] += (time.perf_counter() - start) * 1000
        self._counts["encoded"] += 1
        self._want_key = False
        for packet in packets:
            self._route(packet)

    def _pixels(self, processed: ProcessedFrame) -> np.ndarray:
        pixels = processed.frame.pixels
        if self._render is not None:
            start = time.perf_counter()
            try:
                pixels = self._render(processed)
            except Exception as exc:  # a clip without its boxes beats no clip
                self._error(exc)
            self._ms["render"] += (time.perf_counter() - start) * 1000
            self._counts["rendered"] += 1
        height, width = pixels.shape[:2]
        return pixels[: height - height % 2, : width - width % 2]  # 4:2:0 needs even sizes

    def _route(self, packet: EncodedPacket) -> None:
        self._ring.push(packet)
        for clip in list(self._clips.values()):
            ended = clip.end_at is not None and packet.captured_at > clip.end_at
            if clip.file is None:
                if ended:
                    self._fail(clip, "no keyframe before the event ended")
                elif packet.keyframe:
                    self._open(clip, [packet])
            elif ended or packet.captured_at - clip.file.first_at > self.max_clip_s:
                self._complete(clip)
            else:
                self._write(clip, packet)

    def _command(self, command: _Command) -> None:
        if isinstance(command, _Begin):
            if command.event_id in self._clips:
                return
            clip = self._clips[command.event_id] = _Clip(command.event_id, command.start_time)
            packets = self._ring.since(command.start_time - self.pre_s)
            if packets:
                self._open(clip, packets)
            else:
                self._want_key = True  # nothing kept yet: start the clip on the next frame
        elif isinstance(command, _Finish):
            clip = self._clips.get(command.event_id)
            if clip is None:  # ended already (cap, size change) or unknown
                return
            clip.end_at = command.end_time + self.post_s
            if clip.file is not None and clip.file.last_at > clip.end_at:
                self._complete(clip)
        elif isinstance(command, _Discard):
            clip = self._clips.pop(command.event_id, None)
            if clip is not None and clip.file is not None:
                clip.file.abort()

    def _open(self, clip: _Clip, packets: list[EncodedPacket]) -> None:
        assert self._encoder is not None
        try:
            path = self.clips_dir / f"{clip.event_id}.mp4"
            clip.file = ClipFile(path, self._encoder.template(), packets[0])
            for packet in packets[1:]:
                clip.file.write(packet)
        except Exception as exc:
            self._fail(clip, f"cannot write it: {exc}")

    def _write(self, clip: _Clip, packet: EncodedPacket) -> None:
        assert clip.file is not None
        try:
            clip.file.write(packet)
        except Exception as exc:
            self._fail(clip, f"cannot write it: {exc}")

    def _quiet(self) -> None:
        """No frames: clips past their end wait for none beyond `_QUIET_S` more."""
        if time.monotonic() - self._last_frame < self.post_s + _QUIET_S:
            return
        for clip in [c for c in self._clips.values() if c.end_at is not None]:
            if clip.file is not None:
                self._complete(clip)
            else:
                self._fail(clip, "the camera sent no keyframe before the event ended")

    def _end_session(self) -> None:
        """The encoder ends (new size, an error, close): open clips end with it."""
        if self._encoder is None:
            return
        try:
            packets = self._encoder.flush()
        except Exception as exc:
            self._error(exc)
            packets = []
        for packet in packets:
            self._route(packet)
        for clip in list(self._clips.values()):
            if clip.file is not None:
                self._complete(clip)
        self._ring.clear()
        self._encoder.close()
        self._encoder = None

    def _complete(self, clip: _Clip) -> None:
        del self._clips[clip.event_id]
        assert clip.file is not None
        self._writer.submit(self._write_file, clip.event_id, clip.file)

    def _fail(self, clip: _Clip, reason: str) -> None:
        del self._clips[clip.event_id]
        if clip.file is not None:
            clip.file.abort()
        logger.warning("camera {}: no clip for event {}: {}", self.camera_id, clip.event_id, reason)
        self._counts["failed"] += 1
        self._writer.submit(self._report, clip.event_id, None)

    def _error(self, exc: Exception) -> None:
        self._errors += 1
        if self._errors == 1 or self._errors % 1000 == 0:  # a broken source must not flood
            logger.opt(exception=exc).warning(
                "camera {}: clip recorder error ({} so far)", self.camera_id, self._errors
            )

    # --- the writer thread --------------------------------------------------------------

    def _write_file(self, event_id: str, file: ClipFile) -> None:
        start = time.perf_counter()
        try:
            path: Path | None = file.finish()
            self._counts["written"] += 1
        except Exception as exc:
            logger.warning("camera {}: clip {} not written: {}", self.camera_id, event_id, exc)
            self._counts["unwritten"] += 1
            path = None
        self._ms["write"] += (time.perf_counter() - start) * 1000
        self._report(event_id, path)

    def _report(self, event_id: str, path: Path | None) -> None:
        if self._on_clip is None:
            return
        try:
            self._on_clip(event_id, path)
        except Exception as exc:
            logger.opt(exception=exc).warning("camera {}: on_clip raised", self.camera_id)
