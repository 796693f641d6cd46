"""The server-side gate in front of what Streamlit handles before any of the app's script runs: no file
upload, no cache clearing and no taking over of a session from a browser that has not signed in.

    streamlit run server.py        # app.py behind this gate (server.py builds the st.App)

Streamlit accepts ``PUT /_stcore/upload_file/<session>/<file>`` from any session that holds a websocket,
and acts on a ``clear_cache`` message on the websocket, before the sign-in form has been drawn: an
unauthenticated client could fill the server's memory with uploads or empty every user's caches. This
ASGI middleware refuses such uploads (403) and drops such messages unless the session signed in
(``ui.auth.uploads_allowed``).

Streamlit also resumes a session for any connection that names its id (its reconnect protocol: the id is
the third entry of ``Sec-WebSocket-Protocol``), so whoever learns a signed-in session's id would be signed
in. The gate gives each browser a random ``HttpOnly`` cookie with the page and binds every session to the
cookie of the connection that created it: a connection naming a session bound to another browser (or
carrying no cookie) gets a new session instead, and uploads must carry the session's cookie too.

With no password or identity provider configured, everything passes, as before.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections import OrderedDict

from ui import auth

COOKIE = "lifecycle_client"
_UPLOAD = re.compile(r"/_stcore/upload_file/([^/]+)/")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")  # what secrets.token_urlsafe(32) gives
# The only BackMsg types a session that has not signed in may send: running the script (which draws the
# sign-in form and submits it), stopping it, and the heartbeat. Streamlit acts on the others itself,
# before any script runs: clear_cache (every user's caches), file_urls_request (upload URLs),
# backend_operation_request (runs a deferred download's export), load_git_info (the checkout's state),
# set_run_on_save and the debug messages.
_BEFORE_SIGN_IN = frozenset({"rerun_script", "stop_script", "app_heartbeat"})
MAX_BOUND = 100_000  # sessions remembered (oldest forgotten first: they cannot be resumed then)
_bound: OrderedDict[str, str] = OrderedDict()  # session id -> the browser cookie that created it
_bound_lock = threading.Lock()
_log = logging.getLogger(__name__)


def client_of(scope) -> str:
    """The browser's cookie on this request ('' when it has none or a malformed one). Read pair by pair:
    a strict cookie parser gives up on the whole header for one odd cookie of another app on the host."""
    for name, value in scope.get("headers") or []:
        if name.lower() != b"cookie":
            continue
        for pair in value.decode("latin-1").split(";"):
            key, _, val = pair.strip().partition("=")
            if key == COOKIE and _TOKEN.fullmatch(val.strip('"')):
                return val.strip('"')
    return ""


def bind(session_id: str, client: str) -> None:
    """Record that ``client`` created ``session_id`` (the first binding stays)."""
    if not session_id:
        return
    with _bound_lock:
        if session_id not in _bound:
            _bound[session_id] = client
            while len(_bound) > MAX_BOUND:
                _bound.popitem(last=False)


def belongs_to(session_id: str, client: str) -> bool:
    """Whether ``session_id`` was created by the browser holding ``client``."""
    with _bound_lock:
        return bool(client) and _bound.get(session_id) == client


class UploadGate:
    """ASGI middleware: uploads (adding or removing files) and Streamlit's own actions only for signed-in
    sessions, sessions only resumed by the browser that created them."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        kind = scope.get("type")
        if kind == "http":
            if scope.get("method") not in ("GET", "HEAD", "OPTIONS"):  # PUT adds a file, DELETE removes one
                hit = _UPLOAD.search(scope.get("path", ""))
                if hit and not self._may_upload(hit.group(1), client_of(scope)):
                    await send({"type": "http.response.start", "status": 403,
                                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})  # fmt: skip
                    await send({"type": "http.response.body", "body": b"sign in before uploading files"})
                    return
            await self.app(scope, receive, self._with_cookie(scope, send))
            return
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _may_upload(session_id: str, client: str) -> bool:
        if not auth.access_configured():
            return True
        return auth.uploads_allowed(session_id) and belongs_to(session_id, client)

    @staticmethod
    def _with_cookie(scope, send):
        """``send`` that gives a browser without our cookie one with the page (HTML responses only)."""
        if client_of(scope):
            return send
        secure = "; Secure" if scope.get("scheme") == "https" else ""

        async def cookie_send(msg) -> None:
            if msg.get("type") == "http.response.start":
                headers = list(msg.get("headers") or [])
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html"):
                    value = f"{COOKIE}={secrets.token_urlsafe(32)}; Path=/; HttpOnly; SameSite=Lax{secure}"
                    headers.append((b"set-cookie", value.encode("ascii")))
                    msg = {**msg, "headers": headers}
            await send(msg)

        return cookie_send

    async def _websocket(self, scope, receive, send) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        client = client_of(scope)
        scope = _without_foreign_session(scope, client)
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
                    bind(session["id"], client)
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
                    if back.WhichOneof("type") not in _BEFORE_SIGN_IN:
                        continue  # dropped: this session has not signed in
                return msg

        await self.app(scope, filtered_receive, watched_send)


def _without_foreign_session(scope, client: str):
    """The websocket's scope with the session id to resume removed from ``Sec-WebSocket-Protocol``
    unless this browser created that session: Streamlit then starts a new, signed-out session."""
    if not auth.access_configured():
        return scope
    headers = list(scope.get("headers") or [])
    for i, (name, value) in enumerate(headers):
        if name.lower() != b"sec-websocket-protocol":
            continue
        entries = [e.strip() for e in value.decode("latin-1").split(",")]
        if len(entries) >= 3 and entries[2] and not belongs_to(entries[2], client):
            _log.warning("a connection named a session another browser created; it gets a new session")
            headers[i] = (name, ",".join(entries[:2]).encode("latin-1"))
            return {**scope, "headers": headers}
    return scope
