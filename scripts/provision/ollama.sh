#!/usr/bin/env bash
# Builds, starts and stops the Ollama server the bot talks to.
#
#   ollama.sh build    prints the ollama binary path (builds the pinned Go module if needed)
#   ollama.sh start    prints the server's base URL (starts `ollama serve` if nothing answers)
#   ollama.sh stop     stops the server that `start` started (pid file); leaves others alone
#   ollama.sh status   prints the base URL if the server answers, exits 1 if not
#   ollama.sh url      prints the base URL the other commands use
#   ollama.sh bin      prints the binary `start` would run
#   ollama.sh pid      prints the pid of the server `start` started, exits 1 if none runs
# Settings: OLLAMA_VERSION (v0.11.4), OLLAMA_PORT (11434), OLLAMA_HOST (use that server),
# OLLAMA_BIN (use that binary), OLLAMA_CGO_FLAGS (compiler flags), OLLAMA_BUILD=1 (build even
# if ollama is on PATH), OLLAMA_MODELS ($PERSONA_BOT_CACHE/ollama-models), OLLAMA_START_TIMEOUT,
# OLLAMA_NICE (0; e.g. 10 on a CPU-only host shared with the bot: the model's threads then yield
# the CPU to the bot's short bursts of work, and its runners inherit the priority; set on the
# server's process and, where the kernel schedules sessions as groups, on its session),
# OLLAMA_NUM_PARALLEL (4: requests one loaded model decodes together; a dataset build's 3
# teacher streams then share a batch and live chat keeps the fourth slot; on 2 cores 4 short
# streams measured 1.75x one stream's tokens/s, the teacher's card-sized requests only 1.085x:
# bench/results/quality.json generation_speedup).
#
# Reuse before build: an Ollama answering at $OLLAMA_HOST (when set) or an `ollama` on PATH is
# used as is (OLLAMA_BUILD=1 builds anyway). Otherwise the pinned release is compiled from its Go
# module (CPU backend through cgo, no cmake, no GitHub):
#   CGO_ENABLED=1 go install github.com/ollama/ollama@$OLLAMA_VERSION
# v0.11.4 is the newest tag whose module zip builds as is: later tags keep C++ headers under
# llama/llama.cpp/vendor/, and Go module zips drop every vendor/ folder.
# The binary is cached per version and compiler flags:
#   $PERSONA_BOT_CACHE/ollama/<version>-<hash of flags>/bin/ollama  (+ build-info.json, build.log)
# Go's module and build caches live in $PERSONA_BOT_CACHE/go, so a rebuild with other flags
# downloads nothing again.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OLLAMA_VERSION="${OLLAMA_VERSION:-v0.11.4}"
OLLAMA_PORT="${OLLAMA_PORT:-11434}"
OLLAMA_START_TIMEOUT="${OLLAMA_START_TIMEOUT:-60}"
OLLAMA_NUM_PARALLEL="${OLLAMA_NUM_PARALLEL:-4}"
OLLAMA_NICE="${OLLAMA_NICE:-0}"
[[ "$OLLAMA_NICE" =~ ^[0-9]+$ && "$OLLAMA_NICE" -le 19 ]] || die "OLLAMA_NICE must be a nice level from 0 to 19, got '$OLLAMA_NICE'"
OLLAMA_MODELS="${OLLAMA_MODELS:-$PERSONA_BOT_CACHE/ollama-models}"
GO_MIN_VERSION="1.24"

# --- addresses -------------------------------------------------------------------------------

# Base URL (scheme://host:port) for an OLLAMA_HOST value, normalised like Ollama does:
# "0.0.0.0:11434", "localhost", "http://h:1234" all work.
host_to_url() {
  local h="${1%/}" scheme=http
  if [[ "$h" == *://* ]]; then scheme="${h%%://*}"; h="${h#*://}"; fi
  h="${h%%/*}"
  [[ -n "$h" ]] || h="127.0.0.1"
  if [[ "$h" != *:* || "$h" == *"]" ]]; then
    if [[ "$scheme" == https ]]; then h="$h:443"; else h="$h:11434"; fi
  fi
  # 0.0.0.0 means "all interfaces" to the server; clients reach it on loopback.
  h="${h/#0.0.0.0:/127.0.0.1:}"
  echo "$scheme://$h"
}

# The URL every subcommand (and base-model.sh, measure.sh) talks to.
base_url() {
  if [[ -n "${OLLAMA_HOST:-}" ]]; then host_to_url "$OLLAMA_HOST"; else echo "http://127.0.0.1:$OLLAMA_PORT"; fi
}

# One log and pid file per port, so a second server (OLLAMA_PORT=11435) keeps its own;
# the default port keeps the plain names ollama.log / ollama.pid.
_port="$(base_url)"; _port="${_port##*:}"
if [[ "$_port" == 11434 ]]; then _sfx=""; else _sfx="-$_port"; fi
OLLAMA_LOG="$PERSONA_BOT_CACHE/ollama$_sfx.log"
OLLAMA_PIDFILE="$PERSONA_BOT_CACHE/ollama$_sfx.pid"

is_local_url() { [[ "$1" =~ ^http://(127\.[0-9.]+|localhost|\[::1\]):[0-9]+$ ]]; }

answers() { curl -fsS --max-time 2 "$1/api/version" >/dev/null 2>&1; }

server_version() { curl -fsS --max-time 2 "$1/api/version" 2>/dev/null | sed -n 's/.*"version":"\([^"]*\)".*/\1/p'; }

# --- build -----------------------------------------------------------------------------------

has_cpu_flags() {
  local f
  for f in "$@"; do grep -qw "$f" /proc/cpuinfo 2>/dev/null || return 1; done
}

# Compiler flags for the cgo parts (ggml, llama.cpp). OLLAMA_CGO_FLAGS overrides.
cgo_flags() {
  if [[ -n "${OLLAMA_CGO_FLAGS:-}" ]]; then echo "$OLLAMA_CGO_FLAGS"
  elif [[ "$(uname -m)" == x86_64 ]] && has_cpu_flags avx2 fma f16c; then echo "-O3 -march=x86-64-v3"
  else echo "-O2"
  fi
}

build_dir() {
  local key
  key="$(printf '%s' "$(cgo_flags)" | sha256sum | cut -c1-8)"
  echo "$PERSONA_BOT_CACHE/ollama/$OLLAMA_VERSION-$key"
}

built_bin() { echo "$(build_dir)/bin/ollama"; }

# The binary `start` runs: OLLAMA_BIN, else our build, else the one on PATH.
find_bin() {
  if [[ -n "${OLLAMA_BIN:-}" ]]; then
    [[ -x "$OLLAMA_BIN" ]] || die "OLLAMA_BIN=$OLLAMA_BIN is not an executable"
    echo "$OLLAMA_BIN"
  elif [[ -x "$(built_bin)" ]]; then built_bin
  elif command -v ollama >/dev/null 2>&1; then command -v ollama
  else return 1
  fi
}

version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" == "$2" ]]; }

check_toolchain() {
  command -v go >/dev/null 2>&1 \
    || die "Go is not installed. Ollama $OLLAMA_VERSION needs Go >= $GO_MIN_VERSION (https://go.dev/dl/, or apt-get install golang-1.24 where available), or install Ollama itself and put \`ollama\` on PATH"
  local gov
  gov="$(go env GOVERSION 2>/dev/null)"; gov="${gov#go}"; gov="${gov%%[-+ ]*}"
  if ! version_ge "$gov" "$GO_MIN_VERSION"; then
    if [[ "$(go env GOTOOLCHAIN)" == local* ]]; then
      die "Go $gov is too old: Ollama $OLLAMA_VERSION needs Go >= $GO_MIN_VERSION, and GOTOOLCHAIN=local forbids fetching one. Install a newer Go or unset GOTOOLCHAIN"
    fi
    log "Go $gov < $GO_MIN_VERSION: go will fetch a newer toolchain from the module proxy (GOTOOLCHAIN=auto)"
  fi
  local cc="${CC:-gcc}" cxx="${CXX:-g++}"
  command -v "$cc" >/dev/null 2>&1 || die "no C compiler ($cc). Ollama's CPU backend is C/C++ built through cgo: apt-get install build-essential (gcc, g++)"
  command -v "$cxx" >/dev/null 2>&1 || die "no C++ compiler ($cxx). apt-get install g++ (or build-essential)"
}

# Explains a failed build from its log.
diagnose_build() {
  local logf="$1"
  log "last lines of $logf:"
  tail -n 25 "$logf" | sed 's/^/    /' >&2
  if grep -qE 'requires go >=|go: (updates to )?go\.mod requires go|toolchain not available' "$logf"; then
    log "cause: Go is too old for Ollama $OLLAMA_VERSION (needs >= $GO_MIN_VERSION). Install a newer Go."
  elif grep -qE 'exec: "(g\+\+|gcc|cc|c\+\+)": executable file not found|cc1plus: not found|cannot execute .cc1' "$logf"; then
    log "cause: C/C++ compiler missing. apt-get install build-essential"
  elif grep -qE 'fatal error: .*(vendor|nlohmann|stb_image|miniaudio).*No such file' "$logf"; then
    log "cause: headers from llama.cpp's vendor/ folder are missing (Go module zips drop vendor/). Use OLLAMA_VERSION=v0.11.4, or supply them (apt-get install nlohmann-json3-dev libstb-dev) via CGO_CPPFLAGS=-I..."
  elif grep -qE 'fatal error: .*No such file or directory' "$logf"; then
    log "cause: a C/C++ header is missing (see above); install the package that provides it"
  elif grep -qE 'dial tcp|proxy\.golang\.org|no such host|TLS handshake|i/o timeout' "$logf"; then
    log "cause: the Go module proxy is unreachable. Check GOPROXY ($(go env GOPROXY)) and the network"
  elif grep -qE 'signal: killed|Killed|out of memory|cannot allocate memory' "$logf"; then
    log "cause: the compiler ran out of memory. Retry with fewer jobs: GOFLAGS=-p=1 $0 build"
  elif grep -qE 'unrecognized (command-line )?option|unknown architecture|bad value .* for .-march' "$logf"; then
    log "cause: the compiler rejected the flags '$(cgo_flags)'. Retry with OLLAMA_CGO_FLAGS=-O2"
  fi
  die "building Ollama $OLLAMA_VERSION failed (full log: $logf). Alternatives: install Ollama and put \`ollama\` on PATH, or point OLLAMA_HOST at a running one"
}

cmd_build() {
  if [[ -n "${OLLAMA_HOST:-}" ]] && answers "$(base_url)"; then
    log "using the Ollama $(server_version "$(base_url)") already answering at $(base_url) (OLLAMA_HOST); nothing to build"
    # Print a binary only if there is one; the server is what matters.
    find_bin 2>/dev/null || true
    return 0
  fi
  if [[ "${OLLAMA_BUILD:-0}" != 1 && -z "${OLLAMA_BIN:-}" ]] && [[ ! -x "$(built_bin)" ]] && command -v ollama >/dev/null 2>&1; then
    log "using ollama from PATH: $(command -v ollama) ($(ollama -v 2>/dev/null | tail -1)); OLLAMA_BUILD=1 builds the pinned $OLLAMA_VERSION instead"
    command -v ollama
    return 0
  fi
  if [[ -n "${OLLAMA_BIN:-}" ]]; then
    find_bin
    return 0
  fi

  local dir bin flags
  dir="$(build_dir)"; bin="$dir/bin/ollama"; flags="$(cgo_flags)"
  if [[ -x "$bin" ]]; then
    log "Ollama $OLLAMA_VERSION already built ($flags): $bin"
    echo "$bin"
    return 0
  fi

  check_toolchain
  mkdir -p "$dir" "$PERSONA_BOT_CACHE/go"
  rm -rf "$dir/bin.tmp"
  local logf="$dir/build.log"
  export GOPATH="$PERSONA_BOT_CACHE/go"
  export GOMODCACHE="$PERSONA_BOT_CACHE/go/pkg/mod"
  export GOCACHE="$PERSONA_BOT_CACHE/go/cache"
  export GOBIN="$dir/bin.tmp"
  export CGO_ENABLED=1
  export CGO_CFLAGS="$flags" CGO_CXXFLAGS="$flags"
  local ver="${OLLAMA_VERSION#v}"
  log "building Ollama $OLLAMA_VERSION from its Go module with CGO_CFLAGS/CGO_CXXFLAGS='$flags' ($(nproc) cores; a cold build takes minutes, a cached rebuild seconds)"
  log "log: $logf"

  local start=$SECONDS
  # Progress ticker: one line every 30 s with the package being compiled (go install -v).
  # stdout goes to stderr: a lingering child must not hold a caller's $(...) open.
  (
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 & s=$!
      wait "$s"
      last="$(grep -E '^[A-Za-z0-9._~/-]+$' "$logf" 2>/dev/null | tail -1)"
      log "still building Ollama ($((SECONDS - start)) s${last:+, last package: $last})"
    done
  ) >&2 &
  local ticker=$!
  trap 'kill "$ticker" 2>/dev/null || true' EXIT

  local rc=0
  go install -v -ldflags "-s -w -X=github.com/ollama/ollama/version.Version=$ver" \
    "github.com/ollama/ollama@$OLLAMA_VERSION" >"$logf" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  trap - EXIT
  local secs=$((SECONDS - start))
  if [[ $rc -ne 0 || ! -x "$GOBIN/ollama" ]]; then
    diagnose_build "$logf"
  fi

  cat >"$dir/build-info.json" <<JSON
{"version": "$OLLAMA_VERSION", "cgo_cflags": "$flags", "cgo_cxxflags": "$flags", "build_seconds": $secs, "go": "$(go env GOVERSION)", "cc": "$("${CC:-gcc}" --version | head -1)", "cores": $(nproc), "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
JSON
  rm -rf "${dir:?}/bin"
  mv "$GOBIN" "$dir/bin"
  log "built Ollama $OLLAMA_VERSION in ${secs} s: $bin"
  echo "$bin"
}

# --- serve -----------------------------------------------------------------------------------

our_pid() {
  [[ -s "$OLLAMA_PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$OLLAMA_PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# The server runs in its own session (setsid). Where the kernel schedules each session as a group
# (autogroup, on by default on many distributions), a process's nice only ranks it within its
# session, and sessions share the CPU evenly: the model would still take half the CPU from the
# bot. So the session's nice is set as well (/proc/<pid>/autogroup), never the caller's own.
set_session_nice() {
  local pid="$1" group="/proc/$1/autogroup"
  ((OLLAMA_NICE > 0)) && [[ -w "$group" ]] || return 0
  if [[ "$(cut -d' ' -f1 "$group")" == "$(cut -d' ' -f1 "/proc/$$/autogroup" 2>/dev/null)" ]]; then
    log "ollama serve (pid $pid) shares this shell's session: its session's nice is left alone"
    return 0
  fi
  echo "$OLLAMA_NICE" >"$group" 2>/dev/null || log "could not set the nice of ollama's session ($group); only its process runs at nice $OLLAMA_NICE"
}

cmd_start() {
  local url
  url="$(base_url)"
  if answers "$url"; then
    log "Ollama $(server_version "$url") already answering at $url; reusing it"
    echo "$url"
    return 0
  fi
  is_local_url "$url" || die "OLLAMA_HOST=$OLLAMA_HOST ($url) does not answer, and it is not a local address this script can start a server on. Start that server, or unset OLLAMA_HOST to run a local one"

  local bin
  bin="$(find_bin)" || die "no ollama binary: run '$0 build' first (or put ollama on PATH)"
  if pid="$(our_pid)"; then
    die "the ollama we started (pid $pid) is running but does not answer at $url; see $OLLAMA_LOG, or '$0 stop' and retry"
  fi
  mkdir -p "$OLLAMA_MODELS"
  local hostport="${url#http://}"
  log "starting $bin serve on $hostport (models: $OLLAMA_MODELS, log: $OLLAMA_LOG, nice $OLLAMA_NICE, $OLLAMA_NUM_PARALLEL parallel requests)"
  # setsid: the server outlives this script and the caller's terminal; the pid file stops it.
  OLLAMA_HOST="$hostport" OLLAMA_MODELS="$OLLAMA_MODELS" OLLAMA_NUM_PARALLEL="$OLLAMA_NUM_PARALLEL" \
    nice -n "$OLLAMA_NICE" setsid "$bin" serve >>"$OLLAMA_LOG" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$OLLAMA_PIDFILE"

  local deadline=$((SECONDS + OLLAMA_START_TIMEOUT))
  until answers "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$OLLAMA_PIDFILE"
      log "ollama serve exited; last lines of $OLLAMA_LOG:"
      tail -n 20 "$OLLAMA_LOG" | sed 's/^/    /' >&2
      die "ollama serve did not start (port $hostport in use by something else? see $OLLAMA_LOG)"
    fi
    if ((SECONDS >= deadline)); then
      log "last lines of $OLLAMA_LOG:"
      tail -n 20 "$OLLAMA_LOG" | sed 's/^/    /' >&2
      die "ollama serve (pid $pid) did not answer GET $url/api/version within ${OLLAMA_START_TIMEOUT} s; it is still running: '$0 stop' stops it, OLLAMA_START_TIMEOUT raises the wait"
    fi
    sleep 0.3
  done
  set_session_nice "$pid"
  log "Ollama $(server_version "$url") up at $url (pid $pid)"
  echo "$url"
}

cmd_stop() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$OLLAMA_PIDFILE"
    log "no ollama started by this script is running"
    return 0
  fi
  log "stopping ollama (pid $pid)"
  kill "$pid"
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "ollama (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$OLLAMA_PIDFILE"
}

cmd_status() {
  local url
  url="$(base_url)"
  if answers "$url"; then
    local pid note=""
    if pid="$(our_pid)"; then note=" (started by ollama.sh, pid $pid, log $OLLAMA_LOG)"; fi
    log "Ollama $(server_version "$url") answering at $url$note"
    echo "$url"
  else
    log "nothing answers at $url"
    return 1
  fi
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) base_url ;;
  bin) find_bin || die "no ollama binary yet: run '$0 build'" ;;
  pid) our_pid ;;
  *) die "usage: $0 build|start|stop|status|url|bin|pid" ;;
esac
