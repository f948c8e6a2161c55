"""adapter.gguf: llama.cpp's LoRA adapter layout, and the q/k row permutation proven on the real GGUF."""
import json

import numpy as np
import torch
from safetensors.torch import load_file

from persona_trainer.gguf_export import permute_qk


def test_qk_permutation_matches_the_base_gguf(gguf_path, model_dir):
    """transformers un-permutes q/k when it loads the GGUF; permute_qk must redo exactly that."""
    import gguf
    from transformers import AutoModelForCausalLM

    reader = gguf.GGUFReader(gguf_path)
    tensors = {t.name: t for t in reader.tensors}
    hf = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).state_dict()
    cfg = json.loads(open(f"{model_dir}/config.json").read())
    for name, hf_name, n_kv in (("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", cfg["num_attention_heads"]),
                                ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", cfg["num_key_value_heads"])):
        t = tensors[name]
        g = gguf.quants.dequantize(t.data, t.tensor_type).reshape(hf[hf_name].shape)
        w = hf[hf_name].numpy()
        np.testing.assert_allclose(permute_qk(w, cfg["num_attention_heads"], n_kv), g, atol=1e-5)
        assert not np.allclose(w, g, atol=1e-3), "the permutation is not a no-op"


def test_adapter_gguf_layout(trained):
    import gguf

    reader = gguf.GGUFReader(str(trained["artifacts"] / "adapter.gguf"))
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert fields["general.architecture"] == "llama"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == 32.0
    names = {t.name: t for t in reader.tensors}
    assert len(names) == 30 * 7 * 2
    a, b = names["blk.0.attn_q.weight.lora_a"], names["blk.0.attn_q.weight.lora_b"]
    # GGUF ne order: lora_a [in, r], lora_b [r, out]  (torch [r, in] and [out, r])
    assert list(a.shape) == [576, 16] and list(b.shape) == [16, 576]
    assert list(names["blk.5.ffn_down.weight.lora_a"].shape) == [1536, 16]
    lora = load_file(str(trained["artifacts"] / "adapter_model.safetensors"))
    va = lora["base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight"].numpy()
    np.testing.assert_array_equal(np.asarray(names["blk.0.attn_v.weight.lora_a"].data).reshape(va.shape), va)
