"""Records each detect result after its response went out: a log line and counters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loguru import logger

from appliance.domain import DetectionResult


@dataclass(frozen=True)
class DetectStats:
    requests: int
    images: int
    detections_by_label: dict[str, int]


class DetectionRecorder:
    """Counts what detect requests found. Runs as a background task, off the response path."""

    def __init__(self, on_results: Callable[[Sequence[DetectionResult]], None] | None = None):
        self._on_results = on_results  # e.g. Prometheus inference latency
        self._lock = threading.Lock()
        self._requests = 0
        self._images = 0
        self._labels: Counter[str] = Counter()

    def record(self, source: str, results: Sequence[DetectionResult]) -> None:
        found = Counter(d.label for result in results for d in result.detections)
        with self._lock:
            self._requests += 1
            self._images += len(results)
            self._labels.update(found)
        if self._on_results is not None:
            self._on_results(results)
        for result in results:
            logger.bind(
                event="detect",
                source=source,
                model=result.model.name,
                detections=len(result.detections),
                infer_ms=result.timings.infer_ms,
            ).info(
                "detect via {}: {} {}x{} -> {} objects {} in {:.1f} ms",
                source, result.model.name, result.width, result.height,
                len(result.detections), dict(Counter(d.label for d in result.detections)),
                result.timings.total_ms,
            )  # fmt: skip

    def stats(self) -> DetectStats:
        with self._lock:
            return DetectStats(self._requests, self._images, dict(self._labels))
