"""AuthService: what the API, the dashboard and the CLI ask about credentials.

auth.enabled                          False only with APPLIANCE_AUTH=0 (show a warning)
auth.verify(token) -> Principal|None  a bearer token's id, name and scope
auth.allows(principal, scope) -> bool scopes are ordered: viewer < operator < admin
auth.sign(path, ttl_s=60) -> str      path?exp=…&sig=… for <img src> (read access)
auth.check_signature(path, query)     whether such a URL is valid for this path now
auth.create(name, scope) / list() / revoke(token_id)
auth.login_link(principal)            a one-time sign-in code for that principal's token
auth.redeem_login_link(code, client)  -> Principal, once; LoginLinkError when used/expired
auth.sign_in(token, client)           a token pasted on the dashboard's login page
auth.check_password(name, password)   -> Principal|None: THE password check (sign-in route)
auth.open_session(principal)          a dashboard session (cookie value and expiry)
auth.session(session_id)              -> SignedIn|None, looked up again on every use
auth.end_session(session_id)          sign-out: the cookie is refused from then on
auth.add_user / remove_user / change_password / set_role / list_users: dashboard users
auth.guard                            failed attempts: lockouts (429), audit, recent failures

The token and code sign-ins raise TooManyFailuresError while `client` is locked out, before
the credential is looked at, and report a refused one to the guard.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from appliance.auth.accounts import Accounts
from appliance.auth.initial import INITIAL_TOKEN_FILE, ensure_initial_admin, revoke
from appliance.auth.login_links import TTL_S, LoginCode, LoginLinkError, LoginLinks
from appliance.auth.scopes import USER_PREFIX, Principal, Scope, user_principal
from appliance.auth.sessions import TTL_S as SESSION_TTL_S
from appliance.auth.sessions import IssuedSession, SessionStore
from appliance.auth.signing import Signature, UrlSigner
from appliance.auth.tokens import TOKENS_FILE, IssuedToken, TokenInfo, TokenStore, token_id_of
from appliance.auth.users import UserInfo, new_epoch, valid_name
from appliance.errors import ConflictError
from appliance.secret import load_or_create_secret
from appliance.services.auth_guard import AuthGuard

URL_SECRET_FILE = "urls.secret"


@dataclass(frozen=True)
class SignedIn:
    """Who a dashboard session is, as of now."""

    principal: Principal
    must_change: bool = False  # a user who must choose a new password before going on


class AuthService:
    def __init__(
        self,
        data_dir: Path | None,
        *,
        enabled: bool = True,
        login_link_ttl_s: float = TTL_S,
        guard: AuthGuard | None = None,
        session_ttl_s: float = SESSION_TTL_S,
    ) -> None:
        """`data_dir` None: no token or user store at all (hand-built services in tests), so
        every credential is refused and URLs are signed with a key that lives as long as the
        process."""
        self.enabled = enabled
        self.guard = guard if guard is not None else AuthGuard()
        self._data_dir = data_dir
        self._tokens = TokenStore(data_dir / TOKENS_FILE) if data_dir is not None else None
        self._accounts = Accounts(data_dir) if data_dir is not None else None
        self.sessions = SessionStore(session_ttl_s)
        self._key: bytes | None = None
        self._signer = UrlSigner(self._signing_key)
        self._links = LoginLinks(login_link_ttl_s)

    @classmethod
    def disabled(cls) -> AuthService:
        return cls(None, enabled=False)

    @property
    def initial_token_path(self) -> Path | None:
        return self._data_dir / INITIAL_TOKEN_FILE if self._data_dir is not None else None

    def start(self) -> None:
        """On a first start with authentication on, make the initial admin token and say
        (once, without the token itself) how to read it."""
        if not self.enabled:
            logger.warning(
                "authentication is OFF (APPLIANCE_AUTH=0): anyone who reaches this service "
                "can use and change it"
            )
            return
        if self._tokens is None or self.initial_token_path is None:
            return
        issued = ensure_initial_admin(self._tokens, self.initial_token_path)
        if issued is not None:
            logger.info(
                "created the first admin token (id {}): print it with `appliance token show "
                "--data-dir {}`",
                issued.info.id,
                self._data_dir,
            )
        user = self.accounts.ensure_initial()
        if user is not None:
            logger.info(
                "created the dashboard user {!r} (admin): print its first password with "
                "`appliance user show-initial --data-dir {}`",
                user.name,
                self._data_dir,
            )

    # -- requests ----------------------------------------------------------------------

    def verify(self, token: str) -> Principal | None:
        return self._tokens.verify(token) if self._tokens is not None else None

    def allows(self, principal: Principal | None, scope: Scope | str) -> bool:
        if not self.enabled:
            return True
        return principal is not None and principal.allows(Scope.parse(scope))

    def sign(self, path: str, ttl_s: float = 60) -> str:
        return self._signer.sign(path, ttl_s)

    def check_signature(self, path: str, query: Mapping[str, str]) -> bool:
        return self._signer.check(path, query)

    def signature(self, path: str, query: Mapping[str, str]) -> Signature:
        """Valid, expired (ours, too late: not a guess) or invalid."""
        return self._signer.verify(path, query)

    def sign_in(self, token: str, client: str) -> Principal | None:
        """A token pasted on the dashboard's login page by `client` (an address)."""
        key = (client,)
        self.guard.check(key)
        principal = self.verify(token.strip())
        if principal is None:
            self.guard.failed(key, "bad_token", token_id=token_id_of(token), path="/login")
        return principal

    # -- one-time sign-in links (README, Authentication) ----------------------------------

    def login_link(self, principal: Principal | None) -> LoginCode:
        """A code that signs a dashboard session in as `principal`'s token, once."""
        if not self.enabled:
            raise ConflictError("authentication is off (APPLIANCE_AUTH=0): no sign-in needed")
        if principal is None or self._token(principal.token_id) is None:
            raise ConflictError("only a bearer token can ask for a sign-in link")
        return self._links.issue(principal.token_id)

    def redeem_login_link(self, code: str, client: str) -> Principal:
        """Who the code signs in as; LoginLinkError if it is unknown, used, expired, or its
        token was revoked since."""
        key = (client,)
        self.guard.check(key)
        try:
            info = self._token(self._links.redeem(code))
            if info is None:
                raise LoginLinkError("the token this sign-in link was made for has been revoked")
        except LoginLinkError:
            self.guard.failed(key, "bad_code", path="/login")
            raise
        return Principal(token_id=info.id, name=info.name, scope=info.scope)

    def _token(self, token_id: str) -> TokenInfo | None:
        return next((info for info in self.list() if info.id == token_id), None)

    # -- managing tokens ---------------------------------------------------------------

    def create(self, name: str, scope: Scope | str) -> IssuedToken:
        return self._store().create(name, scope)

    def list(self) -> list[TokenInfo]:
        return self._store().list() if self._tokens is not None else []

    def revoke(self, token_id: str) -> TokenInfo:
        """Gone at once, in this process and (at their next request) in any other."""
        assert self.initial_token_path is not None
        return revoke(self._store(), self.initial_token_path, token_id)

    # -- people: passwords and dashboard sessions (README, Authentication) ----------------

    def check_password(self, name: str, password: str) -> Principal | None:
        """The one password check (the sign-in route calls it): the user's principal, or
        None for a wrong password or an unknown name alike. Blocking (~50 ms): run it off
        the event loop."""
        if self._accounts is None:
            return None
        info = self._accounts.check_password(name, password)
        return user_principal(info.name, info.role) if info is not None else None

    def open_session(self, principal: Principal) -> IssuedSession:
        """A dashboard session for a user or a token just checked."""
        epoch = ""
        if principal.user is not None:
            found = self.accounts.current(principal.user)
            if found is None:
                raise ConflictError(f"no user named {principal.user!r}")
            epoch = found[1]
        return self.sessions.open(principal.token_id, epoch)

    def session(self, session_id: str) -> SignedIn | None:
        """Who the session is now; None when it ended, expired, or its user was removed or
        got a new password or role, or its token was revoked (then it ends for good)."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        signed = self._signed_in(session.subject, session.epochs)
        if signed is None:
            self.sessions.end(session_id)
        return signed

    def _signed_in(self, subject: str, epochs: tuple[str, ...]) -> SignedIn | None:
        if subject.startswith(USER_PREFIX):
            found = self._accounts.current(subject[len(USER_PREFIX) :]) if self._accounts else None
            if found is None or found[1] not in epochs:
                return None
            info = found[0]
            return SignedIn(user_principal(info.name, info.role), info.must_change)
        token = self._token(subject)
        if token is None:
            return None
        return SignedIn(Principal(token_id=token.id, name=token.name, scope=token.scope))

    def end_session(self, session_id: str) -> bool:
        return self.sessions.end(session_id)

    # -- managing users: one method each, whoever asks ----------------------------------

    @property
    def accounts(self) -> Accounts:
        if self._accounts is None:
            raise RuntimeError("this AuthService has no data dir to keep users in")
        return self._accounts

    def list_users(self) -> list[UserInfo]:
        return self._accounts.list() if self._accounts is not None else []

    def add_user(
        self, name: str, role: Scope | str, password: str, must_change: bool = False
    ) -> UserInfo:
        return self.accounts.add(name, role, password, must_change)

    def remove_user(self, name: str) -> UserInfo:
        """Its sessions end at their next page or action."""
        return self.accounts.remove(name)

    def set_role(self, name: str, role: Scope | str) -> UserInfo:
        """Its sessions end: it signs in again with the new role."""
        return self.accounts.set_role(name, role)

    def change_password(
        self,
        name: str,
        password: str,
        *,
        must_change: bool = False,
        keep_session: str | None = None,
    ) -> UserInfo:
        """Every session of the user ends, but `keep_session` (the user's own, changing it)."""
        epoch = new_epoch()
        own = self.sessions.get(keep_session) if keep_session else None
        if own is None or own.subject != USER_PREFIX + valid_name(name):
            return self.accounts.change_password(name, password, must_change, epoch)
        assert keep_session is not None
        self.sessions.set_epochs(keep_session, *own.epochs, epoch)  # valid throughout
        try:
            return self.accounts.change_password(name, password, must_change, epoch)
        finally:
            found = self.accounts.current(name)
            self.sessions.set_epochs(keep_session, found[1] if found else "")

    def _store(self) -> TokenStore:
        if self._tokens is None:
            raise RuntimeError("this AuthService has no data dir to keep tokens in")
        return self._tokens

    def _signing_key(self) -> bytes:
        if self._key is None:
            if self._data_dir is None:
                self._key = secrets.token_bytes(32)
            else:
                self._key = load_or_create_secret(self._data_dir / URL_SECRET_FILE).encode()
        return self._key
