"""Optional access control for the dashboard.

    python -m ui.auth hash          # prints a salted hash of a password typed at the prompt

A password is configured as a salted scrypt hash (LIFECYCLE_PASSWORD_HASH, or ``password_hash`` in
``.streamlit/secrets.toml``) or in plain text (LIFECYCLE_PASSWORD or ``password``); when one is set, every
page asks for it (compared in constant time), wrong guesses are throttled (half a second each; 5 in a
minute lock the session, 10 the client address, 30 in all every sign-in, counted in the workspace so that
restarts and several server processes share the count: ui/sign_in_throttle.py), a session idle for
LIFECYCLE_IDLE_MINUTES (default 60) signs in again, and the sidebar has a sign-out button. Without one
the dashboard is open (a local tool). Where an OIDC provider is configured in ``[auth]`` of
secrets.toml, Streamlit's ``st.login`` is used instead, limited to ``allowed_emails`` /
``allowed_domains`` when they are set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys
import threading
import time

import streamlit as st

from ui.sign_in_throttle import SignInThrottle
from ui.state import tr, workspace_path

PASSWORD_ENV = "LIFECYCLE_PASSWORD"
HASH_ENV = "LIFECYCLE_PASSWORD_HASH"  # a salted scrypt hash: python -m ui.auth hash
IDLE_ENV = "LIFECYCLE_IDLE_MINUTES"
SECRET_ENVS = (PASSWORD_ENV, HASH_ENV)  # never passed on to training workers
SIGNED_IN = "signed_in"  # session key: this browser session gave the right password
LAST_SEEN = "auth_last_seen"
IDLE_MINUTES = 60.0  # a signed-in session idle this long signs in again
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _secret(name: str):
    try:
        return st.secrets.get(name)
    except Exception:  # no secrets.toml at all: nothing configured
        return None


def configured_password() -> str | None:
    """The configured secret: a salted hash (``LIFECYCLE_PASSWORD_HASH`` or ``password_hash`` in
    secrets.toml, preferred) or a plain password (``LIFECYCLE_PASSWORD`` or ``password``)."""
    return os.environ.get(HASH_ENV) or _secret("password_hash") or os.environ.get(PASSWORD_ENV) or _secret("password")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) of ``password``: what ``password_hash`` holds."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(given: str, configured: str) -> bool:
    """Whether ``given`` matches ``configured`` (a hash from hash_password, or a plain password), in
    constant time."""
    if configured.startswith("scrypt$"):
        try:
            _, n, r, p, salt, digest = configured.split("$")
            want = base64.b64decode(digest)
            got = hashlib.scrypt(
                given.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
            )
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(got, want)
    return hmac.compare_digest(given.encode("utf-8"), configured.encode("utf-8"))


def _allowed_account(email: str | None) -> bool:
    """OIDC: whether the signed-in account may enter. ``allowed_emails`` / ``allowed_domains`` in the
    ``[auth]`` section of secrets.toml (or LIFECYCLE_ALLOWED_EMAILS / LIFECYCLE_ALLOWED_DOMAINS, comma
    separated); with neither, every account the provider accepts."""
    auth = _secret("auth") or {}
    emails = {
        e.strip().lower()
        for e in (auth.get("allowed_emails") or os.environ.get("LIFECYCLE_ALLOWED_EMAILS", "").split(","))
        if e.strip()
    }
    domains = {
        d.strip().lower().lstrip("@")
        for d in (auth.get("allowed_domains") or os.environ.get("LIFECYCLE_ALLOWED_DOMAINS", "").split(","))
        if d.strip()
    }
    if not emails and not domains:
        return True
    e = (email or "").strip().lower()
    return bool(e) and (e in emails or e.rsplit("@", 1)[-1] in domains)


def _idle_minutes() -> float:
    try:
        return float(os.environ.get(IDLE_ENV, IDLE_MINUTES))
    except ValueError:
        return IDLE_MINUTES


def throttle() -> SignInThrottle:
    """Wrong guesses of every process serving this workspace."""
    return SignInThrottle(workspace_path() / "sign_in_failures.sqlite")


def _client_address() -> str | None:
    try:
        address = st.context.ip_address  # None on localhost: then the session and global limits hold
    except Exception:  # no client context (a bare script run)
        return None
    return address if isinstance(address, str) else None


# Sessions that have passed the sign-in, by Streamlit session id -> when last seen. Read by the upload
# gate (ui/gate.py), which runs in the server before any script: Streamlit's upload endpoint takes files
# from any session that holds a websocket, signed in or not.
_open_sessions: dict[str, float] = {}
_open_lock = threading.Lock()


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def _open(now: float) -> None:
    sid = _session_id()
    if sid:
        with _open_lock:
            _open_sessions[sid] = now


def _close() -> None:
    sid = _session_id()
    if sid:
        with _open_lock:
            _open_sessions.pop(sid, None)


def access_configured() -> bool:
    """Whether a password or an identity provider guards the dashboard."""
    return bool(_secret("auth") or configured_password())


def uploads_allowed(session_id: str, now: float | None = None) -> bool:
    """May this Streamlit session upload files? Always without a sign-in configured; otherwise only a
    session that signed in and was seen within the idle timeout."""
    if not access_configured():
        return True
    now = time.time() if now is None else now
    with _open_lock:
        seen = _open_sessions.get(session_id)
        if seen is not None and now - seen > 60 * _idle_minutes():
            _open_sessions.pop(session_id, None)
            seen = None
    return seen is not None


def sign_out() -> None:
    _close()
    for k in (SIGNED_IN, LAST_SEEN):
        st.session_state.pop(k, None)
    if _secret("auth"):
        st.logout()


def require_access() -> None:
    """Stop the script (after drawing a sign-in form) unless this session may see the dashboard."""
    if _secret("auth"):
        if not st.user.is_logged_in:
            st.title(tr("app.title"))
            st.button(tr("auth.login"), on_click=st.login, type="primary")
            st.stop()
        if not _allowed_account(st.user.get("email")):
            st.title(tr("app.title"))
            st.error(tr("auth.not_allowed"))
            st.button(tr("auth.sign_out"), on_click=st.logout)
            st.stop()
        _open(time.time())
        return
    password = configured_password()
    if not password:
        return
    now = time.time()
    if st.session_state.get(SIGNED_IN):
        if now - st.session_state.get(LAST_SEEN, now) > 60 * _idle_minutes():
            sign_out()  # idle too long: the password is asked again
        else:
            st.session_state[LAST_SEEN] = now
            _open(now)
            return
    st.title(tr("app.title"))
    with st.form("sign_in"):
        given = st.text_input(tr("auth.password"), type="password")
        ok = st.form_submit_button(tr("auth.sign_in"), type="primary")
    if ok:
        guesses, session, address = throttle(), _session_id(), _client_address()
        wait, attempt = guesses.attempt(now, session, address)  # counted before the check: no races
        if wait > 0:
            st.error(tr("auth.locked", seconds=f"{wait:.0f}"))
        elif check_password(given, password):
            st.session_state[SIGNED_IN] = True
            st.session_state[LAST_SEEN] = now
            guesses.succeeded(attempt)
            _open(now)
            st.rerun()
        else:
            time.sleep(0.5)  # a wrong guess costs time: throttles scripted guessing on one connection
            st.error(tr("auth.wrong"))
    st.stop()


def sign_out_button() -> None:
    """The sidebar's sign-out button, when there is a sign-in to end (app.py draws it once per run)."""
    if _secret("auth") or configured_password():
        st.sidebar.button(tr("auth.sign_out"), on_click=sign_out, key="auth_sign_out")


def current_user() -> str | None:
    """Who is signed in, for the record of their actions: the OIDC account's email (or name); None with a
    shared password or an open dashboard, where the page asks for a name instead."""
    if not _secret("auth"):
        return None
    try:
        if st.user.is_logged_in:
            return st.user.get("email") or st.user.get("name")
    except Exception:  # no identity provider answering: nobody in particular
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["hash"]:
        print("usage: python -m ui.auth hash   (then type the password; put the line in secrets.toml)", file=sys.stderr)
        return 2
    import getpass

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        print("error: use at least 8 characters", file=sys.stderr)
        return 2
    print(f'password_hash = "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
