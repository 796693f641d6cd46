"""End to end in a real browser: `streamlit run app.py` on a free port with a temporary workspace, driven
by Playwright through Debian's chromium (browsers cannot be downloaded here).

Load the demo -> train a tiny model for a few steps on the Train page -> see the stage distribution ->
open a product's explanation -> download the actions CSV; every page is visited and must show no
exception. Screenshots go to the test's folder, and to $LIFECYCLE_SCREENSHOTS when set (the README's
images: LIFECYCLE_SCREENSHOTS=docs/img python -m pytest tests/test_e2e_browser.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lifecycle_core import jobs
from lifecycle_core.store import Workspace

from .conftest import ROOT, tiny_bert

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("no chromium here (.ci/run installs Debian's)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.slow
# server.py: the dashboard (app.py) behind the upload gate, as the README starts it.
STREAMLIT = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.headless", "true"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    ws_root = root / "ws"
    base = root / "tiny"
    from transformers import AutoTokenizer

    from lifecycle_core.model import default_encoder_path

    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    tiny_bert(tok.vocab_size).save_pretrained(base)
    tok.save_pretrained(base)
    with _serve(root, LIFECYCLE_WORKSPACE=str(ws_root)) as url:
        yield {"url": url, "ws": Workspace(ws_root), "base": str(base), "root": root}


@contextlib.contextmanager
def _serve(root: Path, **env_extra: str):
    """`streamlit run server.py` on a free port until the block ends; yields its URL."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("LIFECYCLE_PASSWORD", None)
    env.update(env_extra)
    log_path = root / f"streamlit-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*STREAMLIT, "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > end:
                raise RuntimeError("streamlit did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


def _settle(page, timeout: float = 120) -> None:
    """Wait until the app's script has finished (Streamlit's 'Running…' widget is gone for a moment)."""
    end = time.time() + timeout
    quiet_since = None
    while time.time() < end:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"the page kept running for more than {timeout} s")


def _check(page, shots: list[Path], name: str, folder: Path) -> None:
    """No exception on the page; a screenshot of it."""
    _settle(page)
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{name}: " + errors.first.inner_text()[:2000]
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    shots.append(path)


def test_demo_train_predict_explain_download(server, browser, tmp_path):
    url, ws = server["url"], server["ws"]
    folder = tmp_path / "screens"
    folder.mkdir()
    shots: list[Path] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.set_default_timeout(60_000)

    page.goto(url)
    page.get_by_text("Welcome to Lifecycle Studio").wait_for()
    _check(page, shots, "welcome", folder)

    # Load the demo on the Data page (the Welcome button would also train the full-size demo model).
    page.goto(f"{url}/data")
    page.get_by_role("button", name="Load the demo catalog").click()
    page.get_by_text("Demo catalog stored as dataset").wait_for(timeout=120_000)
    _check(page, shots, "data", folder)
    assert [d.name for d in ws.list_datasets()] == ["demo"]

    # Train a tiny model for a few steps.
    page.goto(f"{url}/train")
    page.get_by_label("Base model (empty: the packaged MiniLM)").fill(server["base"])
    page.get_by_label("Epochs").fill("0.1")
    page.get_by_label("Max text length (tokens)").fill("32")
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Job 1 started").wait_for()
    end = time.time() + 300
    while (job := jobs.get_job(ws, 1)).state in jobs.ACTIVE and time.time() < end:
        time.sleep(1)
    assert job.state == jobs.SUCCEEDED, jobs.log_tail(ws, 1)
    page.reload()
    _check(page, shots, "train", folder)

    # The stage distribution chart.
    page.goto(f"{url}/predictions")
    page.locator(".js-plotly-plot").first.wait_for()
    page.get_by_text("Stage distribution").first.wait_for()
    _check(page, shots, "predictions", folder)

    # A product's explanation: the plain sentence and the token highlights.
    page.goto(f"{url}/explain")
    page.get_by_text("Predicted", exact=False).first.wait_for(timeout=120_000)
    _check(page, shots, "explain", folder)

    page.goto(f"{url}/quality")
    page.get_by_text("Confusion matrix", exact=False).first.wait_for(timeout=120_000)
    _check(page, shots, "quality", folder)

    # The actions CSV.
    page.goto(f"{url}/actions")
    button = page.get_by_role("button", name="Download CSV").first
    button.wait_for(timeout=120_000)
    _check(page, shots, "actions", folder)
    with page.expect_download() as download:
        button.click()
    csv = Path(download.value.path()).read_text(encoding="utf-8-sig")
    header, *rows = csv.strip().splitlines()
    assert "product" in header.lower() and len(rows) > 0

    page.goto(f"{url}/anomalies")
    _check(page, shots, "anomalies", folder)

    page.goto(f"{url}/behaviour")
    page.get_by_text("Funnel per stage", exact=False).first.wait_for(timeout=120_000)
    _check(page, shots, "behaviour", folder)

    # The whole UI in Chinese: the switch in the sidebar.
    page.goto(f"{url}/predictions")
    page.get_by_text("中文").first.click()
    page.get_by_text("阶段分布").first.wait_for()
    _check(page, shots, "predictions_zh", folder)

    assert all(p.stat().st_size > 10_000 for p in shots)
    target = os.environ.get("LIFECYCLE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for p in shots:
            shutil.copy(p, Path(target) / p.name)


def _websocket_status(port: int, host: str) -> int:
    """The HTTP status of a websocket upgrade to Streamlit's stream with ``host`` as the Host header."""
    import base64
    import http.client

    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    con.putrequest("GET", "/_stcore/stream", skip_host=True)
    for k, v in {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }.items():
        con.putheader(k, v)
    con.endheaders()
    status = con.getresponse().status
    con.close()
    return status


def test_a_websocket_for_another_host_name_is_refused(server):
    """DNS rebinding: a page on evil.example that resolves to this machine cannot drive the dashboard."""
    port = int(server["url"].rsplit(":", 1)[1])
    assert _websocket_status(port, f"127.0.0.1:{port}") == 101
    assert _websocket_status(port, "evil.example") != 101


def test_after_sign_in_uploads_pass_the_gate(browser, tmp_path):
    """The gate lets a signed-in browser upload: a Shopify export is recognised on the Data page."""
    from tests import platform_exports as px

    export = tmp_path / "orders_export_1.csv"
    export.write_text(px.shopify_orders(), encoding="utf-8")
    with _serve(tmp_path, LIFECYCLE_WORKSPACE=str(tmp_path / "ws"), LIFECYCLE_PASSWORD="s3cret-pass") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"{url}/data")
        page.get_by_label("Password", exact=True).fill("s3cret-pass")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Upload files").wait_for(timeout=60_000)
        page.locator("input[type=file]").set_input_files(str(export))
        page.get_by_text("Recognised: Shopify orders export").wait_for(timeout=60_000)
        page.close()


def test_uploads_before_sign_in_are_refused_by_the_server(tmp_path):
    """With a password set, the server refuses files from a session that has not signed in (Streamlit's
    own endpoint took them: five 20 MiB files grew the server by 100 MiB)."""
    import http.client

    with _serve(tmp_path, LIFECYCLE_WORKSPACE=str(tmp_path / "ws"), LIFECYCLE_PASSWORD="s3cret-pass") as url:
        assert urllib.request.urlopen(url, timeout=10).status == 200  # the page (its sign-in form) is served
        # The request announces a 1 MiB body and waits (Expect: 100-continue) before sending it: the server
        # must refuse from the headers alone. Sending the body at once raced the refusal: the server closes
        # the connection unread, and the client's write failed with a broken pipe (CI, once).
        con = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
        con.putrequest("PUT", "/_stcore/upload_file/some-session/file-1")
        con.putheader("Content-Length", str(2**20))
        con.putheader("Expect", "100-continue")
        con.endheaders()
        reply = con.getresponse()  # a server that read on would answer 100 Continue and then time out here
        assert reply.status == 403 and reply.read() == b"sign in before uploading files"
        con.close()


def _session_of(url: str, cookie: str, resume: str | None = None) -> str:
    """Open Streamlit's websocket as a browser holding ``cookie`` would (naming ``resume`` to reconnect to
    it), ask for a script run and return the id of the session the server gave this connection."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    protocols = ["streamlit", "no-xsrf"] + ([resume] if resume else [])
    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    headers = {"Origin": url, "Cookie": f"{cookie}"}
    with connect(ws_url, subprotocols=protocols, additional_headers=headers, open_timeout=20) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        ws.send(rerun.SerializeToString())
        end = time.time() + 60
        while time.time() < end:
            msg = ForwardMsg()
            msg.ParseFromString(ws.recv(timeout=60))
            if msg.WhichOneof("type") == "new_session":
                return msg.new_session.initialize.session_id
    raise AssertionError("no new_session message from the server")


def test_a_stolen_session_id_opens_a_new_session(tmp_path):
    """Streamlit resumes the session a connection names; behind the gate only the browser that created
    it can: another browser naming the id (or a client without the page's cookie) gets a new session."""
    with _serve(tmp_path, LIFECYCLE_WORKSPACE=str(tmp_path / "ws"), LIFECYCLE_PASSWORD="s3cret-pass") as url:

        def page_cookie() -> str:
            with urllib.request.urlopen(url, timeout=10) as r:
                set_cookie = [v for k, v in r.getheaders() if k.lower() == "set-cookie" and "lifecycle_client" in v]
            assert set_cookie and "HttpOnly" in set_cookie[0]
            return set_cookie[0].split(";")[0]

        alice, eve = page_cookie(), page_cookie()
        assert alice != eve
        sid = _session_of(url, alice)
        assert _session_of(url, alice, resume=sid) == sid  # Alice's reconnect resumes her session
        assert _session_of(url, eve, resume=sid) != sid  # Eve names it: a session of her own
        assert _session_of(url, "", resume=sid) != sid
