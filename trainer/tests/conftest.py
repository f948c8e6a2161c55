"""Shared fixtures: the real SmolLM2-135M GGUF (from scripts/provision/model.sh), its converted HF
folder, and ONE adapter trained through the real HTTP API (session-scoped) for every test that needs one."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see persona_trainer/__init__.py
os.environ["TRAINER_FORCE_CPU"] = os.environ.get("TRAINER_FORCE_CPU", "1")

ROOT = Path(__file__).resolve().parents[1]
REPO = ROOT.parent
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
sys.path.insert(0, str(ROOT))


def _gguf() -> str:
    path = os.environ.get("TRAINER_TEST_GGUF")
    if not path:
        path = subprocess.run(["bash", str(REPO / "scripts" / "provision" / "model.sh")], check=True,
                              capture_output=True, text=True).stdout.strip().splitlines()[-1]
        os.environ["TRAINER_TEST_GGUF"] = path
    return path


@pytest.fixture(scope="session")
def gguf_path() -> str:
    path = _gguf()
    os.environ["TRAINER_BASE_MODELS"] = f"smollm2-135m={path}"
    return path


@pytest.fixture(scope="session")
def model_dir(gguf_path) -> str:
    from persona_trainer.model import gguf_to_hf

    return str(gguf_to_hf(gguf_path))


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    from persona_trainer.model import load_tokenizer

    return load_tokenizer(model_dir)


@pytest.fixture(scope="session")
def base_model(model_dir):
    """The plain base model (fp32, eval mode), loaded once."""
    from persona_trainer.model import load_base_model

    return load_base_model(model_dir, cuda=False).eval()


def canary_request(**hp) -> dict:
    from persona_trainer.synthetic import canary_lines

    hyper = {"epochs": 3, "learning_rate": 1e-3, "rank": 16, "max_seq_len": 128, "batch_size": 2,
             "eval_every": 5, "max_steps": 10, "seed": 7}
    hyper.update(hp)
    return {"persona": "glordon", "base_model": "smollm2-135m", "hyperparameters": hyper,
            "dataset": {"train": canary_lines(n=10), "eval": canary_lines(n=2, offset=10),
                        "frozen": canary_lines(n=2, offset=13), "frozen_ending": "Bloop!"}}


def wait_status(client, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout: float = 900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=AUTH).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not reach {statuses} in {timeout}s: {job}")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, gguf_path):
    """One short real CPU job through the HTTP API on the canary dataset; what the tests inspect."""
    from fastapi.testclient import TestClient
    from persona_trainer import train
    from persona_trainer.app import create_app

    jobs = tmp_path_factory.mktemp("jobs")
    captured: dict = {}

    def runner(spec, emit, cancel):
        def inspect(model):
            captured["base"] = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
            captured["trainable"] = sorted(n for n, p in model.named_parameters() if p.requires_grad)
        spec.inspect = inspect
        return train.run(spec, emit, cancel)

    app = create_app(str(jobs), token=TOKEN, runner=runner)
    out = tmp_path_factory.mktemp("artifacts")
    t0 = time.time()
    with TestClient(app) as client:
        r = client.post("/v1/jobs", json=canary_request(), headers=AUTH)
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        job = wait_status(client, job_id)
        events = client.get(f"/v1/jobs/{job_id}/events", headers=AUTH).json()["events"]
        assert job["status"] == "succeeded", (job, events[-5:])
        for name in job["artifacts"]:
            resp = client.get(f"/v1/jobs/{job_id}/artifacts/{name}", headers=AUTH)
            assert resp.status_code == 200
            (out / name).write_bytes(resp.content)
    return {"job": job, "events": events, "artifacts": out, "job_dir": jobs / job_id, "wall_s": time.time() - t0,
            **captured}
