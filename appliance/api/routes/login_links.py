"""/v1/auth/login-links: one-time sign-in links for the dashboard (what `appliance open`
asks for), so a browser window opens signed in without the token ever being in a URL."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import Field

from appliance.api.deps import AuthDep, PrincipalDep
from appliance.api.openapi import error_responses
from appliance.api.schemas import Schema

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginLinkOut(Schema):
    path: str = Field(description="Open this path on the service: /login?code=…")
    code: str = Field(description="The one-time code the path carries.")
    expires_at: float = Field(description="Unix seconds; the code is refused after this.")
    expires_in_s: float = Field(description="Seconds left when it was made.")


@router.post(
    "/login-links",
    response_model=LoginLinkOut,
    status_code=201,
    responses=error_responses(409),
    summary="A one-time sign-in link for the dashboard",
)
async def create_login_link(auth: AuthDep, principal: PrincipalDep) -> LoginLinkOut:
    """A link that signs one dashboard session in as the calling token (with its scope),
    once, within a minute. Kept in memory only; 409 when authentication is off."""
    issued = auth.login_link(principal)
    return LoginLinkOut(
        path=f"/login?code={issued.code}",
        code=issued.code,
        expires_at=round(issued.expires_at, 3),
        expires_in_s=round(max(0.0, issued.expires_at - time.time()), 3),
    )
