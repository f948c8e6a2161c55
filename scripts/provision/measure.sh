#!/usr/bin/env bash
# Measures generation speed of the base model in the running Ollama: one warm-up request (loads
# the model), then MEASURE_RUNS /api/generate calls with num_predict MEASURE_TOKENS, reading
# eval_count/eval_duration (generation) and prompt_eval_count/prompt_eval_duration from Ollama.
# Per-run lines on stderr; one JSON summary on stdout:
#   {"model", "runs", "num_predict", "eval_tokens_per_s" (median), "eval_tokens_per_s_min",
#    "eval_tokens_per_s_max", "prompt_tokens_per_s" (median), "load_s", "ollama_version"}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

MODEL="${1:-${OLLAMA_BASE_MODEL:-smollm2-135m}}"
MEASURE_RUNS="${MEASURE_RUNS:-5}"
MEASURE_TOKENS="${MEASURE_TOKENS:-128}"
command -v python3 >/dev/null || die "python3 is needed; apt-get install python3"
url="$("$here/ollama.sh" url)"
curl -fsS --max-time 3 "$url/api/version" >/dev/null 2>&1 \
  || die "no Ollama answers at $url; run scripts/provision/ollama.sh start (or scripts/provision/setup.sh)"

results="$(mktemp)"
trap 'rm -f "$results" "$results.load"' EXIT
generate() { # $1: seed
  python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "stream": False,
    "prompt": "Story " + sys.argv[3] + ". Tell me a long story about a lighthouse keeper and a friendly sea creature.",
    "options": {"num_predict": int(sys.argv[2]), "temperature": 0.8, "seed": int(sys.argv[3])}}))' \
    "$MODEL" "$MEASURE_TOKENS" "$1" |
    curl -fsS --max-time 600 -H 'Content-Type: application/json' -X POST "$url/api/generate" --data-binary @- \
    || die "POST /api/generate for $MODEL failed (does the model exist? scripts/provision/base-model.sh)"
}

log "measuring $MODEL at $url: warm-up + $MEASURE_RUNS runs of $MEASURE_TOKENS tokens"
generate 0 | python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"load_s": r.get("load_duration", 0) / 1e9}))' >"$results.load"
for ((i = 1; i <= MEASURE_RUNS; i++)); do
  generate "$i" >>"$results"
  echo >>"$results"
done

python3 - "$results" "$results.load" "$MODEL" "$MEASURE_TOKENS" "$(curl -fsS "$url/api/version")" <<'PY'
import json, statistics, sys
path, load_path, model, num_predict, version = sys.argv[1:]
runs = [json.loads(l) for l in open(path) if l.strip()]
load_s = json.load(open(load_path))["load_s"]
gen, prompt = [], []
for i, r in enumerate(runs, 1):
    tps = r["eval_count"] / (r["eval_duration"] / 1e9)
    ptps = r.get("prompt_eval_count", 0) / (r["prompt_eval_duration"] / 1e9) if r.get("prompt_eval_duration") else 0.0
    gen.append(tps); prompt.append(ptps)
    print(f"[provision] run {i}: {r['eval_count']} tokens in {r['eval_duration']/1e9:.3f} s = {tps:.1f} tok/s;"
          f" prompt {r.get('prompt_eval_count', 0)} tokens at {ptps:.1f} tok/s", file=sys.stderr)
summary = {"model": model, "runs": len(runs), "num_predict": int(num_predict),
           "eval_tokens_per_s": round(statistics.median(gen), 1),
           "eval_tokens_per_s_min": round(min(gen), 1), "eval_tokens_per_s_max": round(max(gen), 1),
           "prompt_tokens_per_s": round(statistics.median(prompt), 1), "load_s": round(load_s, 3),
           "ollama_version": json.loads(version).get("version")}
print(f"[provision] {model}: {summary['eval_tokens_per_s']} tok/s generation (median of {len(runs)};"
      f" {summary['eval_tokens_per_s_min']}-{summary['eval_tokens_per_s_max']}),"
      f" prompt {summary['prompt_tokens_per_s']} tok/s, load {summary['load_s']} s", file=sys.stderr)
print(json.dumps(summary))
PY
