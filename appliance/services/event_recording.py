"""Recording events as they happen: each camera's event tracker and clip recorder (kept
across retunes, like its tracker), the store, the snapshot writer, and who is told.

The camera's worker calls `handle` with what a frame changed; everything slow happens on
other threads: the store's writer, the snapshot thread here, the clip recorders' threads.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from loguru import logger

from appliance.config import CameraConfig, EventsConfig
from appliance.domain import Frame, ProcessedFrame
from appliance.durable import write_atomic
from appliance.errors import NotReadyError
from appliance.events.clips import ClipRecorder
from appliance.events.files import event_paths
from appliance.events.labels import event_labels
from appliance.events.lifecycle import EventChange, EventRules, EventTracker
from appliance.events.model import EventRecord
from appliance.events.snapshots import encode_snapshot, render_snapshot
from appliance.events.store import EventStore
from appliance.pipeline.annotate import draw_detections
from appliance.pipeline.event_stage import EventStage
from appliance.pipeline.scene_layer import SceneLayers
from appliance.pipeline.stages import Stage
from appliance.services.events import EventBus
from appliance.services.snapshot_writer import SnapshotWriter


class EventListener(Protocol):
    """Told about events beside the WebSocket (the MQTT bridge)."""

    def on_event(self, kind: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None: ...

    def on_presence(self, camera: str, counts: dict[str, int]) -> None: ...

    def on_snapshot(self, camera: str, label: str, jpeg: bytes) -> None: ...


@dataclass
class _Camera:
    tracker: EventTracker
    recorder: ClipRecorder | None = None
    clip_settings: tuple[float, float, bool] | None = None  # (pre_s, post_s, annotated)


@dataclass
class _Live:
    """An event not yet final: open, or ended with its snapshot or clip still being written."""

    record: EventRecord
    open: bool = True
    clip_pending: bool = False
    deleted: bool = False


def _renderer() -> Callable[[ProcessedFrame], np.ndarray]:
    """Draws a clip's frames, for one recorder's thread: lines and zones rendered once."""
    layers = SceneLayers()

    def render(processed: ProcessedFrame) -> np.ndarray:
        return draw_detections(
            processed.frame.pixels,
            processed.result.detections,
            processed.overlay,
            carried=processed.carried,
            layers=layers,
        )

    return render


class EventRecording:
    def __init__(
        self,
        root: Path,
        bus: EventBus,
        listeners: Sequence[EventListener] = (),
    ) -> None:
        self._store: EventStore | None = None  # opened with the service, not when built
        self.root = root
        self._bus = bus
        self._listeners = list(listeners)
        self._cameras: dict[str, _Camera] = {}
        self._live: dict[str, _Live] = {}
        self._lock = threading.RLock()
        self._snapshots = SnapshotWriter(self._write_snapshot)

    def open(self) -> None:
        """Open (or create and migrate) `<root>/events.db` (blocking)."""
        if self._store is None:
            self._store = EventStore(self.root / "events.db")

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise NotReadyError("the event store is not open yet")
        return self._store

    def close_store(self) -> None:
        if self._store is not None:
            self._store.close()

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    # --- stages ----------------------------------------------------------------------------

    def stages(self, config: CameraConfig, labels: Sequence[str]) -> tuple[Stage, ...]:
        """The events stage `config` asks for (none without tracking or with events off)."""
        settings = config.events
        if not (config.tracking and settings.enabled):
            self.stop_camera(config.id)
            return ()
        rules = EventRules(
            labels=event_labels(settings.labels, labels),
            min_score=settings.min_score,
            min_frames=settings.min_frames,
        )
        with self._lock:
            camera = self._cameras.get(config.id)
            if camera is None:
                camera = _Camera(EventTracker(config.id, rules))
                self._cameras[config.id] = camera
            camera.tracker.rules = rules
            self._fit_recorder(config.id, camera, settings)
        return (EventStage(config.id, camera.tracker, self.handle, camera.recorder),)

    def stop_camera(self, camera_id: str) -> None:
        """The camera stopped (or stopped recording): its open events end now."""
        with self._lock:
            camera = self._cameras.get(camera_id)
        if camera is not None:
            self.handle(camera_id, camera.tracker.end_all())

    def drop_camera(self, camera_id: str) -> None:
        """The camera is gone: end its events, finish its clips; the stored ones stay."""
        self.stop_camera(camera_id)
        with self._lock:
            camera = self._cameras.pop(camera_id, None)
        if camera is not None and camera.recorder is not None:
            camera.recorder.close()

    def expire(self, now_mono: float) -> None:
        """End events whose objects stopped being seen because frames stopped coming."""
        with self._lock:
            cameras = list(self._cameras.items())
        for camera_id, camera in cameras:
            changes = camera.tracker.expire(now_mono)
            if changes:
                self.handle(camera_id, changes)

    # --- the worker's side -----------------------------------------------------------------

    def handle(self, camera_id: str, changes: Sequence[EventChange]) -> None:
        """Store, announce and start or finish the clips of what changed (quick: the
        camera's worker calls this)."""
        with self._lock:
            camera = self._cameras.get(camera_id)
        recorder = camera.recorder if camera is not None else None
        for change in changes:
            record = self._merge(change.after, ended=change.kind == "end")
            if record is None:  # deleted while it was open
                continue
            if recorder is not None and change.kind == "new":
                with self._lock:
                    self._live[record.id].clip_pending = True
                recorder.begin(record.id, record.start_time)
            elif recorder is not None and change.kind == "end":
                recorder.finish(record.id, record.end_time or record.start_time)
            if change.snapshot is not None:
                self._snapshots.offer(record.id, (record.camera, change.snapshot))
            before = None if change.before is None else self._flags(change.before).to_api()
            self._announce(change.kind, before, record.to_api())
        if camera is not None and any(c.kind != "update" for c in changes):
            presence = camera.tracker.presence()
            for listener in self._listeners:
                _safely(listener.on_presence, camera_id, presence)

    def _merge(self, record: EventRecord, *, ended: bool) -> EventRecord | None:
        """Keep the file flags the other threads set, store, and remember the event until
        nothing more will be written for it."""
        with self._lock:
            live = self._live.get(record.id)
            if live is None:
                live = self._live[record.id] = _Live(record)
            if live.deleted:
                if ended:
                    del self._live[record.id]
                return None
            record = dataclasses.replace(
                record,
                has_snapshot=live.record.has_snapshot,
                has_clip=live.record.has_clip,
            )
            live.record, live.open = record, not ended
            self.store.upsert(record)
            self._forget_if_final(record.id)
        return record

    def _flags(self, record: EventRecord) -> EventRecord:
        with self._lock:
            live = self._live.get(record.id)
        if live is None:
            return record
        return dataclasses.replace(
            record, has_snapshot=live.record.has_snapshot, has_clip=live.record.has_clip
        )

    def _announce(self, kind: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        self._bus.publish(f"event.{kind}", camera=after["camera"], event=after)
        for listener in self._listeners:
            _safely(listener.on_event, kind, before or after, after)

    # --- files -----------------------------------------------------------------------------

    def _write_snapshot(self, event_id: str, job: tuple[str, Frame]) -> None:
        camera_id, frame = job
        jpeg = encode_snapshot(frame.pixels)
        path = event_paths(self.root, camera_id, event_id).snapshot
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, jpeg, mode=0o644)
        record = self._set_flag(event_id, has_snapshot=True)
        if record is None:
            path.unlink(missing_ok=True)  # deleted meanwhile
            return
        if self._listeners:
            shown = render_snapshot(
                jpeg, record.box, record.label, record.top_score, bbox=True, crop=True
            )
            for listener in self._listeners:
                _safely(listener.on_snapshot, camera_id, record.label, shown)

    def _clip_done(self, event_id: str, path: Path | None) -> None:
        with self._lock:
            live = self._live.get(event_id)
            if live is not None:
                live.clip_pending = False
        if path is None:
            self._forget_if_final(event_id)
            return
        if self._set_flag(event_id, has_clip=True) is None:
            path.unlink(missing_ok=True)

    def _set_flag(self, event_id: str, **flag: bool) -> EventRecord | None:
        """Mark a file written; None when the event was deleted meanwhile."""
        with self._lock:
            live = self._live.get(event_id)
            if live is None or live.deleted:
                return None
            record = live.record = dataclasses.replace(live.record, **flag)
            self.store.upsert(record)
            self._forget_if_final(event_id)
        # the dashboard swaps in the snapshot or the clip; MQTT is not told (its consumers
        # would see an update after the end)
        self._bus.publish("event.update", camera=record.camera, event=record.to_api())
        return record

    def _forget_if_final(self, event_id: str) -> None:
        live = self._live.get(event_id)
        pending = self._snapshots.pending(event_id)
        if live is not None and not live.open and not live.clip_pending and not pending:
            del self._live[event_id]

    def _fit_recorder(self, camera_id: str, camera: _Camera, settings: EventsConfig) -> None:
        """A recorder as the settings ask; a new one only when they changed."""
        wanted = (settings.pre_s, settings.post_s, settings.annotated_clips)
        if not settings.clips:
            wanted = None
        if wanted == camera.clip_settings:
            return
        if camera.recorder is not None:
            # its open clips end where they are; writing them may take a moment, and a
            # retune runs on the event loop
            old = camera.recorder
            threading.Thread(target=old.close, name=f"clips-{camera_id}-close").start()
            camera.recorder = None
        if wanted is not None:
            pre_s, post_s, annotated = wanted
            camera.recorder = ClipRecorder(
                camera_id,
                self.root / "clips" / camera_id,
                pre_s=pre_s,
                post_s=post_s,
                render=_renderer() if annotated else None,
                on_clip=self._clip_done,
            )
        camera.clip_settings = wanted

    # --- reads and deletes (the API's side) -----------------------------------------------

    def live_record(self, event_id: str) -> EventRecord | None:
        with self._lock:
            live = self._live.get(event_id)
            return None if live is None or live.deleted else live.record

    def mark_deleted(self, event_id: str) -> None:
        """An event the API deletes: nothing more is stored or written for it."""
        with self._lock:
            live = self._live.get(event_id)
            if live is not None:
                live.deleted = True
                if not live.open:
                    del self._live[event_id]
            cameras = [c for c in self._cameras.values() if c.recorder is not None]
        self._snapshots.cancel(event_id)
        for camera in cameras:
            assert camera.recorder is not None
            camera.recorder.discard(event_id)

    def recorder_stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            recorders = {k: c.recorder for k, c in self._cameras.items() if c.recorder}
        return {k: dataclasses.asdict(r.stats()) for k, r in recorders.items()}

    def close(self) -> None:
        with self._lock:
            ids = list(self._cameras)
        for camera_id in ids:
            self.drop_camera(camera_id)
        self._snapshots.close()


def _safely(call: Callable[..., None], *args: Any) -> None:
    """A listener that fails (a bug, a full queue) must not stop the camera's frames."""
    try:
        call(*args)
    except Exception as exc:
        logger.opt(exception=exc).error("event listener {} failed", call)
