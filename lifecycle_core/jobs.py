"""Background training jobs: a queue in the workspace database, one worker process per running job.

    python -m lifecycle_core jobs --workspace ws            # list
    python -m lifecycle_core jobs --workspace ws --cancel 3

A job is a row in the ``jobs`` table (state, step, loss, validation metrics, ETA, history) and a folder
``WORKSPACE/jobs/<id>/`` with the worker's log. ``submit`` queues a job and starts it when its device
is free; the worker is a separate process in its own session (``python -m lifecycle_core.jobs worker``),
so closing the page or restarting the dashboard does not stop it, and it never runs in the Streamlit
script thread. ``refresh`` marks a job whose process has disappeared (killed, out of memory) as failed
and starts the next queued one; it is called whenever jobs are listed. A failed or cancelled job
resumes from its last checkpoint as a new job with the same model name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .train_config import TrainConfig

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
LOG_NAME = "log.txt"
_children: dict[int, subprocess.Popen] = {}  # workers started by this process, polled so none stays a zombie


class JobError(Exception):
    """A job request that cannot be honoured (name taken, nothing to resume, unknown job)."""


class _Cancelled(Exception):
    pass


@dataclass
class Job:
    id: int
    dataset: str
    model_name: str
    config: dict
    device: str
    state: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    progress: float = 0.0
    message: str = ""
    step: int = 0
    max_steps: int = 0
    loss: float | None = None
    val_macro_f1: float | None = None
    eta_seconds: float | None = None
    history: list = field(default_factory=list)
    error: str | None = None
    resume: bool = False
    resumed_from: int | None = None
    cancel_requested: bool = False

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at


def default_device() -> str:
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def _job(row) -> Job:
    d = dict(row)
    d["config"] = json.loads(d["config"])
    d["history"] = json.loads(d["history"] or "[]")
    d["resume"], d["cancel_requested"] = bool(d["resume"]), bool(d["cancel_requested"])
    d.pop("create_time", None)
    return Job(**d)


def list_jobs(ws, *, refresh_states: bool = True) -> list[Job]:
    """All jobs, newest first. Dead workers are detected first (see ``refresh``)."""
    if refresh_states:
        refresh(ws)
    with ws._connect() as con:
        return [_job(r) for r in con.execute("SELECT * FROM jobs ORDER BY id DESC")]


def get_job(ws, job_id: int) -> Job:
    with ws._connect() as con:
        row = con.execute("SELECT * FROM jobs WHERE id=?", (int(job_id),)).fetchone()
    if row is None:
        raise JobError(f"no job {job_id} in {ws.root}")
    return _job(row)


def job_folder(ws, job_id: int) -> Path:
    return ws.root / "jobs" / str(int(job_id))


def log_tail(ws, job_id: int, lines: int = 40) -> str:
    path = job_folder(ws, job_id) / LOG_NAME
    if not path.exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 64_000))
        return "\n".join(fh.read().decode("utf-8", "replace").splitlines()[-lines:])


_MODEL_NAME = re.compile(r"\w[\w.\-]{0,63}")


def check_model_name(name: str) -> None:
    """Model names become folder names: letters (any script), digits, ``_ . -``, at most 64, no ``..``."""
    from .store import visible_name

    # fullmatch: with match and "$", a trailing newline passed ("m1\n").
    if not visible_name(name) or not _MODEL_NAME.fullmatch(name) or ".." in name:
        raise JobError(
            f"model name {name!r} is not valid: use 1-64 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit"
        )


def taken_model_names(ws) -> set[str]:
    """Names of saved models and of every job's model: a new model needs a name outside this set."""
    names = {j.model_name for j in list_jobs(ws, refresh_states=False)}
    models = ws.root / "models"
    return names | ({p.name for p in models.iterdir()} if models.exists() else set())


def model_folder(ws, model_name: str) -> Path:
    return ws.root / "models" / model_name


def submit(
    ws,
    dataset: str,
    model_name: str,
    config: TrainConfig,
    *,
    device: str | None = None,
    start: bool = True,
    resume_of: int | None = None,
) -> Job:
    """Queue a training job (and start it when its device is free). The name must be new unless resuming."""
    check_model_name(model_name)
    ws.dataset(dataset)  # raises a clear error for an unknown dataset
    device = device or default_device()
    with ws._connect() as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            busy = con.execute(
                "SELECT id FROM jobs WHERE model_name=? AND state IN (?, ?)", (model_name, *ACTIVE)
            ).fetchone()
            if busy is not None:
                raise JobError(f"job {busy['id']} is already training a model named {model_name!r}")
            if resume_of is None and (model_folder(ws, model_name) / "model").exists():
                raise JobError(f"a model named {model_name!r} exists; choose another name")
            cur = con.execute(
                "INSERT INTO jobs (dataset, model_name, config, device, state, created_at, resume, resumed_from)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    dataset,
                    model_name,
                    json.dumps(config.to_dict()),
                    device,
                    QUEUED,
                    time.time(),
                    int(resume_of is not None),
                    resume_of,
                ),
            )
            job_id = cur.lastrowid
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    if start:
        launch_pending(ws)
    return get_job(ws, job_id)


def resume(ws, job_id: int, *, start: bool = True) -> Job:
    """Queue a failed or cancelled job again; it continues from its model's last checkpoint."""
    old = get_job(ws, job_id)
    if old.state not in (FAILED, CANCELLED):
        raise JobError(f"job {job_id} is {old.state}; only failed or cancelled jobs can be resumed")
    ckpt = model_folder(ws, old.model_name) / "checkpoints"
    if not ckpt.exists() or not any(ckpt.glob("checkpoint-*")):
        raise JobError(f"job {job_id} left no checkpoint to resume from; start a new job instead")
    config = TrainConfig(**old.config)
    return submit(ws, old.dataset, old.model_name, config, device=old.device, start=start, resume_of=old.id)


def cancel(ws, job_id: int) -> Job:
    """Cancel a queued job at once, or ask a running one to stop (it keeps its last checkpoint)."""
    job = get_job(ws, job_id)
    if job.state == QUEUED:
        _update(ws, job_id, state=CANCELLED, finished_at=time.time(), message="cancelled before it started")
    elif job.state == RUNNING and job.pid:
        _update(ws, job_id, cancel_requested=1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(job.pid, signal.SIGTERM)
    else:
        raise JobError(f"job {job_id} is {job.state}; nothing to cancel")
    return get_job(ws, job_id)


def _alive(pid: int | None, create_time: float | None) -> bool:
    """Is the worker still running? A zombie or a recycled pid (another start time) counts as dead."""
    import psutil

    if not pid:
        return False
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def refresh(ws) -> None:
    """Mark running jobs whose worker died as failed, then start queued jobs on free devices."""
    with ws._connect() as con:
        rows = con.execute("SELECT id, pid, create_time, started_at FROM jobs WHERE state=?", (RUNNING,)).fetchall()
    for r in rows:
        if r["pid"] and not _alive(r["pid"], r["create_time"]):
            _finish_if_running(
                ws,
                r["id"],
                FAILED,
                "the training process stopped unexpectedly (killed or out of memory); resume it from its last "
                "checkpoint",
            )
    launch_pending(ws)


def _finish_if_running(ws, job_id: int, state: str, error: str | None) -> None:
    with ws._connect() as con:
        con.execute(
            "UPDATE jobs SET state=?, error=COALESCE(error, ?), finished_at=? WHERE id=? AND state=?",
            (state, error, time.time(), job_id, RUNNING),
        )


def launch_pending(ws) -> list[int]:
    """Start the oldest queued job of every device that has no running job. Returns the started ids."""
    started = []
    with ws._connect() as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            busy = {r[0] for r in con.execute("SELECT device FROM jobs WHERE state=?", (RUNNING,))}
            picks = []
            for r in con.execute("SELECT id, device FROM jobs WHERE state=? ORDER BY id", (QUEUED,)):
                if r["device"] not in busy:
                    busy.add(r["device"])
                    picks.append(r["id"])
            for job_id in picks:
                # Claimed inside the transaction: two pages refreshing at once cannot start it twice.
                con.execute("UPDATE jobs SET state=?, started_at=? WHERE id=?", (RUNNING, time.time(), job_id))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    for job_id in picks:
        try:
            _spawn(ws, job_id)
            started.append(job_id)
        except OSError as exc:
            _finish_if_running(ws, job_id, FAILED, f"could not start the worker process: {exc}")
    return started


SECRET_ENV = ("LIFECYCLE_PASSWORD", "LIFECYCLE_PASSWORD_HASH")


def worker_env(root: str) -> dict[str, str]:
    """A training worker's environment: this process's, with the package on PYTHONPATH and without the
    dashboard's password (a worker needs none, and a process listing or a crash dump would show it)."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return env


def _spawn(ws, job_id: int) -> None:
    import psutil

    folder = job_folder(ws, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    root = str(Path(__file__).resolve().parent.parent)
    env = worker_env(root)
    with open(folder / LOG_NAME, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifecycle_core.jobs", "worker", str(ws.root), str(job_id)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not killed with the dashboard's process group
            env=env,
            cwd=root,
        )
    _children[proc.pid] = proc
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = None
    _update(ws, job_id, pid=proc.pid, create_time=created)


_COLUMNS = {
    "state",
    "pid",
    "create_time",
    "started_at",
    "finished_at",
    "progress",
    "message",
    "step",
    "max_steps",
    "loss",
    "val_macro_f1",
    "eta_seconds",
    "history",
    "error",
    "cancel_requested",
}


def _update(ws, job_id: int, **values) -> None:
    bad = set(values) - _COLUMNS
    if bad:
        raise ValueError(f"unknown job columns {sorted(bad)}")
    sets = ", ".join(f"{k}=?" for k in values)
    with ws._connect() as con:
        con.execute(f"UPDATE jobs SET {sets} WHERE id=?", (*values.values(), int(job_id)))


def run_worker(ws, job_id: int) -> int:
    """Body of the worker process: train, keep the job row current, finish in a final state."""
    from .train import train

    job = get_job(ws, job_id)
    if job.state != RUNNING:
        return 0
    _update(ws, job_id, pid=os.getpid(), message="starting")

    def on_term(signum, frame):
        raise _Cancelled()

    signal.signal(signal.SIGTERM, on_term)
    history: list[dict] = list(job.history)
    last_write = [0.0]

    def progress(fraction: float, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {fraction:5.1%} {message}", flush=True)
        now = time.time()
        if now - last_write[0] >= 1.0 or fraction >= 1.0:
            last_write[0] = now
            _update(ws, job_id, progress=float(fraction), message=message)

    def on_log(logs: dict) -> None:
        history.append(logs)
        values = {"step": int(logs.get("step", 0)), "max_steps": int(logs.get("max_steps", 0))}
        if "loss" in logs:
            values["loss"] = float(logs["loss"])
        if "eval_macro_f1" in logs:
            values["val_macro_f1"] = float(logs["eval_macro_f1"])
        if logs.get("eta_seconds") is not None:
            values["eta_seconds"] = float(logs["eta_seconds"])
        _update(ws, job_id, history=json.dumps(history, default=float), **values)

    state, error = SUCCEEDED, None
    try:
        result = train(
            ws,
            job.dataset,
            TrainConfig(**job.config),
            output_dir=model_folder(ws, job.model_name),
            progress=progress,
            on_log=on_log,
            resume=job.resume,
        )
        _update(ws, job_id, val_macro_f1=float(result.metrics["macro_f1"]), message="scoring every product-period")
        from .embedding_store import EmbeddingStore
        from .predict import score_dataset, store_predictions

        # Scored here, in the worker, so the Predictions page opens on finished results; the text vectors
        # are kept, so scoring the next version of the data encodes only its new texts.
        store = (
            EmbeddingStore.for_model(model_folder(ws, job.model_name) / "model")
            if getattr(result.model, "kind", "neural") == "neural"
            else None
        )
        preds = score_dataset(
            ws, job.dataset, result.model, examples=result.examples, embeddings=result.text_embeddings, store=store
        )
        store_predictions(ws, job.model_name, job.dataset, preds)
        _update(ws, job_id, progress=1.0, eta_seconds=0.0, message="done")
    except _Cancelled:
        state, error = CANCELLED, None
        print("cancelled; the last checkpoint is kept for resuming", flush=True)
    except BaseException as exc:  # every end is a final state, with its traceback
        state, error = FAILED, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        print(error, flush=True)
    _finish_if_running(ws, job_id, state, error)
    launch_pending(ws)  # the device is free: start the next queued job
    return 0 if state == SUCCEEDED else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "worker":
        print("usage: python -m lifecycle_core.jobs worker WORKSPACE JOB_ID", file=sys.stderr)
        return 2
    from .store import Workspace

    return run_worker(Workspace(argv[1]), int(argv[2]))


if __name__ == "__main__":
    sys.exit(main())
