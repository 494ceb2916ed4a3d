"""Edge inference appliance: cameras, detection engines, REST/WebSocket API and dashboard."""

__version__ = "0.1.0"
