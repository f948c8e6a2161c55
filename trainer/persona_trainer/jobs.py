"""Job store on disk and the single-worker job manager.

Layout of one job, ``<jobs_dir>/<id>/``:
  state.json      id, persona, base_model, hyperparameters, status, progress, metrics, error, times
  events.jsonl    events in the DESIGN shape, one per line, seq strictly increasing
  dataset/        train.jsonl, eval.jsonl: only while the job is queued or running
  checkpoints/    Trainer checkpoints (best by eval loss and the last one)
  artifacts/      adapter_config.json, adapter_model.safetensors, adapter.gguf, metrics.json

One job runs at a time (one GPU, or the CPU); the rest wait in creation order. A trainer that
restarts finds jobs left "running": it resumes them from their last checkpoint when their dataset
is still there, and otherwise marks them failed with the reason.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import threading
import traceback
import uuid
from pathlib import Path
from typing import Optional

from .api import TERMINAL, Event, Hyperparameters, JobRequest, now_iso

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


class JobNotFound(KeyError):
    pass


class JobConflict(Exception):
    pass


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class JobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._seq: dict[str, int] = {}

    def dir(self, job_id: str) -> Path:
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise JobNotFound(job_id)
        return self.root / job_id

    def exists(self, job_id: str) -> bool:
        try:
            return (self.dir(job_id) / "state.json").exists()
        except JobNotFound:
            return False

    def create(self, req: JobRequest, idempotency_key: Optional[str] = None) -> dict:
        job_id = uuid.uuid4().hex[:16]
        d = self.dir(job_id)
        (d / "dataset").mkdir(parents=True)
        for split in ("train", "eval", "frozen"):
            with open(d / "dataset" / f"{split}.jsonl", "w") as f:
                for line in getattr(req.dataset, split):
                    f.write(json.dumps(line.model_dump(), ensure_ascii=False) + "\n")
        t = now_iso()
        state = {"id": job_id, "persona": req.persona, "base_model": req.base_model,
                 "hyperparameters": req.hyperparameters.model_dump(), "status": "queued",
                 "progress": {"step": 0, "total_steps": None, "fraction": 0.0, "eta_s": None},
                 "metrics": {}, "error": None, "created_at": t, "updated_at": t, "attempts": 0,
                 "idempotency_key": idempotency_key, "frozen_ending": req.dataset.frozen_ending}
        with self.lock:
            _write_json(d / "state.json", state)
            (d / "events.jsonl").touch()
        return state

    def load(self, job_id: str) -> dict:
        try:
            return json.loads((self.dir(job_id) / "state.json").read_text())
        except FileNotFoundError:
            raise JobNotFound(job_id) from None

    def update(self, job_id: str, **changes) -> dict:
        with self.lock:
            state = self.load(job_id)
            for k, v in changes.items():
                if isinstance(v, dict) and isinstance(state.get(k), dict):
                    state[k] = {**state[k], **v}
                else:
                    state[k] = v
            state["updated_at"] = now_iso()
            _write_json(self.dir(job_id) / "state.json", state)
            return state

    def all(self) -> list[dict]:
        out = []
        for p in self.root.glob("*/state.json"):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                log.warning("unreadable job state %s", p)
        return sorted(out, key=lambda s: s["created_at"])

    def _next_seq(self, job_id: str) -> int:
        if job_id not in self._seq:
            n = 0
            path = self.dir(job_id) / "events.jsonl"
            if path.exists():
                for line in path.read_text().splitlines():
                    try:
                        n = max(n, json.loads(line)["seq"])
                    except (ValueError, KeyError):
                        pass  # a torn last line from a kill
            self._seq[job_id] = n
        self._seq[job_id] += 1
        return self._seq[job_id]

    def append_event(self, job_id: str, type_: str, **fields) -> dict:
        with self.lock:
            if not self.exists(job_id):
                return {}
            event = Event(seq=self._next_seq(job_id), time=now_iso(), type=type_,
                          **{k: v for k, v in fields.items() if v is not None})
            data = event.model_dump(exclude_none=True)
            path = self.dir(job_id) / "events.jsonl"
            with open(path, "rb+") as f:  # drop a torn last line before appending
                f.seek(0, os.SEEK_END)
                if f.tell() > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        content = path.read_bytes()
                        f.seek(0)
                        f.truncate(content.rfind(b"\n") + 1)
                f.seek(0, os.SEEK_END)
                f.write((json.dumps(data) + "\n").encode())
            return data

    def events(self, job_id: str, after: int = 0) -> list[dict]:
        path = self.dir(job_id) / "events.jsonl"
        if not path.exists():
            raise JobNotFound(job_id)
        out = []
        for line in path.read_text().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev["seq"] > after:
                out.append(ev)
        return out

    def read_dataset(self, job_id: str) -> Optional[tuple[list[dict], list[dict]]]:
        d = self.dir(job_id) / "dataset"
        try:
            return tuple([json.loads(l) for l in (d / f"{s}.jsonl").read_text().splitlines() if l.strip()]
                         for s in ("train", "eval"))
        except FileNotFoundError:
            return None

    def read_frozen(self, job_id: str) -> list[dict]:
        """The job's frozen evaluation lines (none for a job stored before they existed)."""
        f = self.dir(job_id) / "dataset" / "frozen.jsonl"
        try:
            return [json.loads(l) for l in f.read_text().splitlines() if l.strip()]
        except FileNotFoundError:
            return []

    def delete_dataset(self, job_id: str) -> None:
        shutil.rmtree(self.dir(job_id) / "dataset", ignore_errors=True)

    def remove(self, job_id: str) -> None:
        with self.lock:
            shutil.rmtree(self.dir(job_id), ignore_errors=True)
            self._seq.pop(job_id, None)


class JobManager:
    """Runs one job at a time on a worker thread; the rest wait in order."""

    def __init__(self, store: JobStore, runner=None) -> None:
        from . import train
        from .adapter_cache import runner_from_env

        self.store = store
        self.runner = runner or runner_from_env(train.run)
        self.queue: "queue.Queue[Optional[tuple[str, bool]]]" = queue.Queue()
        self.current: Optional[str] = None
        self.cancel_event = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self._stop = False
        self.thread = threading.Thread(target=self._worker, name="trainer-worker", daemon=True)

    # ---- lifecycle
    def start(self) -> None:
        self.recover()
        self.thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop = True
        self.cancel_event.set()
        self.queue.put(None)
        self.thread.join(timeout)

    def recover(self) -> None:
        for state in self.store.all():
            jid, status = state["id"], state["status"]
            if status == "running":
                data = self.store.read_dataset(jid)
                if data is None:
                    self._finish(jid, "failed", error="the trainer restarted and this job's dataset is gone, so it cannot resume")
                elif state.get("attempts", 0) >= MAX_ATTEMPTS:
                    self._finish(jid, "failed", error=f"the trainer stopped during this job {state['attempts']} times; giving up")
                else:
                    self.store.update(jid, status="queued")
                    self.store.append_event(jid, "status", status="queued",
                                            message="the trainer restarted during this job; it resumes from its last checkpoint")
                    self.queue.put((jid, True))
            elif status == "queued":
                self.queue.put((jid, False))

    # ---- API operations
    def submit(self, req: JobRequest, idempotency_key: Optional[str] = None) -> tuple[dict, bool]:
        """Queues a job; with a key already used, returns that job instead (a client that lost the
        answer and asked again gets the same job, never a second one). Returns (state, created)."""
        from .model import resolve_base_model

        with self.store.lock:
            if idempotency_key:
                earlier = next((s for s in self.store.all() if s.get("idempotency_key") == idempotency_key), None)
                if earlier is not None:
                    return earlier, False
            resolve_base_model(req.base_model)  # ValueError -> 422 with the reason
            state = self.store.create(req, idempotency_key)
            self.store.append_event(state["id"], "status", status="queued", message="job queued")
        self.queue.put((state["id"], False))
        return state, True

    def cancel(self, job_id: str) -> dict:
        with self.store.lock:
            state = self.store.load(job_id)
            if state["status"] in TERMINAL:
                raise JobConflict(f"job is already {state['status']}")
            if state["status"] == "queued" and self.current != job_id:
                return self._finish(job_id, "cancelled", message="cancelled before it started")
            self.store.append_event(job_id, "message", message="cancel requested; stopping after the current step")
            if self.current == job_id:
                self.cancel_event.set()
            return state

    def delete(self, job_id: str, timeout: float = 120) -> None:
        with self.store.lock:
            self.store.load(job_id)
            if self.current != job_id:
                self.store.remove(job_id)
                return
        if self.current == job_id:
            self.cancel_event.set()
            waited = 0.0
            while self.current == job_id and waited < timeout:
                threading.Event().wait(0.1)
                waited += 0.1
        self.store.remove(job_id)

    # ---- worker
    def _finish(self, job_id: str, status: str, error: Optional[str] = None, message: Optional[str] = None, **extra) -> dict:
        self.store.delete_dataset(job_id)  # DESIGN: the dataset lives only while the job runs
        state = self.store.update(job_id, status=status, error=error, **extra)
        self.store.append_event(job_id, "status", status=status, message=message or error)
        return state

    def _emit(self, job_id: str):
        def emit(type_: str, **fields) -> None:
            self.store.append_event(job_id, type_, **fields)
            changes: dict = {}
            if fields.get("step") is not None and fields.get("total_steps"):
                s, t = fields["step"], fields["total_steps"]
                changes["progress"] = {"step": s, "total_steps": t, "fraction": round(min(1.0, s / t), 4),
                                       "eta_s": fields.get("eta_s")}
            m = {k: fields[k] for k in ("loss", "eval_loss", "learning_rate", "tokens_per_s") if fields.get(k) is not None}
            if m:
                changes["metrics"] = m
            if changes and self.store.exists(job_id):
                self.store.update(job_id, **changes)
        return emit

    def _worker(self) -> None:
        from .train import Cancelled, RunSpec, last_checkpoint

        while not self._stop:
            item = self.queue.get()
            if item is None:
                break
            job_id, resume = item
            with self.store.lock:  # pick-up and cancel/delete of a queued job do not interleave
                if not self.store.exists(job_id):
                    continue
                state = self.store.load(job_id)
                if state["status"] != "queued":
                    continue
                data = self.store.read_dataset(job_id)
                if data is None:
                    self._finish(job_id, "failed", error="the job's dataset is missing")
                    continue
                self.current = job_id
                self.cancel_event.clear()
                self.idle.clear()
                d = self.store.dir(job_id)
                state = self.store.update(job_id, status="running", attempts=state.get("attempts", 0) + 1)
                self.store.append_event(job_id, "status", status="running", message="training started")
            spec = RunSpec(persona=state["persona"], base_model=state["base_model"],
                           hyperparameters=Hyperparameters(**state["hyperparameters"]),
                           train_lines=data[0], eval_lines=data[1], checkpoints_dir=d / "checkpoints",
                           artifacts_dir=d / "artifacts", resume=resume,
                           frozen_lines=self.store.read_frozen(job_id), frozen_ending=state.get("frozen_ending"),
                           state={k: v for k, v in state.get("metrics", {}).items() if k == "initial_eval_loss"})
            try:
                initial = {}
                emit = self._emit(job_id)

                def emit_and_keep(type_, **f):
                    if type_ == "eval" and f.get("step") == 0 and f.get("eval_loss") is not None:
                        initial["initial_eval_loss"] = f["eval_loss"]
                        if self.store.exists(job_id):
                            self.store.update(job_id, metrics={"initial_eval_loss": f["eval_loss"]})
                    emit(type_, **f)

                metrics = self.runner(spec, emit_and_keep, self.cancel_event)
                if self.store.exists(job_id):
                    summary = {k: float(v) for k, v in metrics.items()
                               if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None}
                    self._finish(job_id, "succeeded", message="adapter ready", metrics=summary,
                                 progress={"fraction": 1.0, "eta_s": 0.0})
            except Exception as e:  # noqa: BLE001 - every failure becomes the job's reason
                if not self.store.exists(job_id):
                    pass
                elif self._stop:
                    pass  # shutting down: leave it running so the next start resumes it
                elif isinstance(e, Cancelled) or self.cancel_event.is_set():
                    ck = last_checkpoint(d / "checkpoints")
                    self._finish(job_id, "cancelled", message="cancelled" + (f"; kept {ck.name}" if ck else ""))
                else:
                    log.error("job %s failed: %s", job_id, traceback.format_exc())
                    self._finish(job_id, "failed", error=f"{type(e).__name__}: {e}")
            finally:
                self.current = None
                self.idle.set()
