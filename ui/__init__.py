"""The NiceGUI dashboard (mounted on the service's app). Arrives with the dashboard issue."""
