#!/usr/bin/env python3
"""Benchmark: padding-free packing vs the seeds' recipe (every example padded to 512 tokens).

Same model (LoRA r=16 on all linear layers, the training code path's loader/collators), same data
(a realistic chat-length mix), one run; each variant runs in its own child process so peak memory
is its own. Tokens/s counts real tokens only (padding is not counted).

  python bench/packing.py --out results.json            # full CPU run (or CUDA when present)
  python bench/packing.py --smoke --out /tmp/t.json     # tiny size, used by the test suite
  python bench/packing.py --device cuda --out gpu.json  # GPU variant: 4-bit NF4 QLoRA, bf16, MFU

Writes {"name","date","commit","machine","samples","metrics":{...},"notes"} (DESIGN's shape).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see persona_trainer/__init__.py
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}


def machine() -> str:
    cpu = platform.processor() or "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    desc = f"{os.cpu_count()} cores, {mem:.0f} GiB memory, {cpu}"
    try:
        import torch
        if torch.cuda.is_available():
            desc += f", GPU {torch.cuda.get_device_name(0)}"
    except Exception:
        pass
    return desc


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def child(args) -> dict:
    """One variant: load, warm up, time `steps` optimizer steps, report real tokens/s and peak memory."""
    import torch
    from peft import get_peft_model
    from transformers import set_seed

    from persona_trainer.api import Hyperparameters
    from persona_trainer.data import PackedCollator, PaddedCollator, build_examples, pack_examples
    from persona_trainer.model import load_base_model, load_tokenizer, local_model_dir, lora_config, resolve_base_model
    from persona_trainer.synthetic import chat_mix

    cuda = args.device == "cuda"
    if not cuda:
        os.environ["TRAINER_FORCE_CPU"] = "1"
    set_seed(0)
    model_dir = local_model_dir(resolve_base_model(args.base_model))
    tok = load_tokenizer(model_dir)
    examples = build_examples(tok, chat_mix(args.examples, seed=0), args.pad_to)
    model = get_peft_model(load_base_model(model_dir, cuda), lora_config(Hyperparameters(rank=16)))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    if cuda:
        import bitsandbytes as bnb
        opt = bnb.optim.PagedAdamW8bit(params, lr=2e-4)
    else:
        opt = torch.optim.AdamW(params, lr=2e-4)
    if args.variant == "packed":
        items, collate = pack_examples(examples, args.pad_to), PackedCollator(tok.pad_token_id, args.flatten)
    else:
        items, collate = examples, PaddedCollator(tok.pad_token_id, args.pad_to)
    b = args.batch_size
    batches = [items[(i * b) % len(items):(i * b) % len(items) + b] or items[:b] for i in range(args.steps + args.warmup)]
    dev = torch.device("cuda" if cuda else "cpu")

    def step(batch):
        batch = {k: v.to(dev) for k, v in collate(batch).items()}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for batch in batches[: args.warmup]:
        step(batch)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    tok0, t0 = collate.real_tokens, time.perf_counter()
    for batch in batches[args.warmup:]:
        step(batch)
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    tokens = collate.real_tokens - tok0
    out = {"tokens_per_s": tokens / dt, "tokens": tokens, "seconds": dt,
           "n_params": sum(p.numel() for p in model.parameters())}
    if cuda:
        out["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
        cfg = model.base_model.model.config
        n = 12 * cfg.num_hidden_layers * cfg.hidden_size ** 2 + cfg.vocab_size * cfg.hidden_size  # approx. dense params
        out["mfu"] = 6 * n * out["tokens_per_s"] / peak if peak else None
        out["gpu"] = name
    else:
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the result JSON here")
    ap.add_argument("--smoke", action="store_true", help="tiny size for the test suite (seconds)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--base-model", default="smollm2-135m")
    ap.add_argument("--examples", type=int, default=None, help="chat lines in the mix")
    ap.add_argument("--steps", type=int, default=None, help="timed optimizer steps per variant")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=None, help="rows (padded) or packs (packed) per step")
    ap.add_argument("--pad-to", type=int, default=512, help="the seeds' max_length; also the pack length")
    ap.add_argument("--repeats", type=int, default=None, help="rounds of (packed, padded), order alternating; medians reported (default 1 for --smoke and cuda, 3 on cpu)")
    ap.add_argument("--flatten", action="store_true", help="packed: one row per batch (for flash-attention varlen)")
    ap.add_argument("--variant", choices=["packed", "padded"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.device == "auto":
        import torch
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    cuda = args.device == "cuda"
    defaults = dict(examples=(24 if args.smoke else (2048 if cuda else 256)),
                    steps=(2 if args.smoke else (20 if cuda else 5)),
                    batch_size=(2 if args.smoke else (16 if cuda else 4)),
                    repeats=(1 if (args.smoke or cuda) else 3))
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.smoke:
        args.pad_to = min(args.pad_to, 128)
    if args.variant:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return 0

    runs: dict[str, list[dict]] = {"packed": [], "padded": []}
    for r in range(args.repeats):
        # alternate the order each round so a neighbour's load on a shared machine hits both sides
        for variant in (("packed", "padded") if r % 2 == 0 else ("padded", "packed")):
            cmd = [sys.executable, __file__, "--variant", variant, "--device", args.device, "--base-model", args.base_model,
                   "--examples", str(args.examples), "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--batch-size", str(args.batch_size), "--pad-to", str(args.pad_to)] + (["--smoke"] if args.smoke else []) + (["--flatten"] if args.flatten else [])
            print(f"[bench] round {r + 1}/{args.repeats} {variant}: {args.steps} steps x {args.batch_size} {'packs' if variant == 'packed' else 'rows'} of {args.pad_to} tokens on {args.device}", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
                raise SystemExit(f"benchmark variant {variant} failed")
            runs[variant].append(json.loads(line[7:]))
            print(f"[bench]   {runs[variant][-1]['tokens_per_s']:.1f} real tokens/s, peak {runs[variant][-1]['peak_mb']:.0f} MB", file=sys.stderr, flush=True)

    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2

    results = {}
    for v, rs in runs.items():
        results[v] = {"tokens_per_s": med([x["tokens_per_s"] for x in rs]), "peak_mb": max(x["peak_mb"] for x in rs),
                      "mfu": med([x["mfu"] for x in rs]) if rs[0].get("mfu") is not None else None,
                      "all": [round(x["tokens_per_s"], 2) for x in rs]}
    p, q = results["packed"], results["padded"]
    metrics = {"packed_tokens_per_s": round(p["tokens_per_s"], 2), "padded_tokens_per_s": round(q["tokens_per_s"], 2),
               "ratio": round(p["tokens_per_s"] / q["tokens_per_s"], 3),
               "packed_peak_mb": round(p["peak_mb"], 1), "padded_peak_mb": round(q["peak_mb"], 1)}
    if cuda:
        metrics.update(packed_mfu=p.get("mfu") and round(p["mfu"], 4), padded_mfu=q.get("mfu") and round(q["mfu"], 4))
    mem = "peak GPU memory allocated (torch.cuda.max_memory_allocated)" if cuda else "peak RSS of the variant's process"
    notes = (f"{'smoke size; ' if args.smoke else ''}SmolLM2-135M-Instruct ({args.base_model}), LoRA r=16 on all linear layers, "
             f"{'4-bit NF4 QLoRA, bf16 autocast, paged 8-bit AdamW' if cuda else 'fp32, AdamW'} on {args.device}; "
             f"{args.examples} chat lines (1-4 exchanges, lognormal reply lengths) truncated to {args.pad_to} tokens; "
             f"{args.warmup} warm-up + {args.steps} timed optimizer steps per variant and round, {args.repeats} round(s) in alternating order, "
             f"median tokens/s reported (packed {results['packed']['all']}, padded {results['padded']['all']}), batch {args.batch_size} "
             f"(padded: rows padded to {args.pad_to}; packed: best-fit packs of <= {args.pad_to} tokens, "
             f"{'the batch flattened into one row' if args.flatten else 'one pack per row'}, position ids restarting per example, no attention mask). Tokens/s counts real tokens only; memory is the {mem}."
             + (" MFU = 6 x dense params x tokens/s / peak bf16 FLOP/s of the GPU." if cuda else ""))
    result = {"name": "trainer" if not cuda else "trainer-gpu", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "commit": commit(), "machine": machine(), "samples": args.steps * args.repeats, "metrics": metrics, "notes": notes}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
