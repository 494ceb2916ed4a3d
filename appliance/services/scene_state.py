"""Each camera's tracker and line and zone counters: kept across retunes and model swaps
(a stage list is rebuilt on every change, the state it uses is not), and their counts saved
with the configuration a few seconds behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from loguru import logger

from appliance.analytics.lines import LineCounter, LineCounts, LineSpec
from appliance.analytics.tracker import ByteTracker, TrackerSettings
from appliance.analytics.zones import ZoneCounter, ZoneCounts, ZoneSpec
from appliance.config import CameraConfig, ConfigStore, LineConfig, SceneCounts, ZoneConfig
from appliance.pipeline.scene_stages import SceneStage, TrackingStage
from appliance.pipeline.stages import Stage
from appliance.services.events import EventBus
from appliance.services.model_specs import class_ids


@dataclass
class _CameraScene:
    # one tracker for the camera's life (its ids stay unique while the service runs)
    tracker: ByteTracker | None = None
    tracking: bool = False
    line_counts: dict[str, LineCounts] = field(default_factory=dict)
    zone_counts: dict[str, ZoneCounts] = field(default_factory=dict)
    lines: dict[str, LineCounter] = field(default_factory=dict)
    zones: dict[str, ZoneCounter] = field(default_factory=dict)


class SceneRegistry:
    """What every camera's tracking, lines and zones know. Stages are built from it on the
    caller's thread; the counters they hold are then only updated on the camera's worker."""

    def __init__(self, store: ConfigStore, events: EventBus) -> None:
        self._store = store
        self._events = events
        self._cameras: dict[str, _CameraScene] = {}
        self._saved: dict[str, SceneCounts] = {}
        self._written: dict[str, SceneCounts] | None = None  # what the last flush saved
        self._lock = threading.RLock()
        self._flushing = threading.Lock()

    def restore(self, saved: dict[str, SceneCounts]) -> None:
        """Counts as the last run saved them, picked up as each line and zone is built."""
        with self._lock:
            self._saved = dict(saved)
        self._written = dict(saved)

    # --- stages ----------------------------------------------------------------------------

    def stages(self, config: CameraConfig, labels: Sequence[str]) -> tuple[Stage, ...]:
        """The tracking and counting stages `config` asks for, on this camera's state."""
        with self._lock:
            scene = self._cameras.setdefault(config.id, _CameraScene())
            if not config.tracking:
                scene.tracking = False
                return ()
            settings = TrackerSettings(high=config.conf)
            if scene.tracker is None:
                scene.tracker = ByteTracker(settings)
            elif not scene.tracking:
                scene.tracker.reset()  # back on: old tracks are stale, ids carry on
            # the worker reads the settings once per frame: swapping them keeps the tracks
            scene.tracker.settings = settings
            scene.tracking = True
            stages: list[Stage] = [TrackingStage(scene.tracker)]
            lines = [self._line(config.id, scene, n, c, labels) for n, c in config.lines.items()]
            zones = [self._zone(config.id, scene, n, c, labels) for n, c in config.zones.items()]
        if lines or zones:
            stages.append(SceneStage(config.id, lines, zones, self._events.publish))
        return tuple(stages)

    def retain(self, config: CameraConfig) -> None:
        """Forget the lines and zones `config` no longer has (their counts too: a line made
        again under the same name counts from zero)."""
        with self._lock:
            scene = self._cameras.get(config.id)
            if scene is not None:
                for name in set(scene.line_counts) - set(config.lines):
                    del scene.line_counts[name]
                    scene.lines.pop(name, None)
                for name in set(scene.zone_counts) - set(config.zones):
                    del scene.zone_counts[name]
                    scene.zones.pop(name, None)
            saved = self._saved.get(config.id)
            if saved is not None:
                self._saved[config.id] = SceneCounts(
                    lines={k: v for k, v in saved.lines.items() if k in config.lines},
                    zones={k: v for k, v in saved.zones.items() if k in config.zones},
                )

    def drop(self, camera_id: str) -> None:
        """The camera is gone: its state and counts too."""
        with self._lock:
            self._cameras.pop(camera_id, None)
            self._saved.pop(camera_id, None)

    # --- reading and resetting -------------------------------------------------------------

    def line_counts(self, camera_id: str, name: str) -> LineCounts:
        with self._lock:
            scene = self._cameras.setdefault(camera_id, _CameraScene())
            return self._line_counts(camera_id, scene, name)

    def zone_counts(self, camera_id: str, name: str) -> ZoneCounts:
        with self._lock:
            scene = self._cameras.setdefault(camera_id, _CameraScene())
            return self._zone_counts(camera_id, scene, name)

    def occupancy(self, camera_id: str, name: str) -> dict[str, int]:
        """Objects inside the zone now, by label (empty while the camera does not run)."""
        with self._lock:
            scene = self._cameras.get(camera_id)
            zone = scene.zones.get(name) if scene else None
        return dict(zone.occupancy()) if zone is not None else {}

    def snapshot(self) -> dict[str, SceneCounts]:
        """Every camera's counts now, as saved."""
        with self._lock:
            counts = dict(self._saved)
            for camera_id, scene in self._cameras.items():
                saved = counts.get(camera_id, SceneCounts())
                counts[camera_id] = SceneCounts(
                    lines={
                        **saved.lines,
                        **{n: c.as_dict() for n, c in scene.line_counts.items()},
                    },
                    zones={
                        **saved.zones,
                        **{n: c.as_dict() for n, c in scene.zone_counts.items()},
                    },
                )
            return {k: v for k, v in counts.items() if v.lines or v.zones}

    # --- persistence -----------------------------------------------------------------------

    def flush(self) -> bool:
        """Save the counts if they changed since the last save (blocking: from a thread).
        One flush at a time, each from a fresh snapshot: a periodic flush still writing when
        the service stops (its task cancelled, its thread not) must not land after the last
        one with older counts."""
        with self._flushing:
            if self._written is None:
                # not restored yet (the models still load): an empty snapshot now would
                # overwrite the counts the last run saved
                return False
            counts = self.snapshot()
            if counts == self._written:
                return False
            self._store.update(lambda saved: saved.model_copy(update={"counts": counts}))
            self._written = counts
            return True

    async def keep_saved(self, every_s: float = 2.0) -> None:
        """Runs for the life of the app: counts reach the disk at most `every_s` late."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.to_thread(self.flush)
            except Exception as exc:  # a full disk must not end the loop: next time
                logger.error("saving line and zone counts failed: {}", exc)

    # --- internals -------------------------------------------------------------------------

    def _line_counts(self, camera_id: str, scene: _CameraScene, name: str) -> LineCounts:
        counts = scene.line_counts.get(name)
        if counts is None:
            saved = self._saved.get(camera_id)
            counts = LineCounts(saved.lines.get(name) if saved else None)
            scene.line_counts[name] = counts
        return counts

    def _zone_counts(self, camera_id: str, scene: _CameraScene, name: str) -> ZoneCounts:
        counts = scene.zone_counts.get(name)
        if counts is None:
            saved = self._saved.get(camera_id)
            counts = ZoneCounts(saved.zones.get(name) if saved else None)
            scene.zone_counts[name] = counts
        return counts

    def _line(
        self,
        camera_id: str,
        scene: _CameraScene,
        name: str,
        config: LineConfig,
        labels: Sequence[str],
    ) -> LineCounter:
        a, b = config.points
        spec = LineSpec((a, b), class_ids(config.classes, labels))
        counter = scene.lines.get(name)
        if counter is None or counter.spec != spec:
            counter = LineCounter(name, spec, self._line_counts(camera_id, scene, name))
            scene.lines[name] = counter
        return counter

    def _zone(
        self,
        camera_id: str,
        scene: _CameraScene,
        name: str,
        config: ZoneConfig,
        labels: Sequence[str],
    ) -> ZoneCounter:
        spec = ZoneSpec(
            tuple(config.points),
            class_ids(config.classes, labels),
            inertia=config.inertia,
            loiter_s=config.loiter_s,
        )
        counter = scene.zones.get(name)
        if counter is None or counter.spec != spec:
            counter = ZoneCounter(name, spec, self._zone_counts(camera_id, scene, name))
            scene.zones[name] = counter
        return counter
