#!/usr/bin/env python3
"""Writes a small random LoRA adapter GGUF for a base GGUF (llama.cpp's adapter format).

Stand-in for trained persona adapters in the persona-switch benchmark: what Ollama has to do
on a switch (unload, reload base + adapter) does not depend on what the adapter learned.

Format, as llama.cpp's convert_lora_to_gguf.py writes it and src/llama-adapter.cpp reads it:
  general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (float32),
  general.architecture = the base's (the loader refuses a mismatch);
  per adapted weight W (ggml shape ne = [n_in, n_out]):
    <W name>.lora_a  ne = [n_in, rank]   (numpy (rank, n_in),  PEFT's lora_A.weight)
    <W name>.lora_b  ne = [rank, n_out]  (numpy (n_out, rank), PEFT's lora_B.weight)
The delta is (alpha / rank) * B @ A. alpha = rank and std 0.01 keep it ~1e-3 of the weights, so
the model still answers sanely. Same arguments give the same bytes (so the same blob digest).

The file carries a KV `persona_bot.bench.nonce` whose value is NONCE_PLACEHOLDER (fixed length):
a user may overwrite those bytes in place with as many other ASCII characters to get a new digest
from the same cached file (the benchmark does, so concurrent runs never share a runner).

Usage: make_lora_gguf.py --base BASE.gguf --out ADAPTER.gguf [--rank 8] [--seed 1]
       [--targets attn_q,attn_k,attn_v,attn_output] [--std 0.01]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

import gguf
import numpy as np

NONCE_KEY = "persona_bot.bench.nonce"
NONCE_PLACEHOLDER = "bench-nonce:" + "0" * 32


def field_str(reader: gguf.GGUFReader, key: str) -> str:
    field = reader.fields.get(key)
    if field is None:
        raise SystemExit(f"{key} is missing from the base GGUF")
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the base model GGUF the adapter is for")
    ap.add_argument("--out", required=True, help="where to write the adapter GGUF")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--std", type=float, default=0.01, help="std of the random A and B entries")
    ap.add_argument("--targets", default="attn_q,attn_k,attn_v,attn_output",
                    help="comma-separated weight kinds to adapt in every block (blk.N.<kind>.weight)")
    args = ap.parse_args()
    if args.rank < 1:
        raise SystemExit("--rank must be at least 1")

    reader = gguf.GGUFReader(args.base)
    arch = field_str(reader, "general.architecture")
    kinds = [k.strip() for k in args.targets.split(",") if k.strip()]
    pattern = re.compile(r"^blk\.(\d+)\.(" + "|".join(map(re.escape, kinds)) + r")\.weight$")
    targets: list[tuple[int, str, int, int]] = []
    for t in reader.tensors:
        m = pattern.match(t.name)
        if not m:
            continue
        if len(t.shape) != 2:
            raise SystemExit(f"{t.name} is not a matrix (shape {list(t.shape)})")
        n_in, n_out = int(t.shape[0]), int(t.shape[1])  # GGUFReader gives ggml order: ne0 = inputs
        targets.append((int(m.group(1)), t.name, n_in, n_out))
    if not targets:
        raise SystemExit(f"no tensors blk.N.{{{','.join(kinds)}}}.weight in {args.base}")
    targets.sort()

    rng = np.random.default_rng(args.seed)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    # Write next to the target, then rename: concurrent runs never see half a file.
    fd, tmp = tempfile.mkstemp(prefix=".lora-", suffix=".gguf.tmp", dir=out_dir)
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, arch)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(args.rank))
        writer.add_name(f"random LoRA r{args.rank} seed {args.seed}")
        writer.add_string(NONCE_KEY, NONCE_PLACEHOLDER)
        for _, name, n_in, n_out in targets:
            a = rng.normal(0.0, args.std, size=(args.rank, n_in)).astype(np.float32)
            b = rng.normal(0.0, args.std, size=(n_out, args.rank)).astype(np.float32)
            writer.add_tensor(f"{name}.lora_a", a)
            writer.add_tensor(f"{name}.lora_b", b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {args.out}: {len(targets)} adapted weights ({arch}), rank {args.rank}, seed {args.seed}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
