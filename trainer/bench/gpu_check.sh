#!/usr/bin/env bash
# GPU check for a CUDA machine without network (used on the project's lent H100):
#   1. installs carried wheels (trainer/.whl) into /tmp/site when given,
#   2. builds a SmolLM2-135M-shaped model from its config + tokenizer (trainer/.gpu/smollm2-135m-config;
#      random weights: the GGUF does not fit the carry limit, and speed/memory do not depend on values)
#      unless TRAINER_BASE_MODELS already names a real model,
#   3. runs a short 4-bit NF4 QLoRA job through the real training code (python -m persona_trainer train),
#   4. runs the GPU variant of the packing benchmark.
# Results go to ${OUT:-/tmp/trainer-gpu}.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-/tmp/trainer-gpu}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
python3 -c 'import torch, transformers, peft, bitsandbytes; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0), "transformers", transformers.__version__, "peft", peft.__version__, "bnb", bitsandbytes.__version__)'
if [[ -z "${TRAINER_BASE_MODELS:-}" ]]; then
  python3 - <<'PY'
import shutil, torch
from pathlib import Path
from transformers import AutoConfig, AutoModelForCausalLM
src, dst = Path(".gpu/smollm2-135m-config"), Path("/tmp/smollm2-135m-random")
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src), dtype=torch.float32)
model.save_pretrained(dst)
for f in src.iterdir():
    if f.name != "config.json":
        shutil.copy(f, dst / f.name)
print("built", dst)
PY
  export TRAINER_BASE_MODELS="smollm2-135m=/tmp/smollm2-135m-random"
fi
python3 - <<'PY' > /tmp/gpu-req.json
import json
from persona_trainer.synthetic import canary_lines, chat_mix
print(json.dumps({"persona": "glordon", "base_model": "smollm2-135m",
  "hyperparameters": {"epochs": 2, "learning_rate": 1e-3, "rank": 16, "max_seq_len": 512, "batch_size": 4, "eval_every": 10, "max_steps": 30},
  "dataset": {"train": canary_lines(n=10) + chat_mix(200, seed=1), "eval": canary_lines(n=2, offset=10) + chat_mix(20, seed=2)}}))
PY
rm -rf /tmp/gpu-job
python3 -m persona_trainer train /tmp/gpu-req.json /tmp/gpu-job 2>&1 | grep -vE "^\{'|Warning|warn" | tee "$OUT/qlora-job.log" | tail -8
cp /tmp/gpu-job/artifacts/metrics.json "$OUT/qlora-metrics.json"
ls -la /tmp/gpu-job/artifacts
python3 bench/packing.py --device cuda --out "$OUT/trainer-gpu.json" 2>&1 | tail -30
# the same with the whole batch flattened into one row (what flash-attention varlen wants; sdpa here)
python3 bench/packing.py --device cuda --flatten --out "$OUT/trainer-gpu-flatten.json" 2>&1 | grep -A8 '"metrics"' 
