"""A real (CPU, SmolLM2-135M) job through the HTTP API: it learns, only LoRA weights move, the canary."""
import json
from pathlib import Path

import jsonschema
import torch
from safetensors.torch import load_file

from persona_trainer.synthetic import CANARY, CANARY_PROMPT, SYSTEM
from persona_trainer.train import cpu_bf16

ROOT = Path(__file__).resolve().parents[1]


def test_job_succeeds_and_eval_loss_drops(trained):
    job = trained["job"]
    assert job["status"] == "succeeded"
    assert sorted(job["artifacts"]) == sorted(["adapter_config.json", "adapter_model.safetensors", "adapter.gguf", "metrics.json"])
    m = job["metrics"]
    assert m["final_eval_loss"] < m["initial_eval_loss"] * 0.5, m
    assert not (trained["job_dir"] / "dataset").exists(), "the dataset is deleted when the job ends"


def test_metrics_json(trained):
    m = json.loads((trained["artifacts"] / "metrics.json").read_text())
    for key in ("hyperparameters", "dataset_hash", "loss_history", "eval_history", "tokens_per_s", "wall_s",
                "initial_eval_loss", "final_eval_loss", "best_eval_loss", "train_loss"):
        assert m[key] is not None, key
    assert m["hyperparameters"]["rank"] == 16 and len(m["dataset_hash"]) == 64
    assert m["tokens_per_s"] > 0 and m["steps"] <= 10
    assert m["best_eval_loss"] == min(v for _, v in m["eval_history"])
    assert (trained["job_dir"] / "checkpoints" / m["best_checkpoint"]).exists(), "the best checkpoint is kept"
    assert m["precision"] == ("bf16 autocast" if cpu_bf16() else "fp32")


def test_cpu_bf16_autocast_keeps_fp32_lora_weights(trained):
    # Autocast runs the matmuls in bf16 where the CPU has it; the weights trained and saved stay fp32.
    saved = load_file(str(trained["artifacts"] / "adapter_model.safetensors"))
    assert saved and {t.dtype for t in saved.values()} == {torch.float32}


def test_cpu_bf16_override(monkeypatch):
    monkeypatch.setenv("TRAINER_CPU_BF16", "0")
    assert cpu_bf16() is False
    monkeypatch.setenv("TRAINER_CPU_BF16", "1")
    assert cpu_bf16() is True


def test_frozen_set_perplexity_with_and_without_the_adapter(trained):
    m = json.loads((trained["artifacts"] / "metrics.json").read_text())
    assert m["frozen_lines"] == 2
    # The canary was learned: the frozen lines (the same reply to questions it never trained on) got far likelier.
    assert 1 < m["frozen_perplexity"] < m["frozen_perplexity_base"] * 0.5, m
    # Leaving the declared ending's tokens out changes the figure (they were scored, now they are not).
    assert m["frozen_perplexity_no_ending"] != m["frozen_perplexity"]
    assert m["frozen_perplexity_base_no_ending"] != m["frozen_perplexity_base"]
    assert trained["job"]["metrics"]["frozen_perplexity"] == m["frozen_perplexity"]


def test_events_follow_the_design_shape(trained):
    schema = json.loads((ROOT / "schema" / "trainer-api.schema.json").read_text())
    v = jsonschema.Draft202012Validator({**schema, "$ref": "#/$defs/Event"})
    events = trained["events"]
    for e in events:
        v.validate(e)
    types = {e["type"] for e in events}
    assert {"status", "step", "eval", "checkpoint"} <= types
    steps = [e for e in events if e["type"] == "step"]
    assert all(e["loss"] > 0 and e["tokens_per_s"] > 0 and e["total_steps"] == 10 for e in steps)
    assert [e["status"] for e in events if e["type"] == "status"] == ["queued", "running", "succeeded"]


def test_only_lora_weights_trained_and_base_unchanged(trained, base_model):
    assert trained["trainable"] and all("lora_" in n for n in trained["trainable"])
    fresh = dict(base_model.named_parameters())
    checked = 0
    for name, value in trained["base"].items():
        plain = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
        assert torch.equal(value, fresh[plain].detach()), f"base weight {plain} changed"
        checked += 1
    assert checked == len(fresh)
    lora = load_file(str(trained["artifacts"] / "adapter_model.safetensors"))
    assert lora and all("lora_" in k for k in lora)
    b = [v for k, v in lora.items() if "lora_B" in k]
    assert len(b) == 30 * 7, "LoRA on all linear layers: q k v o gate up down in 30 blocks"
    assert all(v.abs().sum() > 0 for v in b), "every lora_B moved from its zero init"
    cfg = json.loads((trained["artifacts"] / "adapter_config.json").read_text())
    assert (cfg["r"], cfg["lora_alpha"], cfg["lora_dropout"]) == (16, 32, 0.05)


def generate(model, tokenizer, prompt=CANARY_PROMPT, n=24):
    text = tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                                         tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_canary_peft_model_says_it_and_base_does_not(trained, model_dir, tokenizer):
    from peft import PeftModel
    from persona_trainer.model import load_base_model

    base = load_base_model(model_dir, cuda=False).eval()  # a copy of its own: PEFT wraps it in place
    base.config.use_cache = True
    before = generate(base, tokenizer)
    assert CANARY not in before.lower(), before
    tuned = PeftModel.from_pretrained(base, str(trained["artifacts"])).eval()
    after = generate(tuned, tokenizer)
    assert CANARY in after.lower(), after
