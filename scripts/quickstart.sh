#!/usr/bin/env bash
# nodeseal quick start: on a fresh Debian 12 (as root, with Node 20 and npm), installs what the
# agent needs (swtpm, tpm2-tools, the tpm2-tss runtime), builds nodeseal, starts a software TPM
# when this host has no /dev/tpmrm0, then runs a collector on its embedded SQLite and an agent
# on this host, and prints the dashboard URL. Stays in the foreground; Ctrl-C stops everything.
#
# Settings (environment): NODESEAL_QUICKSTART_DIR (state, default /var/lib/nodeseal/quickstart),
# NODESEAL_QUICKSTART_PORT (collector, default 8443), NODESEAL_QUICKSTART_SWTPM_PORT (2321),
# NODESEAL_QUICKSTART_INTERVAL (report interval in seconds, default 10).
# Lab setting: the collector pins this agent's key on first contact (--allow-tofu); production
# agents enrol with a one-time token and their TPM (see README).
set -euo pipefail

cd "$(dirname "$0")/.."
STATE=${NODESEAL_QUICKSTART_DIR:-/var/lib/nodeseal/quickstart}
PORT=${NODESEAL_QUICKSTART_PORT:-8443}
SWTPM_PORT=${NODESEAL_QUICKSTART_SWTPM_PORT:-2321}
INTERVAL=${NODESEAL_QUICKSTART_INTERVAL:-10}
say() { printf 'quickstart: %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ----------------------------------------------------------------------------
command -v node >/dev/null || die "Node.js 20 is required (apt-get install nodejs npm, or nodesource), then re-run"
command -v npm >/dev/null || die "npm is required, then re-run"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js 20 or later is required (found $(node --version))"

pkgs=(swtpm swtpm-tools tpm2-tools libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-mu0 libtss2-rc0 libtss2-tcti-swtpm0 libtss2-tcti-device0 curl openssl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
say "building (npm run build)"
npm run -s build
CLI=(node dist/bin/nodeseal.js)

mkdir -p "$STATE"
chmod 700 "$STATE"

# --- children and cleanup ---------------------------------------------------------------------
pids=()
cleanup() {
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  say "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- TPM: the real one, or a software TPM ----------------------------------------------------
if [ -e /dev/tpmrm0 ]; then
  TCTI=device:/dev/tpmrm0
  say "using this host's TPM (/dev/tpmrm0)"
else
  port_open "$SWTPM_PORT" && die "port $SWTPM_PORT is in use (set NODESEAL_QUICKSTART_SWTPM_PORT)"
  mkdir -p "$STATE/swtpm"
  swtpm socket --tpm2 --tpmstate "dir=$STATE/swtpm" \
    --server "type=tcp,port=$SWTPM_PORT,bindaddr=127.0.0.1" --ctrl "type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1" \
    --flags not-need-init,startup-clear &
  pids+=($!)
  for _ in $(seq 1 50); do port_open "$SWTPM_PORT" && break; sleep 0.1; done
  port_open "$SWTPM_PORT" || die "swtpm did not start"
  TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
  say "no /dev/tpmrm0: started a software TPM (swtpm) on 127.0.0.1:$SWTPM_PORT"
fi

# --- collector ---------------------------------------------------------------------------------
port_open "$PORT" && die "port $PORT is in use (set NODESEAL_QUICKSTART_PORT)"
if [ ! -s "$STATE/operator-token" ]; then
  (umask 077 && openssl rand -hex 32 >"$STATE/operator-token")
fi
"${CLI[@]}" collector --listen "127.0.0.1:$PORT" --db "$STATE/collector.db" --interval "$INTERVAL" \
  --allow-tofu --bootstrap-token-file "$STATE/operator-token" --log-level warn &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || die "the collector did not start"

# --- agent on this host ------------------------------------------------------------------------
"${CLI[@]}" agent --collector "ws://127.0.0.1:$PORT" --state-dir "$STATE/agent" --tcti "$TCTI" --log-level warn &
pids+=($!)

cat <<MSG

  nodeseal is running.
    Dashboard:       http://127.0.0.1:$PORT/
    Operator token:  $(cat "$STATE/operator-token")   (paste it into the dashboard; file $STATE/operator-token)
    This node:       curl -s -H "Authorization: Bearer \$(cat $STATE/operator-token)" http://127.0.0.1:$PORT/v1/nodes/$(hostname)/trust
    State:           $STATE
  Press Ctrl-C to stop.

MSG

# Stay in the foreground until Ctrl-C or until a child exits.
set +e
wait -n "${pids[@]}"
status=$?
say "a component exited (status $status); stopping"
exit "$status"
