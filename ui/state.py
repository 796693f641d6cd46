"""Session-state keys and cached core objects shared by every page (the only place keys are named)."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from lifecycle_core.store import Workspace
from ui.i18n import LANGUAGES, t

LANG = "lang"  # the language radio's widget key
LANG_STORE = "ui_lang"  # the chosen language; a plain key, so it survives page switches
DATASET = "dataset"  # the dataset picker's widget key
DATASET_STORE = "ui_dataset"
UPLOADS = "uploads"  # the uploaded files, their plans and the read report (pages/data.py)
LAST_REPORT = "last_report"
FLASH = "flash"  # (kind, message) shown once after a rerun
TRAIN_WAS_ACTIVE = "train_was_active"  # the Train page saw an active job on its last run
MODEL_STORE = "ui_model"  # the chosen model on the model pages
DEMO_JOB = "demo_job"  # the one-click demo's training job, followed on the Welcome page

WORKSPACE_ENV = "LIFECYCLE_WORKSPACE"


def workspace_path() -> Path:
    return Path(os.environ.get(WORKSPACE_ENV, "workspace")).expanduser().resolve()


@st.cache_resource
def _workspace(path: str) -> Workspace:
    return Workspace(path)


def workspace() -> Workspace:
    return _workspace(str(workspace_path()))


def lang() -> str:
    return st.session_state.get(LANG_STORE, "en")


def tr(key: str, **fmt: object) -> str:
    """Translate ``key`` into the current UI language."""
    return t(key, lang(), **fmt)


def fmt(prefix: str):
    """A format_func translating ``prefix + option``, with today's language bound now (not at call time)."""
    current = lang()
    return lambda option: t(f"{prefix}{option}", current)


def _remember(widget_key: str, store_key: str) -> None:
    st.session_state[store_key] = st.session_state[widget_key]


def language_switch() -> None:
    # Widget state is dropped when a page without that widget runs, so the choice is kept under a
    # plain session key and the radio is re-created from it on every page.
    # The label stays the same in both languages: a widget whose label changes is a new widget.
    options = list(LANGUAGES)
    st.sidebar.radio(
        "Language / 语言",
        options=options,
        index=options.index(lang()),
        format_func=LANGUAGES.get,
        key=LANG,
        horizontal=True,
        on_change=_remember,
        args=(LANG, LANG_STORE),
    )


def stage_names() -> list[str]:
    """Stage names in the UI language, in stage order (chart axes and category orders)."""
    from lifecycle_core.stages import Stage

    return [Stage(s).label(lang()) for s in Stage]


def stage_colors() -> dict[str, str]:
    """Stage name in the UI language -> the stage's colour (stages.py), for every chart."""
    from lifecycle_core.stages import Stage

    return {Stage(s).label(lang()): Stage(s).color for s in Stage}


def flash(kind: str, message: str) -> None:
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    item = st.session_state.pop(FLASH, None)
    if item:
        getattr(st, item[0])(item[1])


def page_setup() -> None:
    """Sidebar shared by every page. Called by each page (not app.py) so its widgets keep their
    state across reruns in every runner, AppTest included."""
    from ui.auth import require_access

    language_switch()
    require_access()  # also here, not only in app.py: a page must never render without access
    st.sidebar.caption(f"{tr('app.workspace')}: `{workspace_path()}`")


def dataset_selector():
    """The dataset picker shared by the analysis pages; returns its DatasetInfo, or None when there is none."""
    ws = workspace()
    names = [d.name for d in ws.list_datasets()]
    if not names:
        st.info(tr("common.no_dataset"))
        return None
    current = st.session_state.get(DATASET_STORE)
    if current not in names:
        current = names[-1]
        st.session_state[DATASET_STORE] = current
    name = st.sidebar.selectbox(
        tr("common.dataset"),
        names,
        index=names.index(current),
        key=f"{DATASET}.{lang()}",
        on_change=_remember,
        args=(f"{DATASET}.{lang()}", DATASET_STORE),
    )
    return ws.dataset(name)


def analysis_page(key: str):
    """Header of a page that analyses one dataset: sidebar, title, intro and the dataset picker.
    Stops the page (after saying why) when the workspace has no dataset yet."""
    page_setup()
    st.title(tr(f"{key}.title"))
    st.caption(tr(f"{key}.intro"))
    info = dataset_selector()
    if info is None:
        st.stop()
    return info


def model_selector(info, *, require: bool = True):
    """The trained-model picker (models trained on this dataset), shared by the model pages. Returns the
    chosen name; without a model it says so, links to Train and stops the page (when ``require``)."""
    from lifecycle_core.predict import list_models

    models = [m for m in list_models(workspace()) if m["dataset"] == info.name]
    if not models:
        if require:
            st.info(tr("predictions.no_model"))
            st.page_link("pages/train.py", label=tr("nav.train"), icon="🧠")
            st.stop()
        return None
    names = [m["name"] for m in models]
    f1 = {m["name"]: m["macro_f1"] for m in models}
    current = st.session_state.get(MODEL_STORE)
    name = st.sidebar.selectbox(
        tr("predictions.model"),
        names,
        index=names.index(current) if current in names else 0,
        format_func=lambda n: f"{n} (F1 {f1[n]})",
        key=f"model_pick.{info.name}",
    )
    st.session_state[MODEL_STORE] = name
    return name
