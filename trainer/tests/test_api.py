"""HTTP API: auth, 422s that name the field, routes, queueing, cancel, DELETE, dataset deletion,
restart recovery. Uses a fake runner (fast); the real training is in test_training.py."""
import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from persona_trainer.app import create_app
from persona_trainer.jobs import JobManager, JobStore
from persona_trainer.api import JobRequest
from persona_trainer.train import Cancelled

from conftest import AUTH, TOKEN, canary_request, wait_status


class FakeRunner:
    """Stands in for train.run: steps until released or cancelled, emitting step events."""

    def __init__(self):
        self.release = threading.Event()
        self.calls = []

    def __call__(self, spec, emit, cancel):
        self.calls.append(spec)
        step = 0
        while not self.release.is_set():
            if cancel.is_set():
                spec.checkpoints_dir.mkdir(parents=True, exist_ok=True)
                (spec.checkpoints_dir / f"checkpoint-{step}").mkdir()
                (spec.checkpoints_dir / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
                raise Cancelled()
            step += 1
            emit("step", step=step, total_steps=1000, loss=1.0, learning_rate=1e-4, tokens_per_s=10.0)
            time.sleep(0.02)
        spec.artifacts_dir.mkdir(parents=True, exist_ok=True)
        (spec.artifacts_dir / "metrics.json").write_text(json.dumps({"steps": step}))
        return {"steps": step, "final_eval_loss": 0.5}


@pytest.fixture
def env(tmp_path, gguf_path):
    runner = FakeRunner()
    app = create_app(str(tmp_path), token=TOKEN, runner=runner)
    with TestClient(app) as client:
        yield client, runner, tmp_path
        runner.release.set()


def test_refuses_to_start_without_token(tmp_path, monkeypatch):
    monkeypatch.delenv("TRAINER_TOKEN", raising=False)
    with pytest.raises(RuntimeError, match="TRAINER_TOKEN"):
        create_app(str(tmp_path))


def test_auth_and_health(env):
    client, _, _ = env
    h = client.get("/healthz")
    assert h.status_code == 200 and h.json()["device"] in ("cpu", "cuda") and h.json()["status"] == "ok"
    assert client.post("/v1/jobs", json=canary_request()).status_code == 401
    assert client.get("/v1/jobs/x", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/v1/jobs/doesnotexist", headers=AUTH).status_code == 404


def _asgi(app, path, headers, chunks, chunk=b"x" * 1024):
    """Calls the ASGI app directly: returns (status, how many body chunks the app read)."""
    import asyncio

    reads = 0

    async def receive():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": chunk, "more_body": reads < chunks}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), *headers], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), reads


def test_refuses_a_request_without_the_token_before_reading_its_body(tmp_path):
    app = create_app(str(tmp_path), token=TOKEN, runner=FakeRunner())
    # 1,000 chunks of 1 KiB offered: none may be read for a caller without the token.
    assert _asgi(app, "/v1/jobs", [], 1000) == (401, 0)
    assert _asgi(app, "/v1/jobs", [(b"authorization", b"Bearer nope")], 1000) == (401, 0)


def test_refuses_a_body_over_the_limit_with_413(tmp_path):
    app = create_app(str(tmp_path), token=TOKEN, runner=FakeRunner(), max_body_bytes=10 * 1024)
    auth = (b"authorization", f"Bearer {TOKEN}".encode())
    # Declared too large: refused before a byte is read.
    assert _asgi(app, "/v1/jobs", [auth, (b"content-length", str(300 * 1024 * 1024).encode())], 1000) == (413, 0)
    # Streamed without a length: refused once it passes the limit, the rest never read.
    status, reads = _asgi(app, "/v1/jobs", [auth], 1000)
    assert status == 413 and reads == 11
    # Within the limit it reaches the route (and this body is not JSON: 422 naming it).
    status, _ = _asgi(app, "/v1/jobs", [auth], 2)
    assert status == 422


def test_the_body_limit_comes_from_TRAINER_MAX_BODY_MB(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINER_MAX_BODY_MB", "0.01")
    app = create_app(str(tmp_path), token=TOKEN, runner=FakeRunner())
    assert _asgi(app, "/v1/jobs", [(b"authorization", f"Bearer {TOKEN}".encode())], 1000)[0] == 413
    monkeypatch.setenv("TRAINER_MAX_BODY_MB", "lots")
    with pytest.raises(RuntimeError, match="TRAINER_MAX_BODY_MB: expected a positive number"):
        create_app(str(tmp_path), token=TOKEN, runner=FakeRunner())


def test_only_the_design_routes_exist(env):
    client, _, _ = env
    routes = {(m, r.path) for r in client.app.routes if hasattr(r, "methods") for m in r.methods
              if r.path not in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")}
    assert routes == {("GET", "/healthz"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/{job_id}"),
                      ("GET", "/v1/jobs/{job_id}/events"), ("POST", "/v1/jobs/{job_id}/cancel"),
                      ("DELETE", "/v1/jobs/{job_id}"), ("GET", "/v1/jobs/{job_id}/artifacts/{name}")}


@pytest.mark.parametrize("mutate,field,reason", [
    (lambda b: b["hyperparameters"].update(rank="big"), "hyperparameters.rank", "integer"),
    (lambda b: b["hyperparameters"].update(lr=1), "hyperparameters.lr", "Extra inputs"),
    (lambda b: b.pop("persona"), "persona", "required"),
    (lambda b: b["dataset"]["train"][3]["messages"].pop(), "dataset.train[3]", "last turn must be an assistant turn"),
    (lambda b: b["dataset"]["train"][1]["messages"].insert(1, {"role": "assistant", "content": "hi"}),
     "dataset.train[1]", "messages[1]: expected a user turn"),
    (lambda b: b["dataset"]["eval"][0]["messages"][2].update(content=""), "dataset.eval[0].messages[2].content", "at least 1"),
    (lambda b: b["dataset"]["train"][2].update(persona="zorp"), "dataset.train[2].persona", "does not match"),
    (lambda b: b.update(base_model="no-such-model"), "base_model", "unknown"),
])
def test_bad_bodies_get_422_naming_the_field(env, mutate, field, reason):
    client, runner, tmp = env
    body = canary_request()
    mutate(body)
    r = client.post("/v1/jobs", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    err = r.json()
    assert any(d["field"] == field for d in err["detail"]), err
    assert reason in err["error"], err
    assert not list(tmp.glob("*/state.json")), "nothing is written for a rejected body"


def test_queue_cancel_succeed_delete(env):
    client, runner, tmp = env
    a = client.post("/v1/jobs", json=canary_request(), headers=AUTH).json()
    b = client.post("/v1/jobs", json=canary_request(), headers=AUTH).json()
    c = client.post("/v1/jobs", json=canary_request(), headers=AUTH).json()
    wait_status(client, a["id"], ("running",), 10)
    time.sleep(0.2)
    assert client.get(f"/v1/jobs/{b['id']}", headers=AUTH).json()["status"] == "queued", "one job runs at a time"
    assert (tmp / b["id"] / "dataset" / "train.jsonl").exists()
    # cancel a queued job: ends at once, dataset gone
    r = client.post(f"/v1/jobs/{b['id']}/cancel", headers=AUTH)
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert not (tmp / b["id"] / "dataset").exists()
    assert client.post(f"/v1/jobs/{b['id']}/cancel", headers=AUTH).status_code == 409
    # cancel the running job: stops, keeps its checkpoint, dataset gone
    assert client.post(f"/v1/jobs/{a['id']}/cancel", headers=AUTH).status_code == 202
    ja = wait_status(client, a["id"], timeout=10)
    assert ja["status"] == "cancelled"
    assert list((tmp / a["id"] / "checkpoints").glob("checkpoint-*"))
    assert not (tmp / a["id"] / "dataset").exists()
    # the next queued job starts, and succeeds
    wait_status(client, c["id"], ("running",), 10)
    runner.release.set()
    jc = wait_status(client, c["id"], timeout=10)
    assert jc["status"] == "succeeded" and jc["progress"]["fraction"] == 1.0
    assert jc["artifacts"] == ["metrics.json"]
    assert not (tmp / c["id"] / "dataset").exists(), "dataset deleted when the job ends"
    assert client.get(f"/v1/jobs/{c['id']}/artifacts/metrics.json", headers=AUTH).json()["steps"] > 0
    assert client.get(f"/v1/jobs/{c['id']}/artifacts/secret.txt", headers=AUTH).status_code == 404
    assert client.get(f"/v1/jobs/{a['id']}/artifacts/adapter.gguf", headers=AUTH).status_code == 404
    # events: ordered, DESIGN shape, after=N
    evs = client.get(f"/v1/jobs/{c['id']}/events", headers=AUTH).json()["events"]
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert evs[0]["type"] == "status" and evs[-1]["status"] == "succeeded"
    later = client.get(f"/v1/jobs/{c['id']}/events?after=3", headers=AUTH).json()["events"]
    assert later == evs[3:]
    # DELETE removes everything
    for j in (a, b, c):
        assert client.delete(f"/v1/jobs/{j['id']}", headers=AUTH).status_code == 204
        assert not (tmp / j["id"]).exists()
        assert client.get(f"/v1/jobs/{j['id']}", headers=AUTH).status_code == 404


def test_delete_a_running_job_stops_it_and_removes_it(env):
    client, runner, tmp = env
    a = client.post("/v1/jobs", json=canary_request(), headers=AUTH).json()
    wait_status(client, a["id"], ("running",), 10)
    assert client.delete(f"/v1/jobs/{a['id']}", headers=AUTH).status_code == 204
    assert not (tmp / a["id"]).exists()


def test_restart_resumes_running_jobs_or_fails_them_with_a_reason(tmp_path, gguf_path):
    store = JobStore(tmp_path)
    req = JobRequest.model_validate(canary_request())
    resumable = store.create(req)
    orphan = store.create(req)
    queued = store.create(req)
    for s in (resumable, orphan):
        store.update(s["id"], status="running", attempts=1)
    store.delete_dataset(orphan["id"])
    runner = FakeRunner()
    runner.release.set()
    manager = JobManager(store, runner=runner)
    manager.start()
    try:
        deadline = time.time() + 10
        while time.time() < deadline and store.load(queued["id"])["status"] != "succeeded":
            time.sleep(0.05)
    finally:
        manager.stop()
    assert store.load(resumable["id"])["status"] == "succeeded"
    assert [s.resume for s in runner.calls] == [True, False], "the interrupted job resumes first, from its checkpoint"
    o = store.load(orphan["id"])
    assert o["status"] == "failed" and "dataset is gone" in o["error"]
    assert store.load(queued["id"])["status"] == "succeeded"
    msgs = [e.get("message", "") for e in store.events(resumable["id"])]
    assert any("resumes from its last checkpoint" in m for m in msgs)


def test_idempotency_key_replay_returns_the_first_job(env, tmp_path):
    client, _, _ = env
    headers = {**AUTH, "Idempotency-Key": "bot-job-5f1c"}
    first = client.post("/v1/jobs", json=canary_request(), headers=headers)
    again = client.post("/v1/jobs", json=canary_request(), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(list(tmp_path.glob("*/state.json"))) == 1, "a replay starts no second job"
    other = client.post("/v1/jobs", json=canary_request(), headers={**AUTH, "Idempotency-Key": "bot-job-other"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    bad = client.post("/v1/jobs", json=canary_request(), headers={**AUTH, "Idempotency-Key": "x" * 200})
    assert bad.status_code == 422 and "idempotency-key" in bad.json()["error"].lower()
