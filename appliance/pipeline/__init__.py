"""Frame pipeline stages: slots between stages, annotation."""
