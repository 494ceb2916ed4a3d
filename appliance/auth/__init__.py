"""Who may do what: bearer tokens with ordered scopes, dashboard users with passwords and
their sessions, signed URLs, TLS material.

The lowest layer that knows about credentials; it imports nothing of the runtime, so the CLI
can manage tokens and users on the data dir while the service is stopped (or running: the
service re-reads the token and user files when they change).
"""
