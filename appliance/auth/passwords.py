"""Password hashes: argon2id (argon2-cffi), with OWASP's parameters for it (19 MiB, two
passes, one lane). About 45 ms a hash on one x86 core, a little more on a Jetson's ARM
cores: slow for a guesser, quick enough for a person signing in.

Every hash costs 19 MiB while it runs, so at most MAX_CONCURRENT run at once, whoever asks:
a burst of sign-in attempts queues instead of eating the device's memory.
"""

from __future__ import annotations

import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.errors import InvalidInputError

MIN_LENGTH = 8
MAX_LENGTH = 256  # a bound on the work one attempt can ask for
MAX_CONCURRENT = 2
_RUNNING = threading.BoundedSemaphore(MAX_CONCURRENT)


class WeakPasswordError(InvalidInputError):
    code = "weak_password"


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _dummy_hash() -> str:
    """What an unknown name is checked against, so that it takes as long as a wrong password."""
    return hash_password("not a password of anyone's")


def check_strength(password: str) -> str:
    """`password` if it is long enough (and not absurdly long), else WeakPasswordError."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password has at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    """An argon2id hash (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`); blocking, ~45 ms."""
    with _RUNNING:
        return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches the `stored` hash. None (no such user) is checked against a
    dummy hash and is always False: the answer takes as long either way."""
    if len(password) > MAX_LENGTH:
        return False
    against = stored or _dummy_hash()  # before taking a slot: making it takes one too
    try:
        with _RUNNING:
            _hasher().verify(against, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None
