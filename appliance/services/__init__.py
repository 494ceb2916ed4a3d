"""Services: what the API and the dashboard call."""
