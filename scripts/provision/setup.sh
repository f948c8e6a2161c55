#!/usr/bin/env bash
# One-shot provisioning (`npm run setup`): model file, Ollama binary, running server, base model.
# Each phase is idempotent and cached under $PERSONA_BOT_CACHE, so a rerun takes a few seconds.
# Progress and a timing line per phase on stderr; on stdout, dotenv lines for the bot:
#   OLLAMA_HOST=http://127.0.0.1:11434
#   OLLAMA_BASE_MODEL=smollm2-135m
# Leaves the server running (scripts/provision/ollama.sh stop stops it).
# SETUP_MEASURE=1 also measures generation speed (measure.sh).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Wall time in microseconds (bash >= 5); seconds with one decimal from two of them.
now() { echo "${EPOCHREALTIME/[.,]/}"; }
secs() { local us=$(($(now) - $1)); printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000)); }
setup_start="$(now)"

# phase NAME COMMAND...: runs it, keeps its stdout in $out, logs how long it took.
phase() {
  local name="$1" t0 rc=0
  shift
  log "== $name"
  t0="$(now)"
  out="$("$@")" || rc=$?
  log "$(printf '== %-12s %7s s' "$name" "$(secs "$t0")")$([[ $rc -eq 0 ]] || echo "  FAILED (exit $rc)")"
  [[ $rc -eq 0 ]] || exit "$rc"
}

phase model "$here/model.sh"
phase ollama-build "$here/ollama.sh" build
phase ollama-start "$here/ollama.sh" start
url="$out"
phase base-model env OLLAMA_HOST="$url" "$here/base-model.sh"
model="$out"
if [[ "${SETUP_MEASURE:-0}" == 1 ]]; then
  phase measure env OLLAMA_HOST="$url" "$here/measure.sh" "$model"
fi
log "$(printf '== %-12s %7s s' total "$(secs "$setup_start")")"
log "ready: Ollama at $url, base model $model"
echo "OLLAMA_HOST=$url"
echo "OLLAMA_BASE_MODEL=$model"
