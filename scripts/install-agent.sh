#!/usr/bin/env bash
# Install the nodeseal agent on a GPU node: idempotent, systemd-managed, hardened.
# See docs/configuration.md. Run `scripts/install-agent.sh --help`.
set -euo pipefail
PROG=install-agent.sh
. "$(dirname "$0")/systemd/install-lib.sh"

usage() {
  cat <<'USAGE'
Usage: install-agent.sh --collector-url URL[,URL...] [--ca-file FILE] [--enroll-token T | --enroll-token-file F]
                        [--node-id ID] [--release DIR] [--node PATH] [--skip-check]
       install-agent.sh --uninstall [--purge]

Installs the release under /opt/nodeseal (PREFIX), the config in /etc/nodeseal/agent.json, state in
/var/lib/nodeseal/agent, a 'nodeseal' system user (groups: tss for /dev/tpmrm0), the unit
nodeseal-agent.service and /etc/tmpfiles.d/nodeseal-agent.conf; then, when systemd is running,
enables and (re)starts the service. Re-running updates the release and keeps other settings.

  --collector-url URL   wss://collector:8443 (ws:// only to a loopback collector). Required on first install.
                        Several collectors: comma-separated or the flag repeated; the agent stays on one
                        and moves to the next when it fails.
  --ca-file FILE        PEM CA bundle that signed the collector's certificate (copied to /etc/nodeseal).
  --enroll-token T      one-time enrolment token from 'nodeseal collector enroll-token' (stored 0600 in
                        /etc/nodeseal/agent.env); --enroll-token-file reads it from a file instead.
  --node-id ID          node name reported to the collector (default: the host name).
  --release DIR         release folder built by 'node scripts/release.mjs' (default: found next to this script).
  --node PATH           Node 20+ binary the service runs (default: node on PATH).
  --skip-check          do not contact the collector before enabling the service.
  --uninstall           stop, disable and remove everything but the state in /var/lib/nodeseal/agent.
  --purge               with --uninstall: remove the state (identity key, spool) and the user too.

Environment: DESTDIR=/some/root installs into that root and starts, enables, chowns and contacts
nothing (for packagers and tests); PREFIX (default /opt/nodeseal).
Needs root for a real install. The agent itself runs unprivileged; DMI serials become readable to it
through the tmpfiles rule, and the TPM event log is copied by a privileged pre-start step.
USAGE
}

COLLECTOR_URL='' CA_FILE='' TOKEN='' NODE_ID='' SKIP_CHECK=0 UNINSTALL=0 PURGE=0 RELEASE=${RELEASE:-}
while [ $# -gt 0 ]; do
  case $1 in
    --collector-url) [ $# -ge 2 ] || die_usage "$1 needs a value"; COLLECTOR_URL=${COLLECTOR_URL:+$COLLECTOR_URL,}$2; shift 2 ;;
    --ca-file) [ $# -ge 2 ] || die_usage "$1 needs a value"; CA_FILE=$2; shift 2 ;;
    --enroll-token) [ $# -ge 2 ] || die_usage "$1 needs a value"; TOKEN=$2; shift 2 ;;
    --enroll-token-file) [ $# -ge 2 ] || die_usage "$1 needs a value"; [ -r "$2" ] || die_usage "cannot read $2"; TOKEN=$(tr -d '\r\n' < "$2"); shift 2 ;;
    --node-id) [ $# -ge 2 ] || die_usage "$1 needs a value"; NODE_ID=$2; shift 2 ;;
    --release) [ $# -ge 2 ] || die_usage "$1 needs a value"; RELEASE=$2; shift 2 ;;
    --node) [ $# -ge 2 ] || die_usage "$1 needs a value"; NODE_BIN=$2; shift 2 ;;
    --skip-check) SKIP_CHECK=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option '$1'" ;;
  esac
done
[ $PURGE = 0 ] || [ $UNINSTALL = 1 ] || die_usage "--purge only goes with --uninstall"

UNIT=nodeseal-agent.service
CONFIG=$ETC/agent.json
ENVFILE=$ETC/agent.env
CA_DEST=$ETC/collector-ca.pem

if [ $UNINSTALL = 1 ]; then
  require_root
  if systemd_running; then systemctl disable --now "$UNIT" 2>/dev/null || true; fi
  rm -f "$DESTDIR/etc/systemd/system/$UNIT" "$DESTDIR/etc/tmpfiles.d/nodeseal-agent.conf" \
        "$DESTDIR$CONFIG" "$DESTDIR$ENVFILE" "$DESTDIR$CA_DEST"
  finish_uninstall agent collector state
fi

# ---- checks: everything is validated before anything is written ----
require_root
find_release
find_node
if [ -z "$COLLECTOR_URL" ] && [ ! -f "$DESTDIR$CONFIG" ]; then die_usage "--collector-url is required (e.g. wss://collector.example:8443)"; fi
if [ -n "$COLLECTOR_URL" ]; then
  # Every URL is checked; the first bad one is named. Prints the config value: one URL, or a JSON list.
  if ! COLLECTOR_VALUE=$("$NODE_BIN" -e '
    const urls = [...new Set(process.argv[1].split(",").map((s) => s.trim()).filter(Boolean))];
    if (!urls.length) { console.error("no collector URL given"); process.exit(2); }
    for (const url of urls) {
      const bad = (why) => { console.error(`${url}: ${why}`); process.exit(2); };
      let u; try { u = new URL(url); } catch { bad("not a URL"); }
      if (u.protocol !== "wss:" && u.protocol !== "ws:") bad("the collector URL must start with wss:// (or ws:// to a loopback collector)");
      if (u.protocol === "ws:" && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(u.hostname)) bad("plain ws:// is only allowed to a loopback collector; use wss://");
      if (u.pathname !== "/" || u.search || u.hash || u.username) bad("give the collector base URL only (scheme://host:port), without path, query or credentials");
    }
    console.log(urls.length === 1 ? urls[0] : JSON.stringify(urls));
  ' "$COLLECTOR_URL" 2>&1); then die_usage "--collector-url: $COLLECTOR_VALUE"; fi
fi
if [ -n "$CA_FILE" ]; then
  [ -r "$CA_FILE" ] || die_usage "cannot read --ca-file $CA_FILE"
  "$NODE_BIN" -e '
    const pem = require("fs").readFileSync(process.argv[1], "utf8");
    const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (!certs.length) { console.error(`${process.argv[1]} holds no PEM certificate`); process.exit(2); }
    for (const c of certs) new (require("crypto").X509Certificate)(c);
  ' "$CA_FILE" || die_usage "--ca-file $CA_FILE is not a PEM certificate bundle"
fi
if [ -n "$TOKEN" ]; then
  [[ $TOKEN =~ ^[A-Za-z0-9._~+/=-]{8,512}$ ]] || die_usage "the enrolment token must be 8-512 characters of [A-Za-z0-9._~+/=-]"
fi
if [ -n "$NODE_ID" ]; then
  [[ $NODE_ID =~ ^[A-Za-z0-9._-]{1,253}$ ]] || die_usage "--node-id must be letters, digits, dot, dash, underscore (max 253)"
fi

# Contact the collector (never with DESTDIR): its /healthz over the same TLS the agent will use.
if real_install && [ $SKIP_CHECK = 0 ]; then
  url=${COLLECTOR_URL:-$("$NODE_BIN" -p '[JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).collector].flat().join(",")' "$CONFIG")}
  ca=${CA_FILE:-}
  [ -n "$ca" ] || [ ! -f "$CA_DEST" ] || ca=$CA_DEST
  if ! "$NODE_BIN" -e '
    // Each collector is asked; one that answers is enough (the agent moves past the others).
    const [list, ca] = process.argv.slice(1);
    const urls = list.split(",").map((s) => s.trim()).filter(Boolean);
    const check = (url) => new Promise((resolve) => {
      const u = new URL(url); u.protocol = u.protocol === "wss:" ? "https:" : "http:"; u.pathname = "/healthz";
      const mod = require(u.protocol === "https:" ? "https" : "http");
      const req = mod.get(u, { timeout: 5000, ...(ca ? { ca: require("fs").readFileSync(ca) } : {}) }, (res) => {
        res.resume();
        if (res.statusCode === 200) return resolve(true);
        console.error(`collector answered ${res.statusCode} on ${u.href}`); resolve(false);
      });
      req.on("timeout", () => { console.error(`no answer from ${u.href} within 5 s`); req.destroy(); resolve(false); });
      req.on("error", (e) => { console.error(`cannot reach ${u.href}: ${e.code ?? e.message}`); resolve(false); });
    });
    Promise.all(urls.map(check)).then((ok) => process.exit(ok.some(Boolean) ? 0 : 1));
  ' "$url" "$ca"; then
    die "collector check failed; fix --collector-url/--ca-file (or pass --skip-check to install anyway). Nothing was enabled."
  fi
  say "collector reachable at $url"
fi

# ---- install ----
ensure_user
if real_install && ! getent group tss >/dev/null; then groupadd --system tss; fi
if real_install; then usermod -a -G tss "$SERVICE_USER"; fi
install_release
mkdir_owned "$ETC" 0750 "root:$SERVICE_USER"
mkdir_owned "$STATE" 0750 "$SERVICE_USER:$SERVICE_USER"
mkdir_owned "$STATE/agent" 0750 "$SERVICE_USER:$SERVICE_USER"
if [ -n "$CA_FILE" ]; then write_file "$CA_DEST" 0644 root:root < "$CA_FILE"; fi
pairs=("stateDir=$STATE/agent")
[ -z "$COLLECTOR_URL" ] || pairs+=("collector=$COLLECTOR_VALUE")
[ -z "$CA_FILE" ] || pairs+=("caFile=$CA_DEST")
[ -z "$NODE_ID" ] || pairs+=("nodeId=$NODE_ID")
merge_json "$DESTDIR$CONFIG" "${pairs[@]}" | write_file "$CONFIG" 0640 "root:$SERVICE_USER"
if [ -n "$TOKEN" ]; then
  printf '# Written by install-agent.sh; read by systemd (root) for nodeseal-agent.service.\nNODESEAL_ENROLL_TOKEN=%s\n' "$TOKEN" | write_file "$ENVFILE" 0600 root:root
fi
mkdir -p "$DESTDIR/etc/tmpfiles.d"
install -m 0644 "$UNITS/nodeseal-agent.tmpfiles" "$DESTDIR/etc/tmpfiles.d/nodeseal-agent.conf"
install_unit "$UNIT"

# What this host can provide (TPM, event log, GPUs, each source), with the installed config and token.
# Exit 0: the agent can run (a missing TPM or GPU is only a warning); 1: it cannot (config, state dir).
if real_install && [ $SKIP_CHECK = 0 ]; then
  if ! ( [ -z "$TOKEN" ] || export NODESEAL_ENROLL_TOKEN=$TOKEN
         NODESEAL_AGENT_CONFIG=$CONFIG "$NODE_BIN" "$PREFIX/nodeseal.mjs" agent --check ); then
    die "nodeseal agent --check found a blocking problem (above); the service was installed but not enabled"
  fi
fi

if systemd_running; then
  systemd-tmpfiles --create /etc/tmpfiles.d/nodeseal-agent.conf || true
  systemctl daemon-reload
  systemctl enable "$UNIT" >/dev/null
  systemctl restart "$UNIT"
  say "nodeseal-agent enabled and started: systemctl status $UNIT"
elif real_install; then
  say "installed; systemd is not running here, so nothing was started. Run: $PREFIX/bin/nodeseal agent --config $CONFIG"
else
  say "installed into $DESTDIR (nothing started, enabled or contacted)"
fi
