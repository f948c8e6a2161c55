"""FastAPI app: exactly the DESIGN routes, bearer-token auth, 422 bodies that name the field."""
from __future__ import annotations

import re
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional

import torch
from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse

from . import __version__
from .api import ARTIFACTS, EventsPage, Health, JobCreated, JobRequest, JobView
from .guard import DEFAULT_MAX_BODY_MB, RequestGuard
from .jobs import JobConflict, JobManager, JobNotFound, JobStore


def _loc(loc) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _max_body_bytes(value: Optional[int]) -> int:
    if value is not None:
        return value
    raw = os.environ.get("TRAINER_MAX_BODY_MB", str(DEFAULT_MAX_BODY_MB))
    try:
        mb = float(raw)
    except ValueError:
        mb = -1
    if not mb > 0:
        raise RuntimeError(f"TRAINER_MAX_BODY_MB: expected a positive number of megabytes (got {raw!r})")
    return int(mb * 1024 * 1024)


def create_app(jobs_dir: Optional[str] = None, token: Optional[str] = None, runner=None, max_body_bytes: Optional[int] = None) -> FastAPI:
    jobs_dir = jobs_dir or os.environ.get("TRAINER_JOBS_DIR", "./jobs")
    token = token if token is not None else os.environ.get("TRAINER_TOKEN", "")
    if not token:
        raise RuntimeError("TRAINER_TOKEN is not set: the trainer refuses to start without a bearer token")
    limit = _max_body_bytes(max_body_bytes)
    store = JobStore(Path(jobs_dir))
    manager = JobManager(store, runner=runner)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        manager.start()
        yield
        manager.stop()

    app = FastAPI(title="persona-bot trainer", version=__version__, lifespan=lifespan)
    app.state.manager, app.state.store = manager, store
    # Every /v1/ route: the token and the body size are checked before the body is read (a route
    # dependency would run only after FastAPI has parsed the body).
    app.add_middleware(RequestGuard, token=token, max_body_bytes=limit)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        detail = []
        for e in exc.errors():
            loc, msg = list(e["loc"]), e["msg"].removeprefix("Value error, ")
            m = re.match(r"^(dataset)\.(train|eval)\[(\d+)\]\.(\w+): (.*)$", msg)
            if loc == ["body"] and m:  # whole-request rules name their field in the message
                loc, msg = ["body", m[1], m[2], int(m[3]), m[4]], m[5]
            detail.append({"loc": loc, "field": _loc(loc), "msg": msg, "type": e["type"]})
        summary = "; ".join(f"{d['field']}: {d['msg']}" for d in detail[:10])
        return JSONResponse({"error": summary, "detail": detail}, status_code=422)

    def _view(state: dict) -> dict:
        art = store.dir(state["id"]) / "artifacts"
        ready = [n for n in ARTIFACTS if (art / n).exists()] if state["status"] == "succeeded" else []
        metrics = {k: v for k, v in state.get("metrics", {}).items() if isinstance(v, (int, float)) and v is not None}
        return JobView(**{**state, "metrics": metrics, "artifacts": ready}).model_dump()

    def _load(job_id: str) -> dict:
        try:
            return store.load(job_id)
        except JobNotFound:
            raise HTTPException(404, f"no job {job_id}") from None

    @app.get("/healthz", response_model=Health)
    def healthz():
        cuda = torch.cuda.is_available()
        return Health(status="ok", device="cuda" if cuda else "cpu",
                      gpu=torch.cuda.get_device_name(0) if cuda else None, version=__version__)

    @app.post("/v1/jobs", status_code=201, response_model=JobCreated)
    def create_job(req: JobRequest, response: Response,
                   idempotency_key: Optional[str] = Header(None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
                                                           description="Replays with the same key return the first job (200) instead of starting another.")):
        try:
            state, created = manager.submit(req, idempotency_key)
        except ValueError as e:
            return JSONResponse({"error": f"base_model: {e}", "detail": [
                {"loc": ["body", "base_model"], "field": "base_model", "msg": str(e), "type": "value_error"}]}, status_code=422)
        if not created:
            response.status_code = 200
        return JobCreated(id=state["id"], status=store.load(state["id"])["status"])

    @app.get("/v1/jobs/{job_id}", response_model=JobView)
    def get_job(job_id: str):
        return _view(_load(job_id))

    @app.get("/v1/jobs/{job_id}/events", response_model=EventsPage, response_model_exclude_none=True)
    def get_events(job_id: str, after: int = 0):
        _load(job_id)
        return {"events": store.events(job_id, after)}

    @app.post("/v1/jobs/{job_id}/cancel", status_code=202, response_model=JobCreated)
    def cancel_job(job_id: str):
        _load(job_id)
        try:
            state = manager.cancel(job_id)
        except JobConflict as e:
            raise HTTPException(409, str(e)) from None
        return JobCreated(id=job_id, status=state["status"])

    @app.delete("/v1/jobs/{job_id}", status_code=204)
    def delete_job(job_id: str):
        _load(job_id)
        manager.delete(job_id)
        return Response(status_code=204)

    @app.get("/v1/jobs/{job_id}/artifacts/{name}")
    def get_artifact(job_id: str, name: str):
        state = _load(job_id)
        if name not in ARTIFACTS:
            raise HTTPException(404, f"unknown artifact {name}; one of {', '.join(ARTIFACTS)}")
        path = store.dir(job_id) / "artifacts" / name
        if state["status"] != "succeeded" or not path.exists():
            raise HTTPException(404, f"{name} is not ready (job is {state['status']})")
        media = "application/json" if name.endswith(".json") else "application/octet-stream"
        return FileResponse(path, media_type=media, filename=name)

    return app
