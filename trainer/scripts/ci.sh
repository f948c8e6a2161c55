#!/usr/bin/env bash
# Creates (or reuses) the trainer's cached virtualenv and runs its pytest suite.
# Called from the project's `npm test` and `.ci/run`. Extra arguments go to pytest.
#   PERSONA_BOT_CACHE   cache root (default ~/.cache/persona-bot)
#   TRAINER_VENV        use this virtualenv instead of the cached one
#   TRAINER_SETUP_ONLY=1  only create the virtualenv
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$here/.." && pwd)"
log() { echo "[trainer-ci] $*" >&2; }
die() { echo "[trainer-ci] error: $*" >&2; exit 1; }

cache="${PERSONA_BOT_CACHE:-$HOME/.cache/persona-bot}"
hash="$(cat "$here/requirements.txt" | sha256sum | cut -c1-12)"
venv="${TRAINER_VENV:-$cache/trainer-venv-$hash}"
py="${PYTHON:-python3}"
command -v "$py" >/dev/null || die "python3 (3.10+) is needed: apt-get install python3 python3-venv"

if [[ ! -f "$venv/.complete" ]]; then
  log "creating virtualenv $venv"
  mkdir -p "$cache"
  rm -rf "$venv"
  if ! "$py" -c 'import ensurepip, venv' 2>/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "python3-venv is missing; installing it with apt-get"
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 || true
  fi
  "$py" -m venv "$venv" || die "python3 -m venv failed: apt-get install python3-venv"
  "$venv/bin/python" -m pip install --upgrade --quiet pip
  torch_pin="$(grep -E '^torch==' "$here/requirements.txt")"
  if ! "$venv/bin/python" -m pip install --only-binary=:all: --no-index "$torch_pin" >/dev/null 2>&1; then
    # Not on disk (pip's find-links): PyPI's Linux torch is the CUDA build, ~3 GB of wheels, ~5.5 GB installed.
    need_gb=9
    free_gb=$(( $(df -Pk "$cache" | awk 'NR==2{print $4}') / 1024 / 1024 ))
    pipcache="$("$venv/bin/python" -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")"
    mkdir -p "$pipcache"
    free_pip_gb=$(( $(df -Pk "$pipcache" | awk 'NR==2{print $4}') / 1024 / 1024 ))
    if (( free_gb < need_gb || free_pip_gb < 4 )); then
      rm -rf "$venv"
      die "not enough free disk for torch: $free_gb GiB free at $cache and $free_pip_gb GiB at pip's cache $pipcache; need about $need_gb GiB (CUDA torch wheels ~3 GB + ~5.5 GB installed). Free space or set PERSONA_BOT_CACHE to a larger disk."
    fi
    log "installing $torch_pin from PyPI (CUDA build, ~3 GB download; pip's cache is reused): $free_gb GiB free"
    "$venv/bin/python" -m pip install --progress-bar on "$torch_pin" || die "pip could not install $torch_pin"
  else
    log "installed $torch_pin from a wheel on disk"
  fi
  log "installing the pinned requirements"
  "$venv/bin/python" -m pip install --progress-bar on -r "$here/requirements.txt" || die "pip could not install trainer/requirements.txt"
  "$venv/bin/python" -m pip install --no-deps --quiet -e "$here" || die "pip could not install the trainer package"
  touch "$venv/.complete"
else
  log "reusing virtualenv $venv"
fi

[[ "${TRAINER_SETUP_ONLY:-0}" == 1 ]] && { echo "$venv"; exit 0; }

# The tests use the same SmolLM2 GGUF the bot serves, from the shared provisioning script.
if [[ -z "${TRAINER_TEST_GGUF:-}" ]]; then
  TRAINER_TEST_GGUF="$(bash "$repo/scripts/provision/model.sh")" || die "scripts/provision/model.sh could not provide the model"
  export TRAINER_TEST_GGUF
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export PERSONA_BOT_CACHE="$cache"
cd "$here"
exec "$venv/bin/python" -m pytest "$@"
