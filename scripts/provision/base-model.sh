#!/usr/bin/env bash
# Makes sure the base model ($OLLAMA_BASE_MODEL, default smollm2-135m) exists in the running
# Ollama (see ollama.sh start), then checks with a real /api/chat call that it answers.
#   1. it exists: nothing to do;
#   2. else pull it from the Ollama registry (SmolLM2 as smollm2:135m), when the registry answers;
#   3. else import the GGUF from model.sh (SmolLM2-135M-Instruct Q4_1, the same file the trainer
#      trains on): upload it as a blob by digest, then POST /api/create with files + template.
# Steps 2 and 3 give the model the same ChatML template, default system prompt and parameters,
# so prompts render exactly like the GGUF's own tokenizer.chat_template (what the trainer uses).
# Prints the model name on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

OLLAMA_BASE_MODEL="${OLLAMA_BASE_MODEL:-smollm2-135m}"
OLLAMA_PULL_TIMEOUT="${OLLAMA_PULL_TIMEOUT:-900}"
# What to pull from the registry when the model is missing ("" skips pulling).
if [[ -z "${OLLAMA_BASE_PULL+x}" ]]; then
  if [[ "$OLLAMA_BASE_MODEL" == smollm2-135m* ]]; then OLLAMA_BASE_PULL="smollm2:135m"; else OLLAMA_BASE_PULL="$OLLAMA_BASE_MODEL"; fi
fi
OLLAMA_REGISTRY="${OLLAMA_REGISTRY:-https://registry.ollama.ai}"

command -v python3 >/dev/null || die "python3 is needed (JSON handling); apt-get install python3"
url="$("$here/ollama.sh" url)"
curl -fsS --max-time 3 "$url/api/version" >/dev/null 2>&1 \
  || die "no Ollama answers at $url; run scripts/provision/ollama.sh start first (or set OLLAMA_HOST)"

# SmolLM2's chat format (ChatML), as in the GGUF's tokenizer.chat_template:
#   <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
# Every message renders in place, system messages included. With no system message the HF
# template inserts "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
# Ollama does the same with the model's SYSTEM (prepended when the request has none).
# A trailing assistant message is left open (prefill). The else branch serves /api/generate
# templates without messages.
read -r -d '' TEMPLATE <<'TMPL' || true
{{- if .Messages }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
<|im_start|>{{ .Role }}
{{ .Content }}{{ if not (and $last (eq .Role "assistant")) }}<|im_end|>
{{ end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>
{{ end }}
TMPL
SYSTEM="You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# Stop on both ChatML markers (<|im_end|> is also the GGUF's EOS). 135M models ramble and
# repeat, so a mild repeat penalty; personas override temperature per card.
PARAMETERS='{"stop": ["<|im_start|>", "<|im_end|>"], "temperature": 0.7, "top_p": 0.9, "top_k": 40, "repeat_penalty": 1.1, "num_ctx": 4096}'

# POST JSON, print the body; fail with Ollama's error message on a non-2xx answer.
post() {
  local path="$1" body="$2" max="${3:-300}" out code
  out="$(mktemp)"
  code="$(curl -sS --max-time "$max" -o "$out" -w '%{http_code}' -H 'Content-Type: application/json' \
    -X POST "$url$path" --data-binary "$body")" || { rm -f "$out"; return 1; }
  if [[ "$code" != 2* ]]; then
    log "POST $path -> HTTP $code: $(head -c 500 "$out")"
    rm -f "$out"
    return 1
  fi
  cat "$out"
  rm -f "$out"
}

model_exists() { post /api/show "$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1]}))' "$1")" 10 >/dev/null 2>&1; }

# JSON body for /api/create; extra fields as a JSON object in $2.
create_body() {
  python3 - "$OLLAMA_BASE_MODEL" "$1" "$TEMPLATE" "$SYSTEM" "$PARAMETERS" <<'PY'
import json, sys
model, extra, template, system, params = sys.argv[1:]
body = {"model": model, **json.loads(extra), "template": template, "system": system,
        "parameters": json.loads(params), "stream": False}
print(json.dumps(body))
PY
}

try_pull() {
  [[ -n "$OLLAMA_BASE_PULL" ]] || return 1
  # Probe first, so a machine without the registry fails in seconds, not at the pull timeout.
  if ! curl -sS --max-time 5 -o /dev/null "$OLLAMA_REGISTRY/v2/" 2>/dev/null; then
    log "the Ollama registry ($OLLAMA_REGISTRY) is unreachable; not pulling $OLLAMA_BASE_PULL"
    return 1
  fi
  log "pulling $OLLAMA_BASE_PULL from the Ollama registry (timeout ${OLLAMA_PULL_TIMEOUT} s)"
  post /api/pull "{\"model\": \"$OLLAMA_BASE_PULL\", \"stream\": false}" "$OLLAMA_PULL_TIMEOUT" >/dev/null || {
    log "pull of $OLLAMA_BASE_PULL failed"
    return 1
  }
  if [[ "$OLLAMA_BASE_PULL" == "$OLLAMA_BASE_MODEL" ]]; then return 0; fi
  if [[ "$OLLAMA_BASE_PULL" == smollm2:* ]]; then
    # Same weights family as the GGUF: give it our template, system and parameters.
    post /api/create "$(create_body "{\"from\": \"$OLLAMA_BASE_PULL\"}")" 300 >/dev/null
  else
    post /api/copy "{\"source\": \"$OLLAMA_BASE_PULL\", \"destination\": \"$OLLAMA_BASE_MODEL\"}" 60 >/dev/null
  fi
}

import_gguf() {
  [[ "$OLLAMA_BASE_MODEL" == smollm2* ]] \
    || die "$OLLAMA_BASE_MODEL is not in Ollama and could not be pulled; only SmolLM2 can be imported from the bundled GGUF. Create it yourself (ollama create) or unset OLLAMA_BASE_MODEL"
  local gguf digest name
  gguf="$("$here/model.sh")"
  name="$(basename "$gguf")"
  digest="sha256:$(sha256sum "$gguf" | cut -d' ' -f1)"
  if curl -fsS --max-time 10 -o /dev/null -I "$url/api/blobs/$digest" 2>/dev/null; then
    log "blob $digest already in Ollama"
  else
    log "uploading $name ($(du -h "$gguf" | cut -f1)) as blob $digest"
    local code
    code="$(curl -sS --max-time 600 -o /dev/null -w '%{http_code}' -X POST --data-binary "@$gguf" "$url/api/blobs/$digest")" \
      || die "uploading $gguf to $url failed"
    [[ "$code" == 2* ]] || die "uploading $gguf: HTTP $code (400 means a digest mismatch: the file changed while hashing?)"
  fi
  log "creating $OLLAMA_BASE_MODEL from $name (ChatML template, stop tokens <|im_start|> <|im_end|>)"
  post /api/create "$(create_body "{\"files\": {\"$name\": \"$digest\"}}")" 600 >/dev/null \
    || die "POST /api/create for $OLLAMA_BASE_MODEL failed (see the message above and the Ollama log)"
}

if model_exists "$OLLAMA_BASE_MODEL"; then
  log "base model $OLLAMA_BASE_MODEL already in Ollama at $url"
elif try_pull && model_exists "$OLLAMA_BASE_MODEL"; then
  log "base model $OLLAMA_BASE_MODEL pulled"
else
  import_gguf
  model_exists "$OLLAMA_BASE_MODEL" || die "$OLLAMA_BASE_MODEL is still missing after the import"
  log "base model $OLLAMA_BASE_MODEL imported"
fi

# A real chat turn: the model must load and say something.
reply="$(post /api/chat "$(python3 -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "stream": False,
  "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
  "options": {"num_predict": 32, "temperature": 0, "seed": 1}}))' "$OLLAMA_BASE_MODEL")" 300)" \
  || die "$OLLAMA_BASE_MODEL exists but /api/chat failed; see ${OLLAMA_LOG:-$PERSONA_BOT_CACHE/ollama.log}"
text="$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("message", {}).get("content", "").strip())' <<<"$reply")"
[[ -n "$text" ]] || die "$OLLAMA_BASE_MODEL answered an empty message: $reply"
log "$OLLAMA_BASE_MODEL says: ${text:0:200}"
echo "$OLLAMA_BASE_MODEL"
