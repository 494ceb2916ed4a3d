"""/auth/session and /auth/sign-out: the dashboard's sign-in form posts here, so the answer
is a real HTTP response that can set the session cookie (NiceGUI's socket cannot).

Both answer 303 (post/redirect/get): signed in, to `next` (a path on this site) with the
cookie; refused, back to /login with `error` (the page says why, the same words for an
unknown name and a wrong password). Open to anyone: they are how one gets a credential.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from appliance.api.deps import AuthDep
from appliance.auth.scopes import Principal
from appliance.auth.sessions import COOKIE, local_path
from appliance.errors import TooManyFailuresError
from appliance.services.auth import AuthService

router = APIRouter(prefix="/auth", tags=["dashboard sign-in"])
Field = Annotated[str, Form(max_length=1024)]


@router.post(
    "/session",
    status_code=303,
    response_class=RedirectResponse,
    summary="Sign the dashboard in (its login form posts here)",
)
async def sign_in(
    request: Request,
    auth: AuthDep,
    name: Field = "",
    password: Field = "",
    token: Field = "",
    next: Field = "/",
) -> RedirectResponse:
    """Form fields `name` and `password` (a dashboard user), or `token` (an API token).
    Signed in: 303 to `next` with the session cookie (HttpOnly, SameSite=Strict, Secure over
    HTTPS, Max-Age APPLIANCE_SESSION_TTL_S). Refused: 303 to /login?error=…&next=…"""
    target = local_path(next)
    if not auth.enabled:
        return RedirectResponse(target, status_code=303)
    address = auth.guard.client_address(request)
    try:
        if token:
            principal, failure = auth.sign_in(token, address), "token"
        else:
            principal = await _check_password(auth, name, password, address)
            failure = "password"
    except TooManyFailuresError:
        principal, failure = None, "throttled"
    if principal is None:
        query = urlencode({"error": failure, "next": target})
        return RedirectResponse(f"/login?{query}", status_code=303)
    if old := request.cookies.get(COOKIE):
        auth.end_session(old)  # one session per browser
    issued = auth.open_session(principal)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(**issued.cookie(secure=request.url.scheme == "https"))  # type: ignore[arg-type]
    return response


async def _check_password(
    auth: AuthService, name: str, password: str, address: str
) -> Principal | None:
    """Every password sign-in passes here. A locked-out address, or (address, name) pair,
    is refused before the password is looked at (TooManyFailuresError); a wrong password
    counts against the pair, so a guesser elsewhere cannot lock the real user out. argon2
    takes ~50 ms of CPU: off the event loop."""
    guard = auth.guard
    pair = (address, name.strip().lower())
    guard.check((address,))  # an address locked for guessing tokens cannot turn to passwords
    guard.check(pair)
    principal = await run_in_threadpool(auth.check_password, name, password)
    if principal is None:
        guard.failed(pair, "bad_password", user=pair[1], path="/login")
    return principal


@router.post(
    "/sign-out",
    status_code=303,
    response_class=RedirectResponse,
    summary="End the dashboard session",
)
async def sign_out(request: Request, auth: AuthDep) -> RedirectResponse:
    """Ends the session the cookie names (the same cookie is refused from then on) and
    clears it; 303 to /login."""
    if session_id := request.cookies.get(COOKIE):
        auth.end_session(session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
