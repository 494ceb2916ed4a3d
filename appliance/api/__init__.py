"""HTTP and WebSocket API: thin routes over the services."""
