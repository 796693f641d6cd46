"""The login: salted hashes, throttled guesses, sign-out, the idle timeout, the OIDC allow-list, and no
password in a training worker's environment."""

from __future__ import annotations

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from ui import auth

from .conftest import ROOT


def _app(tmp_path, monkeypatch, **env) -> AppTest:
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(tmp_path / "ws"))
    for k in ("LIFECYCLE_PASSWORD", "LIFECYCLE_PASSWORD_HASH"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    auth._global_fails.clear()
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
    for _ in range(auth.MAX_SESSION_FAILS):
        _sign_in(at, "guess")
        assert any("Wrong password" in e.value for e in at.error)
    _sign_in(at, "right-one")  # even the right password waits once the session is locked
    assert any("Too many wrong passwords" in e.value for e in at.error)
    assert _asks(at)


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


def _put(app, path: str) -> tuple[int, bytes]:
    """One PUT through an ASGI app, without a server."""
    import asyncio

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"x" * 100, "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "method": "PUT", "path": path, "headers": []}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def test_uploads_are_refused_until_the_session_signs_in(tmp_path, monkeypatch):
    """Streamlit takes uploads from any session with a websocket: the gate in front of it does not."""
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
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1")[0] == 204
    assert _put(gate, "/_stcore/upload_file/another-session/f1")[0] == 403
    at.button(key="auth_sign_out").click().run()
    assert _put(gate, f"/_stcore/upload_file/{sid}/f1")[0] == 403  # signed out
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
    auth._open_sessions["sess-1"] = __import__("time").time()
    assert run([back("clear_cache")]) == ["clear_cache"]  # signed in: passed on
    auth._open_sessions.pop("sess-1")
    monkeypatch.delenv("LIFECYCLE_PASSWORD")
    assert run([back("clear_cache")]) == ["clear_cache"]  # no sign-in configured: as before
