"""Background training jobs with real worker processes and a tiny base model saved to disk."""

from __future__ import annotations

import os
import signal
import time

import pytest
from transformers import AutoTokenizer

from lifecycle_core import jobs
from lifecycle_core.demo import write_demo
from lifecycle_core.ingest import ingest
from lifecycle_core.model import default_encoder_path
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import Workspace
from lifecycle_core.train import TrainConfig, last_complete_checkpoint

from .conftest import tiny_bert


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny BERT and the packaged tokenizer saved as a local base model (workers load it by path)."""
    folder = tmp_path_factory.mktemp("tiny") / "tiny-bert"
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    tiny_bert(tok.vocab_size).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def jws(tmp_path, base):
    ws = Workspace(tmp_path / "ws")
    ingest(ws, "demo", [SourceFile.from_path(p) for p in write_demo(tmp_path / "files", 30, 40, seed=2)])
    return ws


def cfg(base, **kw) -> TrainConfig:
    return TrainConfig(
        **{
            "model_kind": "neural",
            "base_model": base,
            "batch_size": 16,
            "max_length": 32,
            "head_warmup_epochs": 1,
            "max_steps": 4,
            **kw,
        }
    )


def wait(ws, job_id, states, timeout=180, until=None):
    end = time.time() + timeout
    while time.time() < end:
        jobs.refresh(ws)
        job = jobs.get_job(ws, job_id)
        if job.state in states and (until is None or until(job)):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {jobs.get_job(ws, job_id)}; log:\n{jobs.log_tail(ws, job_id)}")


def test_a_job_trains_in_its_own_process_and_records_progress(jws, base):
    job = jobs.submit(jws, "demo", "m1", cfg(base))
    assert job.state == jobs.RUNNING and job.pid and job.pid != os.getpid()
    done = wait(jws, job.id, jobs.FINISHED)
    assert done.state == jobs.SUCCEEDED, jobs.log_tail(jws, job.id)
    assert done.step == 4 and done.max_steps == 4 and done.progress == 1.0
    assert done.val_macro_f1 is not None and any("loss" in h for h in done.history)
    assert (jobs.model_folder(jws, "m1") / "model" / "model.safetensors").exists()
    assert "step 4/4" in jobs.log_tail(jws, job.id)
    with pytest.raises(jobs.JobError, match="exists"):
        jobs.submit(jws, "demo", "m1", cfg(base))
    with pytest.raises(jobs.JobError, match="not valid"):
        jobs.submit(jws, "demo", "../evil", cfg(base))
    from lifecycle_core.cli import main

    assert main(["jobs", "--workspace", str(jws.root)]) == 0
    assert main(["jobs", "--workspace", str(jws.root), "--cancel", str(job.id)]) == 2  # finished: nothing to cancel


def test_a_stacked_job_trains_scores_and_says_what_it_reads(jws, base):
    job = jobs.submit(jws, "demo", "s1", cfg(base, model_kind="stacked"))
    done = wait(jws, job.id, jobs.FINISHED)
    assert done.state == jobs.SUCCEEDED, jobs.log_tail(jws, job.id)
    folder = jobs.model_folder(jws, "s1") / "model"
    assert (folder / "booster.txt").exists() and not (folder / "model.safetensors").exists()
    assert done.val_macro_f1 is not None and "reads" not in (done.error or "")
    assert "gradient boosting with signals" in jobs.log_tail(jws, job.id)
    from lifecycle_core.predict import load_predictions

    stored = load_predictions(jws, "s1", "demo")
    assert stored is not None and stored["product_id"].nunique() == 30


def test_one_job_per_device_and_the_queue_moves_on(jws, base):
    first = jobs.submit(jws, "demo", "a", cfg(base, max_steps=6), device="cpu")
    second = jobs.submit(jws, "demo", "b", cfg(base), device="cpu")
    assert first.state == jobs.RUNNING and second.state == jobs.QUEUED
    assert wait(jws, first.id, jobs.FINISHED).state == jobs.SUCCEEDED
    b = wait(jws, second.id, jobs.FINISHED)
    assert b.state == jobs.SUCCEEDED and b.started_at >= jobs.get_job(jws, first.id).finished_at - 1


def test_a_killed_worker_is_marked_failed_and_the_job_resumes(jws, base):
    # patience: no early stop, so the job is still running when it is killed (it ends in well under a
    # second after an early stop now that a model without a text part scores without the encoder).
    job = jobs.submit(jws, "demo", "k", cfg(base, max_steps=400, save_steps=5, patience=1000))
    ckpts = jobs.model_folder(jws, "k") / "checkpoints"
    running = wait(jws, job.id, (jobs.RUNNING,), until=lambda j: j.step >= 10 and any(ckpts.glob("checkpoint-*")))
    os.kill(running.pid, signal.SIGKILL)
    failed = wait(jws, job.id, (jobs.FAILED,))
    assert "stopped unexpectedly" in failed.error and failed.finished_at is not None
    # The kill may land while a checkpoint is being written: the resume starts from the newest complete one.
    last = int(last_complete_checkpoint(ckpts).name.split("-")[1])
    again = jobs.resume(jws, job.id)
    assert again.resumed_from == job.id and again.model_name == "k"
    # Let the resumed run log a step, then stop it: it continued from the checkpoint, not from 0.
    resumed = wait(jws, again.id, (jobs.RUNNING,), until=lambda j: any("loss" in h for h in j.history))
    assert resumed.step > last
    assert min(h["step"] for h in resumed.history if "loss" in h) > last
    jobs.cancel(jws, again.id)
    assert wait(jws, again.id, jobs.FINISHED).state == jobs.CANCELLED


def test_cancel_a_running_and_a_queued_job(jws, base):
    running = jobs.submit(jws, "demo", "r", cfg(base, max_steps=400, save_steps=50, patience=1000), device="cpu")
    queued = jobs.submit(jws, "demo", "q", cfg(base), device="cpu")
    assert jobs.cancel(jws, queued.id).state == jobs.CANCELLED
    wait(jws, running.id, (jobs.RUNNING,), until=lambda j: j.step > 0)
    jobs.cancel(jws, running.id)
    stopped = wait(jws, running.id, jobs.FINISHED)
    assert stopped.state == jobs.CANCELLED and stopped.error is None
    assert "cancelled" in jobs.log_tail(jws, running.id)
    with pytest.raises(jobs.JobError, match="nothing to cancel"):
        jobs.cancel(jws, running.id)
    with pytest.raises(jobs.JobError, match="no checkpoint"):
        jobs.resume(jws, queued.id)
