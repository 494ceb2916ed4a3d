"""Who may do what: bearer tokens with ordered scopes, signed URLs, TLS material.

The lowest layer that knows about credentials; it imports nothing of the runtime, so the CLI
can manage tokens on the data dir while the service is stopped (or running: the service
re-reads the token file when it changes).
"""
