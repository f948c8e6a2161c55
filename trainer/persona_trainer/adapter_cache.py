"""A cache of trained adapters, for tests and the benchmarks' smoke size (TRAINER_ADAPTER_CACHE).

The same dataset, hyperparameters, base model and trainer code train the same adapter, so a test
that needs a trained adapter (not the act of training) can reuse one trained before instead of
spending minutes of CPU on it again. An entry is keyed by all of those (the code by a hash of this
package's source and the versions of torch, transformers and peft); a hit copies the stored
artifacts into the job, replays the events the training emitted and returns its metrics.

Never set it in production: a job's dataset would outlive the job in the cache (DESIGN: the
dataset lives only while the job runs). Resumed jobs and runs that inspect the model always train.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MAX_ENTRIES = 16


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """This package's source and the training libraries' versions: a change to either is a miss."""
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for dist in ("torch", "transformers", "peft"):
        try:
            h.update(f"{dist}=={version(dist)}\0".encode())
        except PackageNotFoundError:
            h.update(f"{dist} absent\0".encode())
    return h.hexdigest()


def cache_key(spec, device: str) -> str:
    from .model import resolve_base_model

    base = resolve_base_model(spec.base_model)
    stat = os.stat(base) if os.path.exists(base) else None
    identity = {
        "code": code_fingerprint(),
        "device": device,
        "base_model": spec.base_model,
        # The base model's file (size and mtime): a re-provisioned model is a different model.
        "base_file": [str(base), stat.st_size, stat.st_mtime_ns] if stat else [str(base)],
        "hyperparameters": spec.hyperparameters.model_dump(),
        "train": spec.train_lines,
        "eval": spec.eval_lines,
        "frozen": spec.frozen_lines,
        "frozen_ending": spec.frozen_ending,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


class CachedRunner:
    """Wraps a training runner (train.run's signature) with the cache under ``root``."""

    def __init__(self, inner: Callable, root: Path, max_entries: int = DEFAULT_MAX_ENTRIES, device: Callable[[], str] | None = None) -> None:
        self.inner = inner
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_entries = max_entries
        self.device = device or _device
        self.hits = 0
        self.misses = 0

    def __call__(self, spec, emit, cancel: threading.Event) -> dict:
        from .train import Cancelled

        if spec.resume or spec.inspect is not None:
            return self.inner(spec, emit, cancel)
        key = cache_key(spec, self.device())
        entry = self.root / key
        if (entry / "metrics.json").exists():
            if cancel.is_set():
                raise Cancelled()
            self.hits += 1
            log.info("adapter cache hit %s", key)
            shutil.copytree(entry / "artifacts", spec.artifacts_dir, dirs_exist_ok=True)
            emit("message", message="reused a cached adapter (TRAINER_ADAPTER_CACHE): this dataset, these settings and this trainer code trained it before")
            for type_, fields in json.loads((entry / "events.json").read_text()):
                emit(type_, **fields)
            os.utime(entry / "metrics.json")  # recently used: pruned last
            return json.loads((entry / "metrics.json").read_text())
        self.misses += 1
        recorded: list = []

        def record(type_: str, **fields) -> None:
            recorded.append([type_, fields])
            emit(type_, **fields)

        metrics = self.inner(spec, record, cancel)
        try:
            self._store(entry, spec.artifacts_dir, recorded, metrics)
        except OSError as e:  # the cache is an optimisation: a full disk must not fail the job
            log.warning("adapter cache: could not store %s: %s", key, e)
        return metrics

    def _store(self, entry: Path, artifacts: Path, events: list, metrics: dict) -> None:
        tmp = self.root / f".tmp-{entry.name}-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copytree(artifacts, tmp / "artifacts")
            (tmp / "events.json").write_text(json.dumps(events))
            (tmp / "metrics.json").write_text(json.dumps(metrics))  # last: its presence marks a whole entry
            try:
                os.rename(tmp, entry)
            except OSError:
                if not (entry / "metrics.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._prune()

    def _prune(self) -> None:
        entries = sorted((p for p in self.root.iterdir() if (p / "metrics.json").exists()),
                         key=lambda p: (p / "metrics.json").stat().st_mtime, reverse=True)
        for old in entries[self.max_entries:]:
            shutil.rmtree(old, ignore_errors=True)


def _device() -> str:
    from .model import cuda_available

    return "cuda" if cuda_available() else "cpu"


def runner_from_env(inner: Callable):
    """train.run, wrapped with the cache when TRAINER_ADAPTER_CACHE names a directory."""
    root = os.environ.get("TRAINER_ADAPTER_CACHE", "").strip()
    if not root:
        return inner
    raw = os.environ.get("TRAINER_ADAPTER_CACHE_MAX", str(DEFAULT_MAX_ENTRIES))
    if not raw.isdigit() or int(raw) < 1:
        raise RuntimeError(f"TRAINER_ADAPTER_CACHE_MAX: expected a whole number of entries, 1 or more (got {raw!r})")
    log.warning("TRAINER_ADAPTER_CACHE=%s: reusing adapters trained before on the same data (tests only; datasets are kept there)", root)
    return CachedRunner(inner, Path(root), int(raw))
