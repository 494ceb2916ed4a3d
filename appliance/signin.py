"""A dashboard URL that opens signed in, for `appliance open`: the local user's admin token
(DATA_DIR/admin.token, readable only by them) asks the running service for a one-time sign-in
code, and the link carries that code, which works once, for a minute, and is not the token.

Standard library only, like the launcher. Without a token to read, or when the service says
no, the plain URL is returned and the login page asks for a token as before.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

from appliance.auth.initial import INITIAL_TOKEN_FILE, read_initial

LOGIN_LINKS = "/v1/auth/login-links"
AUTH_OFF = 409  # the service runs without authentication: the dashboard needs no sign-in

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def signed_in_url(
    url: str, data_dir: Path, say: Callable[[str], None], timeout: float = 10.0
) -> str:
    """`url` as a one-time sign-in link that then shows `url`'s own page, or `url` as it is."""
    try:
        token = read_initial(data_dir / INITIAL_TOKEN_FILE)
    except OSError:  # not ours to read (another user's data dir)
        token = None
    if token is None:
        return url
    request = urllib.request.Request(
        urljoin(url, LOGIN_LINKS),
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with _no_proxy.open(request, timeout=timeout) as response:
            path = json.loads(response.read(65536))["path"]
    except urllib.error.HTTPError as exc:
        if exc.code != AUTH_OFF:
            say(f"no sign-in link (HTTP {exc.code}); sign in with a token on the page")
        return url
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
        say(f"no sign-in link ({exc}); sign in with a token on the page")
        return url
    if not isinstance(path, str) or not path.startswith("/login?"):
        return url
    page = urlsplit(url).path
    if page not in ("", "/"):
        path += f"&next={quote(page)}"
    return urljoin(url, path)
