"""Pure per-camera logic on detections: tracking, line crossings, zone occupancy. No threads,
no I/O: the pipeline runs it as stages, services persist and publish what it reports."""
