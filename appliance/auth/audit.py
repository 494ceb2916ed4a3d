"""Audit lines: one structured log record per failed authentication and per admin action.

Each is a loguru record with `event` (auth.failed, auth.lockout, model.upload, …), `outcome`
and the fields given (client, token_id, user, reason, target…) bound as extras, which the
journald sink sends as fields (logging.JOURNAL_FIELDS), plus the request id of the request
being served (RequestContextMiddleware binds it). The message repeats them as `key=value`
for a plain log file. Never pass a secret: a token's id, a user's name, not what proves them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from loguru import logger

from appliance.errors import ApplianceError

T = TypeVar("T")
_PLAIN = re.compile(r"^[\w.:@/+-]{1,200}$")


@dataclass(frozen=True)
class Actor:
    """Who did it: the client address (auth/client_address.py) and the credential's id."""

    client: str
    token_id: str | None = None
    user: str | None = None  # a dashboard user's name (passwords), when there is one

    def fields(self) -> dict[str, str | None]:
        return {"client": self.client, "token_id": self.token_id, "user": self.user}


def _shown(value: object) -> str:
    """A value safe on one log line: quoted (JSON) unless it is a plain word."""
    text = str(value)
    return text if _PLAIN.match(text) else json.dumps(text)


def audit(event: str, *, outcome: str, level: str = "INFO", **fields: object) -> None:
    """One audit line; fields that are None are left out."""
    values = {"outcome": outcome, **{k: v for k, v in fields.items() if v is not None}}
    text = " ".join(f"{key}={_shown(value)}" for key, value in values.items())
    record = {key: str(value) for key, value in values.items()}
    logger.bind(audit=True, **record, event=event).log(level, "audit {} {}", event, text)


@contextmanager
def audited(event: str, actor: Actor, **fields: object) -> Iterator[None]:
    """Audit the action in the block: outcome ok, or failed with the error's code."""
    try:
        yield
    except BaseException as exc:
        code = exc.code if isinstance(exc, ApplianceError) else type(exc).__name__
        audit(event, outcome="failed", error=code, **actor.fields(), **fields)
        raise
    audit(event, outcome="ok", **actor.fields(), **fields)


async def audited_call(event: str, actor: Actor, work: Awaitable[T], **fields: object) -> T:
    """`await work` as one audited action (for the dashboard's run_action)."""
    with audited(event, actor, **fields):
        return await work
