"""Real trainer processes: a killed trainer resumes its job from the last checkpoint on restart;
cancel stops within one step and keeps the last checkpoint; DELETE removes the job's files."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import AUTH, TOKEN, canary_request

ROOT = Path(__file__).resolve().parents[1]


class Server:
    def __init__(self, jobs: Path, log: Path):
        self.jobs, self.log, self.proc = jobs, log, None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers=AUTH, timeout=30)

    def start(self):
        env = {**os.environ, "TRAINER_TOKEN": TOKEN, "TRAINER_JOBS_DIR": str(self.jobs)}
        self.proc = subprocess.Popen([sys.executable, "-m", "persona_trainer", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], cwd=ROOT, env=env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        raise AssertionError("trainer did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def events(self, job_id, after=0):
        return self.client.get(f"/v1/jobs/{job_id}/events", params={"after": after}).json()["events"]

    def wait(self, job_id, pred, timeout=600, what=""):
        deadline = time.time() + timeout
        while time.time() < deadline:
            evs = self.events(job_id)
            if pred(evs):
                return evs
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {evs[-5:]}\n{self.log.read_text()[-3000:]}")


@pytest.fixture
def server(tmp_path, gguf_path, model_dir):  # model_dir: the converted weights are cached before the server starts
    s = Server(tmp_path / "jobs", tmp_path / "server.log")
    s.start()
    yield s
    s.stop()


def small_job(**hp):
    body = canary_request(**{"max_seq_len": 64, "batch_size": 1, "eval_every": 2, "learning_rate": 5e-4, **hp})
    body["dataset"]["train"] = body["dataset"]["train"][:6]
    body["dataset"]["eval"] = body["dataset"]["eval"][:1]
    return body


def test_killed_trainer_resumes_its_job_from_the_last_checkpoint(server):
    job_id = server.client.post("/v1/jobs", json=small_job(max_steps=6, early_stopping_patience=0)).json()["id"]
    server.wait(job_id, lambda evs: any(e["type"] == "checkpoint" for e in evs), what="a checkpoint")
    server.kill()
    ckpts = sorted(int(p.name.split("-")[1]) for p in (server.jobs / job_id / "checkpoints").glob("checkpoint-*"))
    assert ckpts, "a checkpoint was on disk when the trainer died"
    server.start()
    evs = server.wait(job_id, lambda evs: any(e.get("status") in ("succeeded", "failed") for e in evs),
                      what="the resumed job to end")
    job = server.client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded", (job, evs[-5:])
    msgs = [e.get("message", "") for e in evs]
    assert any("restarted during this job" in m for m in msgs)
    assert any(m.startswith("resuming from checkpoint-") for m in msgs)
    resumed_steps = [e["step"] for e in evs if e["type"] == "step"]
    assert max(resumed_steps) == 6
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(set(seqs)), "events stay ordered across the restart"
    metrics = server.client.get(f"/v1/jobs/{job_id}/artifacts/metrics.json").json()
    assert metrics["resumed_from"].startswith("checkpoint-") and metrics["steps"] == 6
    assert not (server.jobs / job_id / "dataset").exists()


def test_cancel_stops_within_one_step_and_keeps_the_checkpoint_then_delete(server):
    job_id = server.client.post("/v1/jobs", json=small_job(max_steps=200, eval_every=100)).json()["id"]
    server.wait(job_id, lambda evs: any(e["type"] == "step" for e in evs), what="a first step")
    r = server.client.post(f"/v1/jobs/{job_id}/cancel")
    assert r.status_code == 202
    seen = max(e["step"] for e in server.events(job_id) if e["type"] == "step")
    evs = server.wait(job_id, lambda evs: any(e.get("status") == "cancelled" for e in evs), timeout=120,
                      what="cancelled")
    last = max(e["step"] for e in evs if e["type"] == "step")
    assert last <= seen + 1, f"cancel at step {seen} stopped at {last}"
    kept = list((server.jobs / job_id / "checkpoints").glob("checkpoint-*"))
    assert [p.name for p in kept] == [f"checkpoint-{last}"], kept
    assert not (server.jobs / job_id / "dataset").exists()
    job = server.client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["artifacts"] == []
    assert server.client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert not (server.jobs / job_id).exists()
    assert server.client.get(f"/v1/jobs/{job_id}").status_code == 404
