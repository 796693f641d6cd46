"""Lifecycle Studio dashboard.

    streamlit run app.py

UI only: every page calls lifecycle_core; the workspace folder is $LIFECYCLE_WORKSPACE (default ./workspace).
"""

import streamlit as st

from ui import state

st.set_page_config(page_title="Lifecycle Studio", page_icon="📈", layout="wide")

pages = [
    st.Page("pages/data.py", title=state.tr("nav.data"), icon="🗂️", url_path="data", default=True),
    st.Page("pages/actions.py", title=state.tr("nav.actions"), icon="📦", url_path="actions"),
    st.Page("pages/anomalies.py", title=state.tr("nav.anomalies"), icon="🚨", url_path="anomalies"),
]
st.navigation(pages).run()
