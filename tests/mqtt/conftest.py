"""The real broker fixture, shared with other folders' tests through tests/support."""

from support.mosquitto import mosquitto

__all__ = ["mosquitto"]
