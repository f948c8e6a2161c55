"""Eval every N steps, early stopping with patience 2, the best checkpoint kept and exported."""
import threading

import torch
from safetensors.torch import load_file

from persona_trainer.api import Hyperparameters
from persona_trainer.synthetic import canary_lines, chat_mix
from persona_trainer.train import RunSpec, run


def test_early_stopping_keeps_and_exports_the_best_checkpoint(tmp_path, gguf_path):
    # Memorising the canary at a high learning rate makes the loss on unrelated chat lines rise:
    # the first evaluation is the best one, and two worse ones stop the run.
    hp = Hyperparameters(learning_rate=3e-3, rank=8, max_seq_len=64, batch_size=1, eval_every=1,
                         max_steps=12, warmup_ratio=0.0, early_stopping_patience=2, seed=3)
    events = []
    spec = RunSpec("glordon", "smollm2-135m", hp, canary_lines(n=6), chat_mix(2, seed=9),
                   tmp_path / "checkpoints", tmp_path / "artifacts")
    metrics = run(spec, lambda t, **f: events.append({"type": t, **f}), threading.Event())
    evals = [v for _, v in metrics["eval_history"]]
    assert metrics["stopped_early"] and metrics["steps"] < 12, metrics["eval_history"]
    best = min(evals)
    best_step = metrics["eval_history"][evals.index(best)][0]
    assert evals[-2:] > [best, best] and len(evals) - 1 - evals.index(best) == 2, "patience 2"
    assert metrics["best_checkpoint"] == f"checkpoint-{best_step}"
    assert abs(metrics["final_eval_loss"] - best) < 1e-4, "the exported adapter is the best one, not the last"
    kept = tmp_path / "checkpoints" / metrics["best_checkpoint"]
    exported = load_file(str(tmp_path / "artifacts" / "adapter_model.safetensors"))
    in_ckpt = load_file(str(kept / "adapter_model.safetensors"))
    assert exported.keys() == in_ckpt.keys()
    assert all(torch.equal(exported[k], in_ckpt[k]) for k in exported)
    during = [e for e in events if e["type"] == "eval" and "message" not in e]
    assert [(e["step"], e["eval_loss"]) for e in during] == [tuple(x) for x in metrics["eval_history"]]
    assert [s for s, _ in metrics["eval_history"]] == list(range(1, len(evals) + 1)), "eval every step (eval_every=1)"
