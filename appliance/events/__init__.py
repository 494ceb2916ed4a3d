"""Events: what a camera saw, stored with its snapshot and clip (no MQTT, no pipeline)."""
