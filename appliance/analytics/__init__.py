"""Pure per-camera logic on detections (tracking, lines, zones): no threads, no I/O."""
