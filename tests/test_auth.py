"""The login: salted hashes, throttled guesses, sign-out, the idle timeout, the OIDC allow-list, and no
password in a training worker's environment."""

from __future__ import annotations

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from ui import auth, gate, sign_in_throttle

from .conftest import ROOT


def _app(tmp_path, monkeypatch, **env) -> AppTest:
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(tmp_path / "ws"))
    for k in ("LIFECYCLE_PASSWORD", "LIFECYCLE_PASSWORD_HASH"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    return at


def _asks(at: AppTest) -> bool:
    """Whether the page is the sign-in form."""
    return any(t.label == "Password" for t in at.text_input)


def _sign_in(at: AppTest, password: str) -> AppTest:
    at.text_input[0].set_value(password)
    at.button[0].click().run()
    return at


def test_a_salted_hash_signs_in_and_differs_each_time():
    h1, h2 = auth.hash_password("correct horse"), auth.hash_password("correct horse")
    assert h1 != h2 and h1.startswith("scrypt$") and "correct" not in h1
    assert auth.check_password("correct horse", h1) and not auth.check_password("wrong", h1)
    assert not auth.check_password("x", "scrypt$broken")


def test_the_hash_command_prints_a_line_for_secrets_toml():
    r = subprocess.run(
        [sys.executable, "-m", "ui.auth", "hash"], input="a long password\n", capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith('password_hash = "scrypt$')
    assert auth.check_password("a long password", line.split('"')[1])


def test_the_dashboard_takes_a_hashed_password_and_signs_out(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch, LIFECYCLE_PASSWORD_HASH=auth.hash_password("s3cret-密码"))
    assert _asks(at)
    _sign_in(at, "s3cret-密码")
    assert not at.exception and not _asks(at)
    at.button(key="auth_sign_out").click().run()
    assert _asks(at)  # signed out: the form again


def test_wrong_guesses_lock_the_session(tmp_path, monkeypatch):
    monkeypatch.setattr(auth.time, "sleep", lambda s: None)  # the half-second cost is not what is tested
    at = _app(tmp_path, monkeypatch, LIFECYCLE_PASSWORD="right-one")
    for _ in range(sign_in_throttle.MAX_SESSION_FAILS):
        _sign_in(at, "guess")
        assert any("Wrong password" in e.value for e in at.error)
    _sign_in(at, "right-one")  # even the right password waits once the session is locked
    assert any("Too many wrong passwords" in e.value for e in at.error)
    assert _asks(at)


def test_guesses_are_counted_across_processes_sessions_and_addresses(tmp_path):
    """The count lives in the workspace: another server process (or a restart) sees the same lock, and a
    guesser opening new sessions from one address is locked by address before everyone is."""
    from ui.sign_in_throttle import MAX_ADDRESS_FAILS, MAX_GLOBAL_FAILS, MAX_SESSION_FAILS, SignInThrottle

    path = tmp_path / "ws" / "sign_in_failures.sqlite"
    now = 1_000_000.0
    code = (
        "import sys; from ui.sign_in_throttle import SignInThrottle as T\n"
        f"t = T(sys.argv[1])\nfor i in range({MAX_SESSION_FAILS}): t.attempt({now} + i, 'sess-1', '203.0.113.9')"
    )
    r = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    here = SignInThrottle(path)  # this process: it sees the other one's guesses
    assert here.wait(now + 10, "sess-1", "203.0.113.9") == pytest.approx(50.0)
    assert here.wait(now + 61, "sess-1", "203.0.113.9") == 0.0  # a minute after the first: free again
    # New sessions from the same address: locked at the address limit, others still free.
    for i in range(MAX_ADDRESS_FAILS - MAX_SESSION_FAILS):
        assert here.wait(now + 20, f"new-{i}", "203.0.113.9") == 0.0
        here.attempt(now + 20, f"new-{i}", "203.0.113.9")  # a wrong guess: its row stays
    assert here.wait(now + 21, "another-new", "203.0.113.9") > 0
    assert here.wait(now + 21, "someone", "198.51.100.7") == 0.0
    for i in range(MAX_GLOBAL_FAILS - MAX_ADDRESS_FAILS):  # many addresses: everyone waits
        here.attempt(now + 22, f"s{i}", f"10.0.0.{i}")
    assert here.wait(now + 23, "someone", "198.51.100.7") > 0
    assert here.wait(now + 23, "someone", None) > 0


def test_guesses_sent_at_once_cannot_all_pass_one_count(tmp_path):
    """Checking a salted hash takes time: guesses counted only after the check all passed the same count
    (60 sessions at once were all let through). Each guess is counted before its check."""
    from concurrent.futures import ThreadPoolExecutor

    from ui.sign_in_throttle import MAX_GLOBAL_FAILS, SignInThrottle

    path, now = tmp_path / "ws" / "sign_in_failures.sqlite", 5_000_000.0
    SignInThrottle(path).clear()

    def guess(i: int):
        return SignInThrottle(path).attempt(now, f"s{i}", f"10.0.{i // 250}.{i % 250}")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(guess, range(2 * MAX_GLOBAL_FAILS)))
    assert sum(row is not None for _, row in results) == MAX_GLOBAL_FAILS
    assert all(wait > 0 for wait, row in results if row is None)
    # A right password takes its guess back.
    t = SignInThrottle(path)
    t.clear()
    wait, row = t.attempt(now, "s", None)
    t.succeeded(row)
    assert wait == 0 and t.wait(now, "s", None) == 0.0


def test_the_browser_cookie_is_found_among_odd_cookies_of_other_apps():
    token = "t" * 43
    for header in (
        f'prefs={{"k":1}}; {gate.COOKIE}={token}',
        f'a="x y\\"; {gate.COOKIE}="{token}"; b=2',
        f"{gate.COOKIE}={token}",
    ):
        assert gate.client_of({"headers": [(b"cookie", header.encode())]}) == token, header
    assert gate.client_of({"headers": [(b"cookie", f"{gate.COOKIE}=short".encode())]}) == ""
    assert gate.client_of({"headers": [(b"cookie", f"x{gate.COOKIE}={token}".encode())]}) == ""


def test_an_idle_session_is_asked_again(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch, LIFECYCLE_PASSWORD="right-one", LIFECYCLE_IDLE_MINUTES="30")
    _sign_in(at, "right-one")
    assert not _asks(at)
    at.session_state[auth.LAST_SEEN] = at.session_state[auth.LAST_SEEN] - 31 * 60
    at.run()
    assert _asks(at)


@pytest.mark.parametrize(
    "email, emails, domains, ok",
    [
        ("ana@shop.example", "", "", True),  # no list: the provider decides
        ("ana@shop.example", "", "shop.example", True),
        ("eve@evil.example", "", "shop.example", False),
        ("eve@evil.example", "eve@evil.example", "shop.example", True),
        (None, "", "shop.example", False),
    ],
)
def test_the_oidc_allow_list(monkeypatch, email, emails, domains, ok):
    monkeypatch.setattr(auth, "_secret", lambda name: {} if name == "auth" else None)
    monkeypatch.setenv("LIFECYCLE_ALLOWED_EMAILS", emails)
    monkeypatch.setenv("LIFECYCLE_ALLOWED_DOMAINS", domains)
    assert auth._allowed_account(email) is ok


def test_training_workers_get_no_password(monkeypatch):
    from lifecycle_core import jobs

    monkeypatch.setenv("LIFECYCLE_PASSWORD", "do-not-leak")
    monkeypatch.setenv("LIFECYCLE_PASSWORD_HASH", "scrypt$x")
    env = jobs.worker_env(str(ROOT))
    assert "LIFECYCLE_PASSWORD" not in env and "LIFECYCLE_PASSWORD_HASH" not in env
    assert str(ROOT) in env["PYTHONPATH"] and set(auth.SECRET_ENVS) == set(jobs.SECRET_ENV)


def _put(app, path: str, client: str = "", method: str = "PUT") -> tuple[int, bytes]:
    """One PUT (or ``method``) through an ASGI app, without a server, from the browser holding cookie
    ``client``."""
    import asyncio

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"x" * 100, "more_body": False}

    async def send(msg):
        sent.append(msg)

    headers = [(b"cookie", f"{gate.COOKIE}={client}".encode())] if client else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def test_uploads_are_refused_until_the_session_signs_in(tmp_path, monkeypatch):
    """Streamlit takes uploads from any session with a websocket: the gate in front of it does not."""
    from ui import gate as ui_gate
    from ui.gate import UploadGate

    async def streamlit(scope, receive, send):  # stands in for Streamlit's own upload route
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = UploadGate(streamlit)
    at = _app(tmp_path, monkeypatch, LIFECYCLE_PASSWORD="s3cret-pass")
    before = set(auth._open_sessions)
    assert _put(gate, "/_stcore/upload_file/some-session/f1") == (403, b"sign in before uploading files")
    _sign_in(at, "s3cret-pass")
    (sid,) = set(auth._open_sessions) - before  # this AppTest session, signed in
    browser, other = "b" * 43, "o" * 43
    ui_gate.bind(sid, browser)  # what the gate records when the browser's connection creates the session
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1", browser)[0] == 204
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1", other)[0] == 403  # its id, another browser
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1")[0] == 403  # its id, no cookie
    # Streamlit's route also deletes a session's file (DELETE), with no check of whose session it is.
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1", other, method="DELETE")[0] == 403
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1", browser, method="DELETE")[0] == 204
    assert _put(gate, "/_stcore/upload_file/another-session/f1", browser)[0] == 403
    at.button(key="auth_sign_out").click().run()
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1", browser)[0] == 403  # signed out
    # Idle past the timeout: refused again, as the page would ask for the password again.
    auth._open_sessions["idle-session"] = 1_000.0
    assert auth.uploads_allowed("idle-session", now=1_000.0 + 59 * 60)
    assert not auth.uploads_allowed("idle-session", now=1_000.0 + 61 * 60)
    monkeypatch.delenv("LIFECYCLE_PASSWORD")
    assert _put(gate, "/_stcore/upload_file/anyone/f1")[0] == 204  # no sign-in configured: open, as before


def test_cache_clearing_before_sign_in_is_dropped(tmp_path, monkeypatch):
    """Streamlit acts on clear_cache before the script runs: the gate drops it for unsigned sessions."""
    import asyncio

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from ui.gate import UploadGate

    def back(kind: str) -> bytes:
        msg = BackMsg()
        if kind == "clear_cache":
            msg.clear_cache = True
        elif kind == "load_git_info":
            msg.load_git_info = True
        elif kind == "backend_operation_request":  # runs a deferred download's export callable
            msg.backend_operation_request.deferred_file.file_id = "0" * 32
        else:
            msg.rerun_script.query_string = ""
        return msg.SerializeToString()

    hello = ForwardMsg()
    hello.new_session.initialize.session_id = "sess-1"

    def run(frames: list[bytes]) -> list[str]:
        got: list[str] = []

        async def streamlit(scope, receive, send):  # stands in for Streamlit's websocket endpoint
            await send({"type": "websocket.send", "bytes": hello.SerializeToString()})
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    return
                parsed = BackMsg()
                parsed.ParseFromString(msg["bytes"])
                got.append(parsed.WhichOneof("type"))

        queue = [{"type": "websocket.receive", "bytes": f} for f in frames] + [{"type": "websocket.disconnect"}]

        async def receive():
            return queue.pop(0)

        async def send(msg):
            return None

        asyncio.run(UploadGate(streamlit)({"type": "websocket", "path": "/_stcore/stream"}, receive, send))
        return got

    monkeypatch.setenv("LIFECYCLE_PASSWORD", "s3cret-pass")
    auth._open_sessions.pop("sess-1", None)
    assert run([back("clear_cache"), back("rerun")]) == ["rerun_script"]  # not signed in: dropped
    assert run([back("load_git_info"), back("backend_operation_request"), back("rerun")]) == ["rerun_script"]
    auth._open_sessions["sess-1"] = __import__("time").time()
    assert run([back("clear_cache")]) == ["clear_cache"]  # signed in: passed on
    auth._open_sessions.pop("sess-1")
    monkeypatch.delenv("LIFECYCLE_PASSWORD")
    assert run([back("clear_cache")]) == ["clear_cache"]  # no sign-in configured: as before


def test_a_session_is_resumed_only_by_the_browser_that_created_it(monkeypatch):
    """Streamlit resumes any session whose id a connection names (its reconnect protocol): the gate strips
    an id bound to another browser, so a stolen id gives a new, signed-out session."""
    import asyncio

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    def connect(client: str, resume: str | None, new_id: str) -> str:
        """One websocket through the gate; returns the session id Streamlit was asked to resume."""
        asked = {}

        async def streamlit(scope, receive, send):  # stands in for Streamlit's websocket endpoint
            proto = dict(scope["headers"]).get(b"sec-websocket-protocol", b"").decode()
            entries = proto.split(",")
            asked["id"] = entries[2] if len(entries) > 2 else ""
            hello = ForwardMsg()
            hello.new_session.initialize.session_id = asked["id"] or new_id
            await send({"type": "websocket.send", "bytes": hello.SerializeToString()})

        headers = [(b"sec-websocket-protocol", ("streamlit,xsrf" + (f",{resume}" if resume else "")).encode())]
        if client:
            headers.append((b"cookie", f"other=1; {gate.COOKIE}={client}".encode()))

        async def nothing(*_):
            return {"type": "websocket.disconnect"}

        asyncio.run(gate.UploadGate(streamlit)({"type": "websocket", "headers": headers}, nothing, nothing))
        return asked["id"]

    monkeypatch.setenv("LIFECYCLE_PASSWORD", "s3cret-pass")
    alice, eve = "a" * 43, "e" * 43
    assert connect(alice, None, "sess-alice") == ""  # a new session, bound to Alice's browser
    assert connect(alice, "sess-alice", "x") == "sess-alice"  # her reconnect resumes it
    assert connect(eve, "sess-alice", "sess-eve") == ""  # Eve names it: a new session instead
    assert connect("", "sess-alice", "sess-nobody") == ""  # no cookie: never resumed
    assert connect("not a token", "sess-alice", "sess-bad") == ""
    assert connect(eve, "sess-eve", "x") == "sess-eve"
    monkeypatch.delenv("LIFECYCLE_PASSWORD")
    assert connect(eve, "sess-alice", "x") == "sess-alice"  # no sign-in configured: as before


def test_the_page_gives_a_browser_its_cookie_once():
    import asyncio

    def get(headers, ctype=b"text/html; charset=utf-8"):
        sent = []

        async def page(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype)]})
            await send({"type": "http.response.body", "body": b"<html></html>"})

        async def send(msg):
            sent.append(msg)

        scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "scheme": "https"}
        asyncio.run(gate.UploadGate(page)(scope, None, send))
        return [v.decode() for k, v in sent[0]["headers"] if k == b"set-cookie"]

    (cookie,) = get([])
    name, value = cookie.split(";")[0].split("=", 1)
    assert name == gate.COOKIE and len(value) >= 43
    assert all(flag in cookie for flag in ("HttpOnly", "SameSite=Lax", "Path=/", "Secure"))
    assert get([(b"cookie", f"{gate.COOKIE}={value}".encode())]) == []  # it has one: kept
    assert get([], ctype=b"application/javascript") == []  # only with the page
