"""Events: each tracked object's life, stored with a snapshot and a clip."""
