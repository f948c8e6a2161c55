"""One training run: setup -> train -> save -> cleanup (torchtune-style), driven by the job manager.

CPU: LoRA with fp32 weights, under bf16 autocast where the CPU has native bf16 (AVX512-BF16 or
AMX: 1.6x the tokens/s of fp32 on 2 Zen 4 cores; TRAINER_CPU_BF16=0 turns it off). CUDA: 4-bit NF4 QLoRA (double quantization), bf16, gradient checkpointing,
paged 8-bit AdamW, Liger kernels when installed (imported only on CUDA).
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from . import __version__
from .api import Hyperparameters
from .data import IGNORE, ListDataset, PackedCollator, build_examples, dataset_hash, pack_examples
from .gguf_export import export_adapter_gguf
from .model import cuda_available, load_base_model, load_tokenizer, local_model_dir, lora_config, resolve_base_model

log = logging.getLogger(__name__)
Emit = Callable[..., None]


class Cancelled(Exception):
    pass


@dataclass
class RunSpec:
    persona: str
    base_model: str
    hyperparameters: Hyperparameters
    train_lines: list[dict]
    eval_lines: list[dict]
    checkpoints_dir: Path
    artifacts_dir: Path
    resume: bool = False
    state: dict = field(default_factory=dict)  # metrics persisted across restarts (initial_eval_loss)
    frozen_lines: list[dict] = field(default_factory=list)  # the persona's frozen evaluation set (never trained on)
    frozen_ending: Optional[str] = None  # the card's declared ending (left out of the *_no_ending perplexities)
    inspect: Optional[Callable] = None  # tests: called with the trained PEFT model before cleanup


def last_checkpoint(checkpoints_dir: Path) -> Optional[Path]:
    if not checkpoints_dir.exists():
        return None
    ckpts = [p for p in checkpoints_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1]), default=None)


def plan_steps(n_packs: int, hp: Hyperparameters) -> int:
    per_epoch = max(1, math.ceil(n_packs / (hp.batch_size * hp.grad_accum)))
    total = math.ceil(per_epoch * hp.epochs)
    return min(total, hp.max_steps) if hp.max_steps else total


def _liger_available() -> bool:
    if os.environ.get("TRAINER_USE_LIGER", "1") == "0":
        return False
    try:
        import liger_kernel  # noqa: F401  (only ever imported on CUDA hosts)
        return True
    except Exception:
        return False


def cpu_bf16() -> bool:
    """bf16 autocast on CPU only where the CPU computes bf16 natively: elsewhere it is emulated
    and slower than fp32. TRAINER_CPU_BF16=0/1 overrides the check."""
    forced = os.environ.get("TRAINER_CPU_BF16", "auto")
    if forced in ("0", "1"):
        return forced == "1"
    native = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(f() for f in native if f is not None)


def run(spec: RunSpec, emit: Emit, cancel: threading.Event) -> dict:
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed
    from peft import get_peft_model

    hp = spec.hyperparameters
    started = time.time()
    cuda = cuda_available()
    cpu_autocast = not cuda and cpu_bf16()
    precision = "4-bit QLoRA, bf16" if cuda else ("bf16 autocast" if cpu_autocast else "fp32")

    # ---- setup
    base = resolve_base_model(spec.base_model)
    model_dir = local_model_dir(base)
    tokenizer = load_tokenizer(model_dir)
    train_ex = [e for e in build_examples(tokenizer, spec.train_lines, hp.max_seq_len) if e.n_target > 0]
    eval_ex = [e for e in build_examples(tokenizer, spec.eval_lines, hp.max_seq_len) if e.n_target > 0]
    n_trunc = sum(e.truncated for e in train_ex + eval_ex)
    if not train_ex:
        raise ValueError("no training line has assistant tokens left within max_seq_len")
    if n_trunc:
        emit("message", message=f"{n_trunc} line(s) over max_seq_len={hp.max_seq_len} tokens were truncated (oldest turns after the system turn dropped)")
    train_packs = pack_examples(train_ex, hp.max_seq_len)
    eval_packs = pack_examples(eval_ex, hp.max_seq_len)
    total_steps = plan_steps(len(train_packs), hp)
    if cancel.is_set():
        raise Cancelled()

    set_seed(hp.seed)
    model = load_base_model(model_dir, cuda)
    model = get_peft_model(model, lora_config(hp))
    if cancel.is_set():
        raise Cancelled()

    has_eval = bool(eval_packs)
    warmup_steps = int(round(hp.warmup_ratio * total_steps))
    extra = {}
    if cuda:
        extra.update(bf16=True, optim="paged_adamw_8bit", gradient_checkpointing=True,
                     gradient_checkpointing_kwargs={"use_reentrant": False}, use_liger_kernel=_liger_available())
    else:
        # The LoRA weights and AdamW stay fp32; matmuls run in bf16 (Trainer's CPU autocast).
        extra.update(use_cpu=True, optim="adamw_torch", bf16=cpu_autocast)
    args = TrainingArguments(
        output_dir=str(spec.checkpoints_dir),
        num_train_epochs=hp.epochs,
        max_steps=total_steps,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.grad_accum,
        learning_rate=hp.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=warmup_steps,
        weight_decay=hp.weight_decay,
        seed=hp.seed,
        data_seed=hp.seed,
        logging_steps=1,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=hp.eval_every,
        save_strategy="steps",
        save_steps=hp.eval_every,
        save_total_limit=2,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False if has_eval else None,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        report_to="none",
        disable_tqdm=True,
        prediction_loss_only=True,
        **extra,
    )
    flatten = str(getattr(model.config, "_attn_implementation", "")).startswith("flash")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_collator, eval_collator = PackedCollator(pad_id, flatten), PackedCollator(pad_id, flatten)
    history: dict = {"loss": [], "eval_loss": []}
    clock = {"t0": None, "tok0": 0, "step0": 0}

    class Events(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            clock["t0"], clock["tok0"], clock["step0"] = time.time(), train_collator.real_tokens, state.global_step

        def on_step_end(self, args, state, control, **kw):
            if cancel.is_set():
                control.should_save = True
                control.should_training_stop = True

        def _rates(self, state):
            dt = max(time.time() - clock["t0"], 1e-6)
            tps = (train_collator.real_tokens - clock["tok0"]) / dt
            done = state.global_step - clock["step0"]
            eta = (state.max_steps - state.global_step) * dt / done if done > 0 else None
            return tps, eta

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs:
                tps, eta = self._rates(state)
                history["loss"].append((state.global_step, float(logs["loss"])))
                emit("step", step=state.global_step, total_steps=state.max_steps, loss=float(logs["loss"]),
                     learning_rate=float(logs.get("learning_rate", 0.0)), tokens_per_s=round(tps, 2),
                     eta_s=None if eta is None else round(eta, 1))

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            if metrics and "eval_loss" in metrics and not clock.get("done") and not clock.get("quiet"):
                history["eval_loss"].append((state.global_step, float(metrics["eval_loss"])))
                emit("eval", step=state.global_step, total_steps=state.max_steps, eval_loss=float(metrics["eval_loss"]))

        def on_save(self, args, state, control, **kw):
            emit("checkpoint", step=state.global_step, total_steps=state.max_steps,
                 message=f"checkpoint-{state.global_step}")

    callbacks = [Events()]
    if has_eval and hp.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=hp.early_stopping_patience))

    class _Trainer(Trainer):
        def get_train_dataloader(self):
            self.data_collator = train_collator
            return super().get_train_dataloader()

        def get_eval_dataloader(self, eval_dataset=None):
            self.data_collator = eval_collator
            return super().get_eval_dataloader(eval_dataset)

    trainer = _Trainer(model=model, args=args, train_dataset=ListDataset(train_packs),
                       eval_dataset=ListDataset(eval_packs) if has_eval else None,
                       data_collator=train_collator, callbacks=callbacks)

    resume_from = last_checkpoint(spec.checkpoints_dir) if spec.resume else None
    if resume_from:
        emit("message", message=f"resuming from {resume_from.name}")
    elif has_eval and "initial_eval_loss" not in spec.state:
        clock["quiet"] = True
        spec.state["initial_eval_loss"] = float(trainer.evaluate()["eval_loss"])
        clock["quiet"] = False
        emit("eval", step=0, total_steps=total_steps, eval_loss=spec.state["initial_eval_loss"],
             message="before training")
    emit("message", message=f"training {len(train_ex)} lines in {len(train_packs)} packs of <= {hp.max_seq_len} tokens, "
                            f"{total_steps} steps on {'cuda' if cuda else 'cpu'} ({precision})")
    t_train = time.time()
    out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_wall = time.time() - t_train
    if cancel.is_set():
        raise Cancelled()

    # ---- save: best adapter (load_best_model_at_end), GGUF, metrics
    t_export = time.time()
    clock["done"] = True
    final_eval = float(trainer.evaluate()["eval_loss"]) if has_eval else None
    best_name = Path(trainer.state.best_model_checkpoint).name if trainer.state.best_model_checkpoint else None
    if final_eval is not None:
        emit("eval", step=trainer.state.global_step, total_steps=total_steps, eval_loss=final_eval,
             message=f"exported adapter ({best_name or 'last step'})")
    art = spec.artifacts_dir
    art.mkdir(parents=True, exist_ok=True)
    frozen = frozen_perplexities(trainer.model, tokenizer, spec.frozen_lines, spec.frozen_ending, hp.max_seq_len) if spec.frozen_lines else {}
    trainer.model.save_pretrained(str(art), safe_serialization=True)
    base_config = json.loads((Path(model_dir) / "config.json").read_text()) if Path(model_dir).is_dir() else trainer.model.base_model.model.config.to_dict()
    gguf_info = export_adapter_gguf(art, base_config, art / "adapter.gguf")
    for extra_file in ("README.md",):
        (art / extra_file).unlink(missing_ok=True)
    tokens_per_s = (train_collator.real_tokens - clock["tok0"]) / max(train_wall, 1e-6)
    metrics = {
        "persona": spec.persona,
        "base_model": spec.base_model,
        "trainer_version": __version__,
        "device": "cuda" if cuda else "cpu",
        "precision": precision,
        "hyperparameters": hp.model_dump(),
        "dataset_hash": dataset_hash(spec.train_lines, spec.eval_lines),
        "train_lines": len(spec.train_lines),
        "eval_lines": len(spec.eval_lines),
        "truncated_lines": n_trunc,
        "train_packs": len(train_packs),
        "total_steps": total_steps,
        "steps": trainer.state.global_step,
        "stopped_early": trainer.state.global_step < total_steps,
        "train_loss": history["loss"][-1][1] if history["loss"] else float(out.training_loss),
        "initial_eval_loss": spec.state.get("initial_eval_loss"),
        "final_eval_loss": final_eval,
        "best_eval_loss": trainer.state.best_metric,
        "best_checkpoint": best_name,
        "loss_history": history["loss"],
        "eval_history": history["eval_loss"],
        "train_tokens": train_collator.real_tokens - clock["tok0"],
        "tokens_per_s": round(tokens_per_s, 2),
        "train_wall_s": round(train_wall, 2),
        "wall_s": round(time.time() - started, 2),
        "setup_s": round(t_train - started, 2),
        "export_s": round(time.time() - t_export, 2),
        "resumed_from": resume_from.name if resume_from else None,
        "frozen_lines": len(spec.frozen_lines),
        **frozen,
        "gguf": gguf_info,
    }
    (art / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if spec.inspect:
        spec.inspect(trainer.model)
    # ---- cleanup
    del trainer, model
    if cuda:
        torch.cuda.empty_cache()
    return metrics


def frozen_perplexities(model, tokenizer, lines: list[dict], ending: Optional[str], max_len: int) -> dict:
    """Perplexity on the frozen set's assistant tokens, with the adapter and without it (the base
    model: PEFT's disable_adapter), and the same leaving out the declared ending's tokens at the end
    of each assistant turn (so a version is not credited only for learning the ending)."""
    examples = [e for e in build_examples(tokenizer, lines, max_len) if e.n_target > 0]
    ending_ids = _ending_variants(tokenizer, ending) if ending else []
    masks = [_target_mask(e, ending_ids) for e in examples]

    def nll(with_adapter: bool) -> tuple[float, float]:
        total, n, total_ne, n_ne = 0.0, 0, 0.0, 0
        model.eval()
        with torch.no_grad():
            for e, (keep, keep_ne) in zip(examples, masks):
                ids = torch.tensor([e.input_ids], device=model.device)
                if with_adapter:
                    logits = model(input_ids=ids).logits[0, :-1].float()
                else:
                    with model.disable_adapter():
                        logits = model(input_ids=ids).logits[0, :-1].float()
                targets = ids[0, 1:]
                losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
                k = torch.tensor(keep[1:], device=losses.device)
                k_ne = torch.tensor(keep_ne[1:], device=losses.device)
                total += float(losses[k].sum()); n += int(k.sum())
                total_ne += float(losses[k_ne].sum()); n_ne += int(k_ne.sum())
        ppl = math.exp(total / n) if n else float("nan")
        ppl_ne = math.exp(total_ne / n_ne) if n_ne else float("nan")
        return ppl, ppl_ne

    base, base_ne = nll(False)
    adapted, adapted_ne = nll(True)
    out = {"frozen_perplexity_base": round(base, 4), "frozen_perplexity": round(adapted, 4)}
    if ending_ids:
        out.update(frozen_perplexity_base_no_ending=round(base_ne, 4), frozen_perplexity_no_ending=round(adapted_ne, 4))
    return out


def _ending_variants(tokenizer, ending: str) -> list[list[int]]:
    """Token ids the ending may take at the end of a turn (after a space, or not)."""
    seqs = {tuple(tokenizer(v, add_special_tokens=False)["input_ids"]) for v in (ending, " " + ending.strip())}
    return sorted((list(s) for s in seqs if s), key=len, reverse=True)


def _target_mask(e, ending_ids: list[list[int]]) -> tuple[list[bool], list[bool]]:
    """Which positions are scored: every assistant token; and the same without a trailing ending
    (the ending's tokens just before each turn's closing token)."""
    keep = [x != IGNORE for x in e.labels]
    keep_ne = list(keep)
    i = 0
    while i < len(e.labels):
        # The end of an assistant span: its last target token is the closing <|im_end|>.
        if keep[i] and (i + 1 == len(keep) or not keep[i + 1]):
            for seq in ending_ids:
                start = i - len(seq)
                if start >= 0 and e.input_ids[start:i] == seq and all(keep[start:i]):
                    for j in range(start, i):
                        keep_ne[j] = False
                    break
        i += 1
    return keep, keep_ne
