"""The server-side gate in front of what Streamlit handles before any of the app's script runs: no file
upload and no cache clearing from a session that has not signed in.

    streamlit run server.py        # app.py behind this gate (server.py builds the st.App)

Streamlit accepts ``PUT /_stcore/upload_file/<session>/<file>`` from any session that holds a websocket,
and acts on a ``clear_cache`` message on the websocket, before the sign-in form has been drawn: an
unauthenticated client could fill the server's memory with uploads or empty every user's caches. This
ASGI middleware refuses such uploads (403) and drops such messages unless the session signed in
(``ui.auth.uploads_allowed``); with no password or identity provider configured, everything passes, as
before.
"""

from __future__ import annotations

import re

from ui import auth

_UPLOAD = re.compile(r"/_stcore/upload_file/([^/]+)/")
# BackMsg types a session may send only once signed in (handled by Streamlit itself, not by the script).
_GUARDED = frozenset({"clear_cache", "file_urls_request"})


class UploadGate:
    """ASGI middleware: uploads and cache clearing only from signed-in sessions."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        kind = scope.get("type")
        if kind == "http" and scope.get("method") in ("PUT", "POST"):
            hit = _UPLOAD.search(scope.get("path", ""))
            if hit and not auth.uploads_allowed(hit.group(1)):
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})  # fmt: skip
                await send({"type": "http.response.body", "body": b"sign in before uploading files"})
                return
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _websocket(self, scope, receive, send) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        session = {"id": ""}

        async def watched_send(msg) -> None:
            # The session id is in the server's first new_session message on this connection.
            if not session["id"] and msg.get("type") == "websocket.send" and msg.get("bytes"):
                fwd = ForwardMsg()
                try:
                    fwd.ParseFromString(msg["bytes"])
                except Exception:  # not ours to judge: Streamlit's own bytes
                    fwd = None
                if fwd is not None and fwd.WhichOneof("type") == "new_session":
                    session["id"] = fwd.new_session.initialize.session_id
            await send(msg)

        async def filtered_receive():
            while True:
                msg = await receive()
                data = msg.get("bytes") if msg.get("type") == "websocket.receive" else None
                if data and auth.access_configured() and not auth.uploads_allowed(session["id"]):
                    back = BackMsg()
                    try:
                        back.ParseFromString(data)
                    except Exception:  # Streamlit closes the connection on a bad frame itself
                        return msg
                    if back.WhichOneof("type") in _GUARDED:
                        continue  # dropped: this session has not signed in
                return msg

        await self.app(scope, filtered_receive, watched_send)
