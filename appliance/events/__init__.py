"""Stored object events: the record model, the SQLite store (one writer thread), the files
that belong to each event (snapshot, clip) and the retention that deletes old ones."""
