"""The first admin token: made on the first start with no tokens, kept in clear in
admin.token (0600) so that `appliance token show` can print it; deleting that file (or
revoking the token) leaves only its hash."""

from __future__ import annotations

from pathlib import Path

from appliance.auth.files import write_private
from appliance.auth.scopes import Scope
from appliance.auth.tokens import IssuedToken, TokenInfo, TokenStore, token_id_of

INITIAL_TOKEN_FILE = "admin.token"
INITIAL_TOKEN_NAME = "initial admin"


def ensure_initial_admin(store: TokenStore, path: Path) -> IssuedToken | None:
    """Make the first admin token when the store holds none; None when it holds some."""
    issued = store.create_if_empty(INITIAL_TOKEN_NAME, Scope.ADMIN)
    if issued is not None:
        write_private(path, (issued.token + "\n").encode())
    return issued


def read_initial(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def forget_initial(path: Path, revoked_id: str) -> bool:
    """Delete admin.token when the token it holds was just revoked."""
    token = read_initial(path)
    if token is not None and token_id_of(token) == revoked_id:
        path.unlink(missing_ok=True)
        return True
    return False


def revoke(store: TokenStore, initial_path: Path, token_id: str) -> TokenInfo:
    """Revoke a token; when it is the initial one, admin.token goes with it."""
    info = store.revoke(token_id)
    forget_initial(initial_path, info.id)
    return info
