"""The clip recorder on real frames (the test photos moving across a 1280x720 scene), real
libx264 encoding and MP4 files decoded back frame by frame with PyAV. Each frame carries its
index as a row of black and white blocks, so a decoded frame says which frame it was."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from appliance.devtools.trajectories import TrajectoryScene, actors
from appliance.domain import DetectionResult, Frame, ModelRef, ProcessedFrame, StageTimings
from appliance.events.clips import ClipRecorder

DATA = Path(__file__).resolve().parent.parent / "data"
T0, M0, FPS = 1_700_000_000.0, 5_000.0, 15.0  # wall and monotonic clocks differ on purpose
RESULT = DetectionResult(ModelRef("test", "1"), 1280, 720, (), StageTimings())
BLOCK, BITS = 16, 12


@pytest.fixture(scope="module")
def scene() -> TrajectoryScene:
    photos = {
        "astronaut.jpg": cv2.imread(str(DATA / "astronaut.png")),
        "chelsea.jpg": cv2.imread(str(DATA / "chelsea.png")),
    }
    return TrajectoryScene(actors(), photos, loop_s=8.0, fps=FPS)


def timeline(frames: int, jitter_s: float = 0.0, seed: int = 0) -> list[float]:
    """Capture times (s from the first frame) at 15 fps, each moved by up to `jitter_s`."""
    rng = np.random.default_rng(seed)
    return [i / FPS + (rng.uniform(-jitter_s, jitter_s) if i else 0.0) for i in range(frames)]


def stamp(pixels: np.ndarray, index: int) -> np.ndarray:
    for bit in range(BITS):
        value = 255 if index >> bit & 1 else 0
        pixels[0:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = value
    return pixels


def read_stamp(pixels: np.ndarray) -> int:
    blocks = [
        pixels[4 : BLOCK - 4, b * BLOCK + 4 : (b + 1) * BLOCK - 4].mean() for b in range(BITS)
    ]
    return sum(1 << bit for bit, mean in enumerate(blocks) if mean > 128)


def processed(
    scene: TrajectoryScene, index: int, at: float, size: tuple[int, int] | None = None
) -> ProcessedFrame:
    pixels = scene.render(index % scene.frames)
    if size is not None:
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    frame = Frame("cam", index, T0 + at, M0 + at, stamp(pixels, index))
    return ProcessedFrame(frame, RESULT, {})


def feed(
    recorder: ClipRecorder,
    scene: TrajectoryScene,
    times: list[float],
    indices: range,
    size: tuple[int, int] | None = None,
) -> None:
    """Offer frames as a lossless source would: wait while the recorder is behind."""
    for i in indices:
        item = processed(scene, i, times[i], size)
        while not recorder.offer(item):
            time.sleep(0.002)


class Reports:
    """What `on_clip` said, by event id; `wait` until a given number came in."""

    def __init__(self) -> None:
        self.clips: dict[str, Path | None] = {}
        self.calls = 0
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, event_id: str, path: Path | None) -> None:
        with self._cond:
            self.clips[event_id] = path
            self.calls += 1
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait(self, calls: int, timeout: float = 30) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.calls >= calls, timeout), self.clips


def decode(path: Path) -> tuple[av.video.stream.VideoStream, list[tuple[int, float, bool, tuple]]]:
    """Stream facts and, per decoded frame: its stamped index, time (s), keyframe, shape."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [
            (
                read_stamp(f.to_ndarray(format="gray")),
                float(f.time),
                f.key_frame,
                (f.height, f.width),
            )
            for f in container.decode(stream)
        ]
        return stream, frames


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        boxes.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        at += size
        if size < 8:
            break
    return boxes


def last_at_or_before(times: list[float], t: float) -> int:
    return max(i for i, at in enumerate(times) if at <= t + 1e-9)


def test_a_clip_runs_from_the_keyframe_before_the_pre_roll_to_the_post_roll(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    times = timeline(180, jitter_s=0.01)  # variable frame rate: pts must follow capture times
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path, pre_s=3.0, post_s=2.0, on_clip=reports)
    feed(recorder, scene, times, range(76))
    recorder.begin("e1", T0 + times[75])
    feed(recorder, scene, times, range(76, 106))
    recorder.finish("e1", T0 + times[105])
    feed(recorder, scene, times, range(106, 180))
    reports.wait(1)  # the clip is written once a frame past its post-roll arrived
    recorder.close()

    assert reports.clips == {"e1": tmp_path / "e1.mp4"}
    assert reports.threads == {"clips-cam-write_0"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.mp4"]  # no partial file left
    stream, frames = decode(tmp_path / "e1.mp4")
    assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
    assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
    indices = [index for index, *_ in frames]
    first, last = indices[0], indices[-1]
    assert indices == list(range(first, last + 1)), "frames lost or out of order"
    # starts on the keyframe at or before start - pre_s: at most one GOP (1 s) earlier
    pre_roll_start = times[75] - 3.0
    assert pre_roll_start - 1.0 - 1 / FPS < times[first] <= pre_roll_start
    assert last == last_at_or_before(times, times[105] + 2.0)
    assert frames[0][2], "a clip starts on a keyframe"
    for index, at, _, shape in frames:  # presentation times are the capture times
        assert at == pytest.approx(times[index] - times[first], abs=2e-4)
        assert shape == (720, 1280)
    keys = [index for index, _, key, _ in frames if key]
    assert all(14 <= b - a <= 16 for a, b in itertools.pairwise(keys)), keys
    boxes = top_level_boxes(tmp_path / "e1.mp4")
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # faststart: playable while loading


def test_overlapping_events_each_get_their_clip_and_fifty_cost_one_encode(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    times = timeline(150)
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path, pre_s=1.0, post_s=1.0, on_clip=reports)
    feed(recorder, scene, times, range(46))
    recorder.begin("a", T0 + times[45])
    feed(recorder, scene, times, range(46, 61))
    recorder.begin("b", T0 + times[60])
    for n in range(50):
        recorder.begin(f"burst{n:02d}", T0 + times[60])
    feed(recorder, scene, times, range(61, 76))
    recorder.finish("a", T0 + times[75])
    for n in range(50):
        recorder.finish(f"burst{n:02d}", T0 + times[90])
    feed(recorder, scene, times, range(76, 106))
    recorder.finish("b", T0 + times[105])
    feed(recorder, scene, times, range(106, 150))
    recorder.close()

    assert recorder.stats().frames_encoded == 150  # once per frame, not once per clip
    assert recorder.stats().clips_written == 52
    assert all(path is not None for path in reports.clips.values()) and len(reports.clips) == 52
    for name, start, end in (("a", 45, 75), ("b", 60, 105), ("burst00", 60, 90)):
        _, frames = decode(tmp_path / f"{name}.mp4")
        indices = [index for index, *_ in frames]
        assert indices[0] in range(start - 30, start - 14), (name, indices[0])  # 1 s, keyframe
        assert indices[-1] == end + 15, name
        assert indices == list(range(indices[0], indices[-1] + 1)), name
    burst = {(tmp_path / f"burst{n:02d}.mp4").read_bytes() for n in range(50)}
    assert len(burst) == 1  # the same packets, muxed fifty times


def test_an_overloaded_recorder_drops_clip_frames_and_never_delays_the_caller(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    def slow_render(processed: ProcessedFrame) -> np.ndarray:
        time.sleep(0.03)  # a render 3x slower than frames come
        return processed.frame.pixels

    times = timeline(60)
    items = [processed(scene, i, times[i]) for i in range(60)]
    reports = Reports()
    recorder = ClipRecorder(
        "cam", tmp_path, pre_s=1.0, post_s=0.5, render=slow_render, on_clip=reports, queue_frames=2
    )
    recorder.begin("e", T0)
    took, accepted = [], 0
    for i, item in enumerate(items):
        start = time.perf_counter()
        accepted += recorder.offer(item)
        took.append(time.perf_counter() - start)
        if i == 40:
            recorder.finish("e", T0 + times[40])
        time.sleep(0.01)
    recorder.close()

    stats = recorder.stats()
    assert stats.frames_dropped > 20 and stats.frames_dropped == 60 - accepted
    assert stats.frames_encoded == accepted
    # waiting for the recorder would cost the caller a 30 ms render per frame kept, > 0.6 s
    assert sum(took) < 0.2, (sum(took), max(took))
    assert sorted(took)[30] < 0.001  # the median offer: microseconds
    _, frames = decode(reports.clips["e"])  # what was kept still makes a clip
    indices = [index for index, *_ in frames]
    assert indices == sorted(indices) and len(indices) >= 8
    assert len(indices) < indices[-1] - indices[0] + 1  # with gaps


def test_a_new_frame_size_ends_open_clips_there_and_later_clips_use_it(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    times = timeline(160)
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path, pre_s=2.0, post_s=1.0, on_clip=reports)
    feed(recorder, scene, times, range(61))
    recorder.begin("before", T0 + times[60])
    feed(recorder, scene, times, range(61, 90))
    feed(recorder, scene, times, range(90, 130), size=(640, 360))  # the source reconnected
    recorder.begin("after", T0 + times[129])
    recorder.finish("before", T0 + times[129])  # ignored: that clip ended at the change
    feed(recorder, scene, times, range(130, 140), size=(640, 360))
    recorder.finish("after", T0 + times[135])
    feed(recorder, scene, times, range(140, 160), size=(640, 360))
    recorder.close()

    assert set(reports.clips) == {"before", "after"} and reports.calls == 2
    _, before = decode(reports.clips["before"])
    assert {shape for *_, shape in before} == {(720, 1280)}
    assert before[0][0] in range(15, 31) and before[-1][0] == 89
    _, after = decode(reports.clips["after"])
    assert {shape for *_, shape in after} == {(360, 640)}
    # the pre-roll reaches back to the first keyframe at the new size, no further
    assert after[0][0] in range(90, 100) and after[-1][0] == 135 + 15


def test_close_writes_open_clips_as_far_as_recorded(scene: TrajectoryScene, tmp_path: Path) -> None:
    times = timeline(100)
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path, pre_s=1.0, on_clip=reports)
    recorder.begin("no-frames-yet", T0)
    recorder.finish("no-frames-yet", T0 - 10)  # ended before any keyframe could come
    feed(recorder, scene, times, range(61))
    recorder.begin("open", T0 + times[60])
    feed(recorder, scene, times, range(61, 100))
    recorder.close()

    assert reports.clips["no-frames-yet"] is None
    _, frames = decode(reports.clips["open"])
    assert frames[-1][0] == 99  # the last frame offered, flushed from the encoder
    assert frames[0][0] in range(30, 46)
    assert not recorder.offer(processed(scene, 100, times[99] + 0.1))  # closed


def test_a_clip_stops_at_its_cap_while_the_event_goes_on(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    times = timeline(150)
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path, pre_s=1.0, on_clip=reports, max_clip_s=2.0)
    feed(recorder, scene, times, range(31))
    recorder.begin("parked", T0 + times[30])
    feed(recorder, scene, times, range(31, 150))
    reports.wait(1)  # written at the cap, not when the event ends
    recorder.finish("parked", T0 + times[149])
    recorder.close()

    assert reports.calls == 1
    _, frames = decode(reports.clips["parked"])
    assert frames[-1][1] <= 2.0 + 1e-6
    assert len(frames) == 31


def test_a_disk_error_means_no_clip_and_the_recorder_goes_on(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("not a folder")
    times = timeline(60)
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path / "file" / "clips", pre_s=1.0, on_clip=reports)
    feed(recorder, scene, times, range(20))
    recorder.begin("e", T0 + times[19])
    feed(recorder, scene, times, range(20, 60))
    recorder.close()

    assert reports.clips == {"e": None}
    assert recorder.stats().frames_encoded == 60
    assert recorder.stats().clips_failed == 1


def test_a_discarded_clip_leaves_no_file_and_no_report(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    times = timeline(60)
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path, pre_s=1.0, on_clip=reports)
    feed(recorder, scene, times, range(20))
    recorder.begin("e", T0 + times[19])
    feed(recorder, scene, times, range(20, 40))
    recorder.discard("e")
    feed(recorder, scene, times, range(40, 60))
    recorder.close()

    assert reports.calls == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("event_id", ["../escape", "a/b", ".hidden", "", "x" * 65])
def test_an_event_id_that_is_not_a_plain_file_name_is_refused(
    tmp_path: Path, event_id: str
) -> None:
    with ClipRecorder("cam", tmp_path) as recorder, pytest.raises(ValueError, match="unsafe"):
        recorder.begin(event_id, T0)


def test_odd_frame_sizes_and_the_render_run_on_the_recorder_thread(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    threads = set()

    def render(processed: ProcessedFrame) -> np.ndarray:
        threads.add(threading.current_thread().name)
        canvas = processed.frame.pixels.copy()
        cv2.rectangle(canvas, (500, 300), (620, 350), (0, 0, 255), -1)  # red, BGR
        return canvas

    times = timeline(40)
    reports = Reports()
    recorder = ClipRecorder("cam", tmp_path, pre_s=1.0, render=render, on_clip=reports)
    feed(recorder, scene, times, range(20), size=(641, 361))
    recorder.begin("e", T0 + times[19])
    feed(recorder, scene, times, range(20, 40), size=(641, 361))
    stats = recorder.stats()
    recorder.close()

    assert threads == {"clips-cam"}
    assert stats.render_ms_mean > 0
    with av.open(str(reports.clips["e"])) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    assert frame.shape == (360, 640, 3)
    b, g, r = frame[310:340, 520:600].reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_the_ring_holds_the_pre_roll_in_little_memory(
    scene: TrajectoryScene, tmp_path: Path
) -> None:
    times = timeline(150)
    recorder = ClipRecorder("cam", tmp_path, pre_s=3.0, begin_slack_s=2.0)
    feed(recorder, scene, times, range(150))
    deadline = time.monotonic() + 30
    while recorder.stats().frames_encoded < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = recorder.stats()
    recorder.close()

    assert 5.0 <= stats.ring_s <= 6.0 + 1 / FPS  # pre_s + slack, plus at most one GOP
    assert 0 < stats.ring_bytes < 8 * 2**20
    assert stats.frames_encoded == 150 and stats.encode_ms_mean > 0
