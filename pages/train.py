"""Train page: start a background fine-tuning job, follow it live, cancel or resume it, see past jobs."""

from __future__ import annotations

import itertools
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lifecycle_core import jobs
from lifecycle_core.train_config import MODEL_KINDS, MODES, SPLITS, TrainConfig
from ui import state
from ui.escape import md
from ui.state import tr

info = state.analysis_page("train")
lang = state.lang()
ws = state.workspace()
state.show_flash()


@st.cache_resource
def _device() -> str:
    return jobs.default_device()


device = _device()
st.caption(tr("train.device", device=device))


def _new_name() -> str:
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in info.name)[:40].strip("-.") or "model"
    taken = jobs.taken_model_names(ws)
    return next(f"{base}-{n}" for n in itertools.count(1) if f"{base}-{n}" not in taken)


defaults = TrainConfig()
with st.form("train_form"):
    st.subheader(tr("train.form"))
    c0, c1, c2 = st.columns(3)
    kind = c0.selectbox(
        tr("train.kind"),
        MODEL_KINDS,
        format_func=state.fmt("train.kind."),
        help=tr("train.kind_help"),
        key=f"train_kind.{lang}",
    )
    name = c1.text_input(tr("train.model_name"), value=_new_name())
    mode = c2.selectbox(tr("train.mode"), MODES, format_func=state.fmt("train.mode."), key=f"train_mode.{lang}")
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input(tr("train.epochs"), 0.1, 50.0, float(defaults.epochs), 0.5)
    lr = c2.number_input(tr("train.learning_rate"), 1e-6, 1e-2, defaults.learning_rate, format="%.0e")
    batch = c3.number_input(tr("train.batch_size"), 1, 512, defaults.batch_size)
    max_len = c4.number_input(tr("train.max_length"), 16, 512, defaults.max_length, 16)
    c1, c2, c3 = st.columns(3)
    layers = c1.number_input(tr("train.train_layers"), 0, 48, defaults.train_layers)
    split = c2.selectbox(tr("train.split"), SPLITS, format_func=state.fmt("train.split."), key=f"train_split.{lang}")
    base = c3.text_input(tr("train.base_model"), value="")
    segments = st.checkbox(
        tr("train.segments"), value=defaults.text_segments, help=tr("train.segments_help"), key="train_segments"
    )
    submitted = st.form_submit_button(tr("train.start"), type="primary")

if submitted:
    try:
        cfg = TrainConfig(
            model_kind=kind,
            base_model=base.strip(),
            mode=mode,
            epochs=float(epochs),
            learning_rate=float(lr),
            batch_size=int(batch),
            max_length=int(max_len),
            train_layers=int(layers),
            split=split,
            text_segments=bool(segments),
        )
        job = jobs.submit(ws, info.name, name.strip(), cfg, device=device)
    except (ValueError, jobs.JobError) as exc:
        st.error(md(exc))
    else:
        key = "train.started" if job.state == jobs.RUNNING else "train.queued"
        state.flash("success", tr(key, id=job.id, name=job.model_name))
        st.rerun()


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 60:,.1f} min" if seconds >= 90 else f"{seconds:,.0f} s"


def _curves(job: jobs.Job) -> go.Figure | None:
    hist = pd.DataFrame(job.history)
    if hist.empty or "step" not in hist:
        return None
    fig = go.Figure()
    if "loss" in hist:
        h = hist.dropna(subset=["loss"])
        fig.add_scatter(x=h["step"], y=h["loss"], name=tr("train.loss"), mode="lines")
    if "eval_macro_f1" in hist:
        h = hist.dropna(subset=["eval_macro_f1"])
        fig.add_scatter(x=h["step"], y=h["eval_macro_f1"], name=tr("train.val_f1"), mode="lines+markers", yaxis="y2")
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title=tr("train.step"),
        yaxis={"title": tr("train.loss")},
        yaxis2={"title": tr("train.val_f1"), "overlaying": "y", "side": "right", "range": [0, 1]},
        legend={"orientation": "h"},
    )
    return fig


def _show_job(job: jobs.Job) -> None:
    st.progress(min(1.0, max(0.0, job.progress)), text=f"{job.model_name} · {job.message}")
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric(tr("train.state"), tr(f"train.state.{job.state}"))
    m2.metric(tr("train.step"), f"{job.step:,} / {job.max_steps:,}" if job.max_steps else "–")
    m3.metric(tr("train.loss"), f"{job.loss:.4f}" if job.loss is not None else "–")
    m4.metric(tr("train.val_f1"), f"{job.val_macro_f1:.3f}" if job.val_macro_f1 is not None else "–")
    m5.metric(tr("train.eta"), _minutes(job.eta_seconds) if job.state == jobs.RUNNING else "–")
    fig = _curves(job)
    if fig is not None:
        st.plotly_chart(fig, width="stretch", key=f"curves_{job.id}")
    with st.expander(tr("train.log")):
        st.code(jobs.log_tail(ws, job.id) or "…", language=None)


def _active() -> list[jobs.Job]:
    return [j for j in jobs.list_jobs(ws) if j.state in jobs.ACTIVE]


# The live view re-runs on its own every 2 s while a job is active; the rest of the page stays still.
@st.fragment(run_every=2 if _active() else None)
def live() -> None:
    st.subheader(tr("train.current"))
    active = _active()
    running = [j for j in active if j.state == jobs.RUNNING]
    if not running:
        st.caption(tr("train.none_running"))
    for job in running:
        _show_job(job)
        if st.button(tr("train.cancel"), key=f"cancel_{job.id}"):
            try:
                jobs.cancel(ws, job.id)
                st.toast(tr("train.cancelled", id=job.id))
            except jobs.JobError as exc:
                st.error(md(exc))
    for job in active:
        if job.state == jobs.QUEUED:
            st.info(tr("train.queued", id=job.id))
    if not active and st.session_state.get(state.TRAIN_WAS_ACTIVE):
        st.session_state[state.TRAIN_WAS_ACTIVE] = False
        st.rerun()  # the job just ended: refresh the whole page (history, timer off)
    st.session_state[state.TRAIN_WAS_ACTIVE] = bool(active)


live()

st.subheader(tr("train.history"))
history = [j for j in jobs.list_jobs(ws, refresh_states=False) if j.state in jobs.FINISHED]
if history:
    table = pd.DataFrame(
        {
            tr("train.col.id"): [j.id for j in history],
            tr("train.col.model"): [j.model_name for j in history],
            tr("train.col.dataset"): [j.dataset for j in history],
            tr("train.col.state"): [tr(f"train.state.{j.state}") for j in history],
            tr("train.col.f1"): [j.val_macro_f1 for j in history],
            tr("train.col.minutes"): [round((j.elapsed or 0) / 60, 1) for j in history],
            tr("train.col.created"): [time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at)) for j in history],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    for job in history:
        if job.state == jobs.FAILED and job.error:
            with st.expander(tr("train.error", id=job.id)):
                st.code(job.error, language=None)
    stopped = [j for j in history if j.state in (jobs.FAILED, jobs.CANCELLED)]
    if stopped:
        c1, c2 = st.columns([2, 1])
        pick = c1.selectbox(
            tr("train.resume_pick"),
            [j.id for j in stopped],
            format_func=lambda i: f"#{i} · {next(j.model_name for j in stopped if j.id == i)}",
            key="resume_pick",
        )
        if c2.button(tr("train.resume"), key="resume_btn"):
            try:
                new = jobs.resume(ws, int(pick))
            except jobs.JobError as exc:
                st.error(md(exc))
            else:
                state.flash("success", tr("train.resumed", id=new.id, old=pick))
                st.rerun()
