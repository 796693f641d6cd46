"""The server-side gate in front of Streamlit's upload endpoint: no file reaches the server from a
session that has not signed in.

    streamlit run server.py        # app.py behind this gate (server.py builds the st.App)

Streamlit accepts ``PUT /_stcore/upload_file/<session>/<file>`` from any session that holds a websocket,
before any of the app's script has run, so the sign-in form alone cannot stop an unauthenticated client
from filling the server's memory with uploads. This ASGI middleware refuses such requests (403) unless
the session signed in (ui.auth.uploads_allowed); with no password or identity provider configured,
everything passes, as before.
"""

from __future__ import annotations

import re

from ui import auth

_UPLOAD = re.compile(r"/_stcore/upload_file/([^/]+)/")


class UploadGate:
    """ASGI middleware: uploads only from signed-in sessions."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") == "http" and scope.get("method") in ("PUT", "POST"):
            hit = _UPLOAD.search(scope.get("path", ""))
            if hit and not auth.uploads_allowed(hit.group(1)):
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})  # fmt: skip
                await send({"type": "http.response.body", "body": b"sign in before uploading files"})
                return
        await self.app(scope, receive, send)
