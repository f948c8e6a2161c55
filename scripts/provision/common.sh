# Shared settings for the provisioning scripts. Sourced, not run.
# Everything downloaded or built lives outside the clone, so fresh clones and CI on
# the same machine reuse it; override the location with PERSONA_BOT_CACHE.
set -euo pipefail
PERSONA_BOT_CACHE="${PERSONA_BOT_CACHE:-$HOME/.cache/persona-bot}"
mkdir -p "$PERSONA_BOT_CACHE"
log() { printf '[provision] %s\n' "$*" >&2; }
die() { printf '[provision] ERROR: %s\n' "$*" >&2; exit 1; }
