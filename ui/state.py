"""Session-state keys and cached core objects shared by every page (the only place keys are named)."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from lifecycle_core.store import Workspace
from ui.i18n import LANGUAGES, t

LANG = "lang"
UPLOADS = "uploads"  # file_id -> FilePlan (or the read error report)
LAST_REPORT = "last_report"
FLASH = "flash"  # (kind, message) shown once after a rerun

WORKSPACE_ENV = "LIFECYCLE_WORKSPACE"


def workspace_path() -> Path:
    return Path(os.environ.get(WORKSPACE_ENV, "workspace")).expanduser().resolve()


@st.cache_resource
def _workspace(path: str) -> Workspace:
    return Workspace(path)


def workspace() -> Workspace:
    return _workspace(str(workspace_path()))


def lang() -> str:
    return st.session_state.get(LANG, "en")


def tr(key: str, **fmt: object) -> str:
    """Translate ``key`` into the current UI language."""
    return t(key, lang(), **fmt)


def fmt(prefix: str):
    """A format_func translating ``prefix + option``, with today's language bound now (not at call time)."""
    current = lang()
    return lambda option: t(f"{prefix}{option}", current)


def language_switch() -> None:
    # A radio, not a segmented control: a language can never be deselected.
    # The label stays the same in both languages: a widget whose label changes is a new widget to
    # Streamlit, and the choice would be lost on the very rerun that applies it.
    st.sidebar.radio("Language / 语言", options=list(LANGUAGES), format_func=LANGUAGES.get, key=LANG, horizontal=True)


def flash(kind: str, message: str) -> None:
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    item = st.session_state.pop(FLASH, None)
    if item:
        getattr(st, item[0])(item[1])


def page_setup() -> None:
    """Sidebar shared by every page. Called by each page (not app.py) so its widgets keep their
    state across reruns in every runner, AppTest included."""
    language_switch()
    st.sidebar.caption(f"{tr('app.workspace')}: `{workspace_path()}`")
