"""Scopes and the principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from appliance.errors import InvalidInputError


class Scope(IntEnum):
    """Ordered: a token's scope allows everything a smaller scope allows."""

    VIEWER = 1  # read: GETs, streams, snapshots, events, system
    OPERATOR = 2  # cameras (create/change/delete/start/stop), detection, /v2 infer
    ADMIN = 3  # models, jobs, tokens, settings, /v2 repository load/unload

    @property
    def label(self) -> str:
        return self.name.lower()

    def __str__(self) -> str:
        return self.label

    @classmethod
    def parse(cls, value: str | Scope) -> Scope:
        if isinstance(value, Scope):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise InvalidInputError(f"unknown scope {value!r}: one of {names}") from None


USER_PREFIX = "user:"  # token ids are hex: no token id starts with this


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a token (by id and name), a dashboard user (`user` set), a
    signed URL, or no one in particular when authentication is off."""

    token_id: str  # the credential's id: a token's, or "user:<name>" for a user
    name: str
    scope: Scope
    user: str | None = None  # the user's name when signed in with a password

    def allows(self, needed: Scope) -> bool:
        return self.scope >= needed


def user_principal(name: str, role: Scope) -> Principal:
    return Principal(token_id=f"{USER_PREFIX}{name}", name=name, scope=role, user=name)


# Stand-ins for requests that carry no token of their own.
SIGNED_URL = Principal(token_id="signed-url", name="signed URL", scope=Scope.VIEWER)
AUTH_OFF = Principal(token_id="auth-off", name="anyone (authentication off)", scope=Scope.ADMIN)
