"""TRAINER_ADAPTER_CACHE: the same dataset, settings, base model and code reuse a trained adapter
(artifacts, events and metrics as the training gave them); anything else trains."""
import threading
from pathlib import Path

import pytest

from persona_trainer import adapter_cache
from persona_trainer.adapter_cache import CachedRunner, runner_from_env
from persona_trainer.api import Hyperparameters
from persona_trainer.train import Cancelled, RunSpec


class FakeTraining:
    """Stands in for train.run: writes artifacts that say which call made them, emits a loss curve."""

    def __init__(self):
        self.calls = 0

    def __call__(self, spec, emit, cancel):
        self.calls += 1
        spec.artifacts_dir.mkdir(parents=True, exist_ok=True)
        (spec.artifacts_dir / "adapter.gguf").write_bytes(f"adapter from call {self.calls}".encode())
        for step, loss in ((1, 2.5), (2, 2.1)):
            emit("step", step=step, total_steps=2, loss=loss)
        emit("eval", step=2, eval_loss=2.0)
        return {"final_eval_loss": 2.0, "frozen_perplexity": 9.5, "call": self.calls}


def spec_for(tmp_path: Path, job: str, base: Path, train=None, **hp) -> RunSpec:
    line = lambda i: {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
    return RunSpec(persona="glordon", base_model=str(base), hyperparameters=Hyperparameters(**hp),
                   train_lines=train or [line(1), line(2)], eval_lines=[line(3)],
                   checkpoints_dir=tmp_path / job / "checkpoints", artifacts_dir=tmp_path / job / "artifacts",
                   frozen_lines=[line(4)], frozen_ending="Bloop!")


@pytest.fixture
def base(tmp_path) -> Path:
    p = tmp_path / "base.gguf"
    p.write_bytes(b"GGUF not really")
    return p


def run(runner, spec, cancel=None):
    events = []
    metrics = runner(spec, lambda t, **f: events.append((t, f)), cancel or threading.Event())
    return metrics, events


def test_a_second_identical_job_reuses_the_adapter_events_and_metrics(tmp_path, base):
    inner = FakeTraining()
    runner = CachedRunner(inner, tmp_path / "cache")
    first, first_events = run(runner, spec_for(tmp_path, "j1", base))
    second, second_events = run(runner, spec_for(tmp_path, "j2", base))
    assert inner.calls == 1 and (runner.hits, runner.misses) == (1, 1)
    assert second == first
    assert (tmp_path / "j2/artifacts/adapter.gguf").read_bytes() == b"adapter from call 1"
    assert second_events[0][0] == "message" and "cached adapter" in second_events[0][1]["message"]
    assert second_events[1:] == first_events


@pytest.mark.parametrize("change", ["dataset", "hyperparameters", "base model file", "code"])
def test_anything_that_changes_the_adapter_trains_again(tmp_path, base, monkeypatch, change):
    inner = FakeTraining()
    runner = CachedRunner(inner, tmp_path / "cache")
    run(runner, spec_for(tmp_path, "j1", base))
    kwargs = {}
    if change == "dataset":
        kwargs["train"] = [{"messages": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "reply"}]}]
    elif change == "hyperparameters":
        kwargs["learning_rate"] = 1e-3
    elif change == "base model file":
        base.write_bytes(b"GGUF re-provisioned, longer")
    else:
        monkeypatch.setattr(adapter_cache, "code_fingerprint", lambda: "edited trainer code")
    metrics, _ = run(runner, spec_for(tmp_path, "j2", base, **kwargs))
    assert inner.calls == 2 and metrics["call"] == 2
    assert (tmp_path / "j2/artifacts/adapter.gguf").read_bytes() == b"adapter from call 2"


def test_a_resumed_job_always_trains_and_a_cancelled_hit_is_cancelled(tmp_path, base):
    inner = FakeTraining()
    runner = CachedRunner(inner, tmp_path / "cache")
    run(runner, spec_for(tmp_path, "j1", base))
    resumed = spec_for(tmp_path, "j2", base)
    resumed.resume = True
    run(runner, resumed)
    assert inner.calls == 2
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run(runner, spec_for(tmp_path, "j3", base), cancel)
    assert not (tmp_path / "j3/artifacts").exists()


def test_a_failed_training_stores_nothing_and_old_entries_are_pruned(tmp_path, base):
    def failing(spec, emit, cancel):
        emit("step", step=1, total_steps=2, loss=3.0)
        raise RuntimeError("out of memory")

    runner = CachedRunner(failing, tmp_path / "cache")
    with pytest.raises(RuntimeError):
        run(runner, spec_for(tmp_path, "j1", base))
    assert list((tmp_path / "cache").iterdir()) == []
    runner = CachedRunner(FakeTraining(), tmp_path / "cache", max_entries=2)
    for i in range(4):
        run(runner, spec_for(tmp_path, f"k{i}", base, seed=i))
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_configured_only_by_its_environment(tmp_path, monkeypatch):
    inner = FakeTraining()
    monkeypatch.delenv("TRAINER_ADAPTER_CACHE", raising=False)
    assert runner_from_env(inner) is inner
    monkeypatch.setenv("TRAINER_ADAPTER_CACHE", str(tmp_path / "c"))
    assert isinstance(runner_from_env(inner), CachedRunner)
    monkeypatch.setenv("TRAINER_ADAPTER_CACHE_MAX", "many")
    with pytest.raises(RuntimeError, match="TRAINER_ADAPTER_CACHE_MAX: expected a whole number"):
        runner_from_env(inner)
