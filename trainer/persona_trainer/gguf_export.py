"""Write a PEFT LoRA adapter as a GGUF LoRA adapter for llama.cpp / Ollama.

Uses the ``gguf`` package's writer and tensor-name map, mirroring llama.cpp's convert_lora_to_gguf.py:
``general.type=adapter``, ``adapter.type=lora``, ``adapter.lora.alpha``, tensors
``<base tensor name>.lora_a`` ([r, in] in torch order) and ``.lora_b`` ([out, r]).
For the llama architecture llama.cpp stores q/k projections with rows permuted for its rope
layout; the same permutation is applied to lora_b of q_proj/k_proj (lora_a is per input column).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

ARCHES = {"llama": "LLAMA"}
_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")


def permute_qk(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf LlamaModel.permute (rows = output features)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_adapter_gguf(adapter_dir: str | Path, base_config: dict, out_path: str | Path) -> dict:
    import gguf

    adapter_dir = Path(adapter_dir)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    arch = base_config.get("model_type")
    if arch not in ARCHES:
        raise ValueError(f"GGUF adapter export supports {sorted(ARCHES)}, not {arch!r}")
    if cfg.get("use_rslora") or cfg.get("use_dora"):
        raise ValueError("rsLoRA/DoRA adapters have no GGUF form in llama.cpp")
    n_layers = base_config["num_hidden_layers"]
    n_head = base_config["num_attention_heads"]
    n_head_kv = base_config.get("num_key_value_heads", n_head)
    name_map = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, ARCHES[arch]), n_layers)
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))

    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        m = _KEY.match(key)
        if not m:
            raise ValueError(f"unexpected tensor in the adapter: {key}")
        pairs.setdefault(m["module"], {})[m["ab"]] = value.astype(np.float32)

    out_path = Path(out_path)
    writer = gguf.GGUFWriter(str(out_path), gguf.MODEL_ARCH_NAMES[getattr(gguf.MODEL_ARCH, ARCHES[arch])])
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(cfg["lora_alpha"]))
    written = []
    for module in sorted(pairs):
        ab = pairs[module]
        if set(ab) != {"A", "B"}:
            raise ValueError(f"{module}: needs both lora_A and lora_B")
        base_name = name_map.get_name(module + ".weight", try_suffixes=(".weight",))
        if base_name is None:
            raise ValueError(f"no GGUF tensor name for {module}")
        a, b = ab["A"], ab["B"]
        if module.endswith("self_attn.q_proj"):
            b = permute_qk(b, n_head, n_head)
        elif module.endswith("self_attn.k_proj"):
            b = permute_qk(b, n_head, n_head_kv)
        writer.add_tensor(base_name + ".lora_a", np.ascontiguousarray(a))
        writer.add_tensor(base_name + ".lora_b", np.ascontiguousarray(b))
        written.append(base_name)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"tensors": len(written) * 2, "alpha": float(cfg["lora_alpha"]), "rank": int(cfg["r"])}
