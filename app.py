"""Lifecycle Studio dashboard.

    streamlit run server.py     # this dashboard behind the upload gate (ui/gate.py); or: streamlit run app.py

UI only: every page calls lifecycle_core; the workspace folder is $LIFECYCLE_WORKSPACE (default ./workspace).
"""

import streamlit as st

from ui import auth, state

st.set_page_config(page_title="Lifecycle Studio", page_icon="📈", layout="wide")
auth.require_access()  # every page runs through here: with a password configured, none shows without it
auth.sign_out_button()

# An empty workspace opens on the welcome page (one click: demo data + a trained model).
fresh = not state.workspace().list_datasets() or state.DEMO_JOB in st.session_state
pages = [
    st.Page("pages/welcome.py", title=state.tr("nav.welcome"), icon="👋", url_path="welcome", default=fresh),
    st.Page("pages/data.py", title=state.tr("nav.data"), icon="🗂️", url_path="data", default=not fresh),
    st.Page("pages/train.py", title=state.tr("nav.train"), icon="🧠", url_path="train"),
    st.Page("pages/predictions.py", title=state.tr("nav.predictions"), icon="📊", url_path="predictions"),
    st.Page("pages/explain.py", title=state.tr("nav.explain"), icon="🔍", url_path="explain"),
    st.Page("pages/quality.py", title=state.tr("nav.quality"), icon="🎯", url_path="quality"),
    st.Page("pages/behaviour.py", title=state.tr("nav.behaviour"), icon="🛒", url_path="behaviour"),
    st.Page("pages/actions.py", title=state.tr("nav.actions"), icon="📦", url_path="actions"),
    st.Page("pages/anomalies.py", title=state.tr("nav.anomalies"), icon="🚨", url_path="anomalies"),
]
# Our own sidebar links instead of Streamlit's automatic navigation: with a `pages/` folder next to
# app.py, the first session after a server start would otherwise list the folder's files ("app",
# "actions", ...) instead of these pages (the legacy multipage mode is decided before app.py runs).
page = st.navigation(pages, position="hidden")
for p in pages:
    st.sidebar.page_link(p)
st.sidebar.divider()
page.run()
