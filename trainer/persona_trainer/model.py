"""Base model resolution and loading: HF folder/id or GGUF (dequantized, rebuilt, cached); LoRA setup."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CHATML_MARKERS = ("<|im_start|>", "<|im_end|>")


def cache_root() -> Path:
    return Path(os.environ.get("PERSONA_BOT_CACHE", Path.home() / ".cache" / "persona-bot"))


def known_models() -> dict[str, str]:
    """Names the bot may send as base_model -> local path.

    TRAINER_BASE_MODELS="name=/path/a.gguf,other=/path/hf-folder" adds or overrides names;
    smollm2-135m defaults to the shared provisioning script's GGUF location.
    """
    models = {"smollm2-135m": str(cache_root() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")}
    if os.environ.get("TRAINER_MODEL_DIR"):
        models["smollm2-135m"] = str(Path(os.environ["TRAINER_MODEL_DIR"]) / "SmolLM2-135M-Instruct.Q4_1.gguf")
    for item in filter(None, os.environ.get("TRAINER_BASE_MODELS", "").split(",")):
        name, _, path = item.partition("=")
        models[name.strip()] = path.strip()
    return models


def resolve_base_model(name: str) -> str:
    """Return a local path (HF folder or .gguf) or an HF id; raise ValueError with a reason."""
    known = known_models()
    if name in known:
        path = known[name]
        if not Path(path).exists():
            raise ValueError(f"base_model {name!r} maps to {path}, which does not exist (run scripts/provision/model.sh)")
        return path
    p = Path(name)
    if p.is_absolute() or name.startswith("."):
        if p.is_file() and p.suffix == ".gguf":
            return str(p)
        if p.is_dir() and (p / "config.json").exists():
            return str(p)
        raise ValueError(f"base_model {name!r}: no .gguf file or HF model folder there")
    if "/" in name and name.count("/") == 1:
        return name  # HF id: loaded from the local HF cache only (the hub is not reachable)
    raise ValueError(f"base_model {name!r} is unknown; known: {', '.join(sorted(known))}")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def gguf_to_hf(gguf_path: str) -> Path:
    """Dequantize a GGUF into a plain HF folder, cached by the file's sha256.

    A GGUF-loaded model carries a GGUF quantization config that Trainer refuses; it is rebuilt with
    from_config + load_state_dict before saving.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    digest = _sha256(gguf_path)
    out = cache_root() / "hf-from-gguf" / digest[:16]
    if (out / ".complete").exists():
        return out
    log.info("converting %s to an HF folder at %s", gguf_path, out)
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    loaded = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    rebuilt = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = rebuilt.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"GGUF rebuild mismatch: missing={missing} unexpected={unexpected}")
    if config.tie_word_embeddings:
        rebuilt.tie_weights()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    rebuilt.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps({"gguf": os.path.abspath(gguf_path), "sha256": digest}))
    (tmp / ".complete").write_text("")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out


def local_model_dir(base: str) -> str:
    """The HF folder/id to load for a resolved base (GGUF files go through the converted cache)."""
    return str(gguf_to_hf(base)) if base.endswith(".gguf") else base


def check_chat_template(tokenizer) -> None:
    """Training must use the ChatML template the bot's Ollama model serves."""
    for marker in CHATML_MARKERS:
        ids = tokenizer.convert_tokens_to_ids(marker)
        if ids is None or ids == tokenizer.unk_token_id:
            raise ValueError(f"the base model's tokenizer has no {marker} token: not a ChatML model, so Ollama's template would not match training")


def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    check_chat_template(tok)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base_model(model_dir: str, cuda: bool):
    """CPU: fp32. CUDA: 4-bit NF4 with double quantization, bf16 compute, ready for k-bit training."""
    from transformers import AutoModelForCausalLM

    if cuda:
        from transformers import BitsAndBytesConfig
        from peft import prepare_model_for_kbit_training

        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=torch.bfloat16)
        model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=bnb, dtype=torch.bfloat16,
                                                     device_map={"": 0}, attn_implementation="sdpa")
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    return model


def lora_config(hp):
    from peft import LoraConfig

    return LoraConfig(r=hp.rank, lora_alpha=hp.lora_alpha or 2 * hp.rank, lora_dropout=hp.lora_dropout,
                      target_modules="all-linear", bias="none", task_type="CAUSAL_LM")


def cuda_available() -> bool:
    return torch.cuda.is_available() and os.environ.get("TRAINER_FORCE_CPU", "0") != "1"
