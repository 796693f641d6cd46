"""Optional access control for the dashboard.

A password is configured with the environment variable LIFECYCLE_PASSWORD or ``password`` in
``.streamlit/secrets.toml``; when one is set, every page asks for it once per browser session (compared in
constant time). Without one the dashboard is open (a local tool). Where an OIDC provider is configured in
``[auth]`` of secrets.toml, Streamlit's own ``st.login`` is used instead.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

from ui.state import tr

PASSWORD_ENV = "LIFECYCLE_PASSWORD"
SIGNED_IN = "signed_in"  # session key: this browser session gave the right password


def _secret(name: str):
    try:
        return st.secrets.get(name)
    except Exception:  # no secrets.toml at all: nothing configured
        return None


def configured_password() -> str | None:
    return os.environ.get(PASSWORD_ENV) or _secret("password")


def require_access() -> None:
    """Stop the script (after drawing a sign-in form) unless this session may see the dashboard."""
    if _secret("auth"):
        if not st.user.is_logged_in:
            st.title(tr("app.title"))
            st.button(tr("auth.login"), on_click=st.login, type="primary")
            st.stop()
        return
    password = configured_password()
    if not password or st.session_state.get(SIGNED_IN):
        return
    st.title(tr("app.title"))
    with st.form("sign_in"):
        given = st.text_input(tr("auth.password"), type="password")
        ok = st.form_submit_button(tr("auth.sign_in"), type="primary")
    if ok:
        if hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
            st.session_state[SIGNED_IN] = True
            st.rerun()
        st.error(tr("auth.wrong"))
    st.stop()


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
