"""Welcome page: what Lifecycle Studio does, and one button for the whole demo (data + model)."""

from __future__ import annotations

import streamlit as st

from lifecycle_core import jobs
from lifecycle_core.quickstart import DEMO_PRODUCTS, DEMO_WEEKS, start_demo
from ui import state
from ui.state import tr

state.page_setup()
ws = state.workspace()
st.title(tr("welcome.title"))
st.markdown(tr("welcome.intro"))

demo_job = st.session_state.get(state.DEMO_JOB)
if demo_job is None:
    st.caption(tr("welcome.what", products=DEMO_PRODUCTS, weeks=DEMO_WEEKS))
    if st.button(tr("welcome.button"), type="primary", key="welcome_start"):
        bar = st.progress(0.0, text=tr("data.working"))
        name, job = start_demo(ws, progress=lambda f, m: bar.progress(min(1.0, f), text=m))
        st.session_state[state.DEMO_JOB] = job.id
        st.session_state[state.DATASET_STORE] = name
        st.session_state[state.MODEL_STORE] = job.model_name
        st.rerun()
    st.page_link("pages/data.py", label=tr("welcome.own_data"), icon="🗂️")
else:

    @st.fragment(run_every=2)
    def follow() -> None:
        job = jobs.get_job(ws, demo_job)
        jobs.refresh(ws)
        st.progress(min(1.0, job.progress), text=f"{tr('welcome.training')} · {job.message}")
        if job.state == jobs.SUCCEEDED:
            st.session_state.pop(state.DEMO_JOB, None)
            st.switch_page("pages/predictions.py")
        elif job.state in (jobs.FAILED, jobs.CANCELLED):
            st.session_state.pop(state.DEMO_JOB, None)
            st.error(tr("welcome.failed", state=tr(f"train.state.{job.state}")))
            st.code(job.error or jobs.log_tail(ws, job.id), language=None)

    follow()
