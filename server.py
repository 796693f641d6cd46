"""Lifecycle Studio as a Streamlit ASGI app: the dashboard (app.py) behind the upload gate.

    streamlit run server.py

The same dashboard as ``streamlit run app.py``, with ui/gate.py in front of Streamlit's upload endpoint:
when a password or an identity provider is configured, files are accepted only from signed-in sessions.
"""

import streamlit as st
from starlette.middleware import Middleware

from ui.gate import UploadGate

app = st.App("app.py", middleware=[Middleware(UploadGate)])
