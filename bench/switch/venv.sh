#!/usr/bin/env bash
# A tiny cached Python environment for bench/switch/make_lora_gguf.py: the `gguf` package and
# what it imports (numpy, PyYAML, tqdm), pinned. Independent of the trainer's virtualenv.
# Lives at $PERSONA_BOT_CACHE/bench-venv-<hash of the pins> (PERSONA_BOT_CACHE defaults to
# ~/.cache/persona-bot); created on first use (~5 s, ~80 MB, from PyPI or pip's cache), then
# reused. Prints the virtualenv's python on stdout; progress goes to stderr.
set -euo pipefail
log() { printf '[bench-venv] %s\n' "$*" >&2; }
die() { printf '[bench-venv] ERROR: %s\n' "$*" >&2; exit 1; }

# gguf pulls requests too, but only for remote helpers the script never imports: --no-deps.
PINS="gguf==0.19.0
numpy==2.4.6
pyyaml==6.0.4
tqdm==4.70.1"

cache="${PERSONA_BOT_CACHE:-$HOME/.cache/persona-bot}"
py="${PYTHON:-python3}"
command -v "$py" >/dev/null || die "python3 (3.11+) is needed: apt-get install python3 python3-venv"
hash="$(printf '%s\n%s\n' "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" "$PINS" | sha256sum | cut -c1-12)"
venv="$cache/bench-venv-$hash"

if [[ ! -f "$venv/.complete" ]]; then
  mkdir -p "$cache"
  # One builder at a time (tests and benchmarks may ask concurrently).
  exec 9>"$venv.lock"
  flock 9
  if [[ ! -f "$venv/.complete" ]]; then
    started=$SECONDS
    log "creating $venv"
    rm -rf "$venv"
    mapfile -t pins <<<"$PINS"
    # Without pip inside (15 MB saved) when the outer pip can install into another
    # interpreter (pip >= 22.3, --python); otherwise a venv with its own pip.
    if "$py" -m venv --without-pip "$venv" \
      && "$py" -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check --no-deps "${pins[@]}" 2>/dev/null; then
      :
    else
      rm -rf "$venv"
      "$py" -m venv "$venv" || die "python3 -m venv failed: apt-get install python3-venv"
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${pins[@]}" \
        || die "pip could not install ${pins[*]}"
    fi
    "$venv/bin/python" -c 'import gguf, numpy' || die "the new virtualenv $venv cannot import gguf"
    touch "$venv/.complete"
    log "created $venv in $((SECONDS - started)) s ($(du -sh "$venv" | cut -f1))"
  fi
  exec 9>&-
fi
echo "$venv/bin/python"
