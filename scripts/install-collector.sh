#!/usr/bin/env bash
# Install the nodeseal collector: idempotent, systemd-managed, hardened.
# See docs/configuration.md. Run `scripts/install-collector.sh --help`.
set -euo pipefail
PROG=install-collector.sh
. "$(dirname "$0")/systemd/install-lib.sh"

usage() {
  cat <<'USAGE'
Usage: install-collector.sh [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE] [--postgres URL]
                            [--ek-ca-dir DIR] [--allow-tofu] [--insecure] [--release DIR] [--node PATH] [--skip-check]
       install-collector.sh --uninstall [--purge]

Installs the release under /opt/nodeseal (PREFIX), the config in /etc/nodeseal/collector.json, the
SQLite database in /var/lib/nodeseal/collector, a 'nodeseal' system user and the unit
nodeseal-collector.service; then, when systemd is running, enables and (re)starts it and waits for
/healthz. Re-running updates the release and keeps other settings.

  --listen HOST:PORT   where agents and API clients connect (default 127.0.0.1:8443).
  --tls-cert FILE      server certificate (PEM) and --tls-key FILE its key: copied to /etc/nodeseal/tls;
                       required to listen on a non-loopback address unless --insecure.
  --postgres URL       use PostgreSQL instead of SQLite (stored 0600 in /etc/nodeseal/collector.env).
  --ek-ca-dir DIR      PEM CA certificates that TPM endorsement-key certificates must chain to
                       (copied to /etc/nodeseal/ek-ca; NODESEAL_EK_CA_DIR in collector.env).
  --allow-tofu         pin nodes without an enrolment token on first contact (lab use only).
  --insecure           allow plain http/ws on a non-loopback address (lab use only).
  --release DIR        release folder built by 'node scripts/release.mjs' (default: next to this script).
  --node PATH          Node 20+ binary the service runs (default: node on PATH).
  --skip-check         do not wait for the started collector's /healthz.
  --uninstall          stop, disable and remove everything but the database in /var/lib/nodeseal/collector.
  --purge              with --uninstall: remove the database (and the user when no agent remains).

Environment: DESTDIR=/some/root installs into that root and starts, enables, chowns and contacts
nothing; PREFIX (default /opt/nodeseal). Needs root for a real install; the service runs unprivileged
(ports below 1024 are not available to it).
USAGE
}

LISTEN='' TLS_CERT='' TLS_KEY='' POSTGRES='' EK_CA_DIR='' TOFU=0 INSECURE=0 SKIP_CHECK=0 UNINSTALL=0 PURGE=0 RELEASE=${RELEASE:-}
while [ $# -gt 0 ]; do
  case $1 in
    --listen) [ $# -ge 2 ] || die_usage "$1 needs a value"; LISTEN=$2; shift 2 ;;
    --tls-cert) [ $# -ge 2 ] || die_usage "$1 needs a value"; TLS_CERT=$2; shift 2 ;;
    --tls-key) [ $# -ge 2 ] || die_usage "$1 needs a value"; TLS_KEY=$2; shift 2 ;;
    --postgres) [ $# -ge 2 ] || die_usage "$1 needs a value"; POSTGRES=$2; shift 2 ;;
    --ek-ca-dir) [ $# -ge 2 ] || die_usage "$1 needs a value"; EK_CA_DIR=$2; shift 2 ;;
    --allow-tofu) TOFU=1; shift ;;
    --insecure) INSECURE=1; shift ;;
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

UNIT=nodeseal-collector.service
CONFIG=$ETC/collector.json
ENVFILE=$ETC/collector.env
TLS_DIR=$ETC/tls

if [ $UNINSTALL = 1 ]; then
  require_root
  if systemd_running; then systemctl disable --now "$UNIT" 2>/dev/null || true; fi
  rm -f "$DESTDIR/etc/systemd/system/$UNIT" "$DESTDIR$CONFIG" "$DESTDIR$ENVFILE"
  remove_tree "$TLS_DIR"
  remove_tree "$ETC/ek-ca"
  finish_uninstall collector agent database
fi

# ---- checks: everything is validated before anything is written ----
require_root
find_release
find_node
if [ -n "$LISTEN" ]; then
  [[ $LISTEN =~ ^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$ ]] && [ "${BASH_REMATCH[2]}" -le 65535 ] || die_usage "--listen must be HOST:PORT (e.g. 0.0.0.0:8443), not '$LISTEN'"
fi
if [ -n "$TLS_CERT$TLS_KEY" ]; then
  [ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ] || die_usage "--tls-cert and --tls-key go together"
  [ -r "$TLS_CERT" ] || die_usage "cannot read --tls-cert $TLS_CERT"
  [ -r "$TLS_KEY" ] || die_usage "cannot read --tls-key $TLS_KEY"
  if ! msg=$("$NODE_BIN" -e '
    const { X509Certificate, createPrivateKey } = require("crypto"); const fs = require("fs");
    let cert, key;
    try { cert = new X509Certificate(fs.readFileSync(process.argv[1])); } catch (e) { console.error(`--tls-cert is not a PEM certificate (${e.message})`); process.exit(2); }
    try { key = createPrivateKey(fs.readFileSync(process.argv[2])); } catch (e) { console.error(`--tls-key is not a PEM private key (${e.message})`); process.exit(2); }
    if (!cert.checkPrivateKey(key)) { console.error("--tls-key does not belong to --tls-cert"); process.exit(2); }
    if (new Date(cert.validTo) < new Date()) { console.error(`--tls-cert expired on ${cert.validTo}`); process.exit(2); }
  ' "$TLS_CERT" "$TLS_KEY" 2>&1); then die_usage "$msg"; fi
fi
if [ -n "$POSTGRES" ]; then
  [[ $POSTGRES =~ ^postgres(ql)?:// ]] || die_usage "--postgres must be a postgres:// or postgresql:// URL"
fi
if [ -n "$EK_CA_DIR" ]; then
  [ -d "$EK_CA_DIR" ] || die_usage "--ek-ca-dir $EK_CA_DIR is not a directory"
  ls "$EK_CA_DIR"/*.pem >/dev/null 2>&1 || die_usage "--ek-ca-dir $EK_CA_DIR holds no .pem files"
fi
host=${LISTEN%:*}
if [ -n "$LISTEN" ] && [ -z "$TLS_CERT" ] && [ $INSECURE = 0 ] && [ -z "$(ls "$DESTDIR$TLS_DIR" 2>/dev/null)" ]; then
  case $host in 127.*|localhost|\[::1\]) ;; *) die_usage "refusing plain http/ws on $host: give --tls-cert/--tls-key, listen on loopback, or pass --insecure" ;; esac
fi

# ---- install ----
ensure_user
install_release
mkdir_owned "$ETC" 0750 "root:$SERVICE_USER"
mkdir_owned "$STATE" 0750 "$SERVICE_USER:$SERVICE_USER"
mkdir_owned "$STATE/collector" 0750 "$SERVICE_USER:$SERVICE_USER"
pairs=("db=$STATE/collector/collector.db")
[ -z "$LISTEN" ] || pairs+=("listen=$LISTEN")
[ $INSECURE = 0 ] || pairs+=("insecure=true")
if [ -n "$TLS_CERT" ]; then
  mkdir_owned "$TLS_DIR" 0750 "root:$SERVICE_USER"
  write_file "$TLS_DIR/collector.crt" 0644 root:root < "$TLS_CERT"
  write_file "$TLS_DIR/collector.key" 0640 "root:$SERVICE_USER" < "$TLS_KEY"
  pairs+=("tlsCert=$TLS_DIR/collector.crt" "tlsKey=$TLS_DIR/collector.key")
fi
merge_json "$DESTDIR$CONFIG" "${pairs[@]}" | write_file "$CONFIG" 0640 "root:$SERVICE_USER"
if [ -n "$EK_CA_DIR" ]; then
  remove_tree "$ETC/ek-ca"
  mkdir_owned "$ETC/ek-ca" 0755 root:root
  for f in "$EK_CA_DIR"/*.pem; do write_file "$ETC/ek-ca/$(basename "$f")" 0644 root:root < "$f"; done
fi
if [ -n "$POSTGRES$EK_CA_DIR" ] || [ $TOFU = 1 ]; then
  {
    echo '# Written by install-collector.sh; read by systemd (root) for nodeseal-collector.service.'
    [ -z "$POSTGRES" ] || echo "NODESEAL_POSTGRES_URL=$POSTGRES"
    [ -z "$EK_CA_DIR" ] || echo "NODESEAL_EK_CA_DIR=$ETC/ek-ca"
    [ $TOFU = 0 ] || echo "NODESEAL_ALLOW_TOFU=1"
  } | write_file "$ENVFILE" 0600 root:root
fi
install_unit "$UNIT"

# The collector's own start-up validation (every problem listed); exit 1 invalid, 2 unreadable.
if real_install; then
  "$NODE_BIN" "$PREFIX/nodeseal.mjs" config check --kind collector "$CONFIG" || die "configuration check of $CONFIG failed (above); the service was installed but not enabled"
fi

if systemd_running; then
  systemctl daemon-reload
  systemctl enable "$UNIT" >/dev/null
  systemctl restart "$UNIT"
  if [ $SKIP_CHECK = 0 ]; then
    url=$("$NODE_BIN" -p 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); `${c.tlsCert?"https":"http"}://${(c.listen??"127.0.0.1:8443").replace(/^0\.0\.0\.0:/,"127.0.0.1:")}/healthz`' "$CONFIG")
    for _ in $(seq 1 20); do
      if "$NODE_BIN" -e 'require(process.argv[1].startsWith("https")?"https":"http").get(process.argv[1],{rejectUnauthorized:false,timeout:1000},r=>process.exit(r.statusCode===200?0:1)).on("error",()=>process.exit(1))' "$url"; then
        say "nodeseal-collector enabled and answering at $url"; exit 0
      fi
      sleep 0.5
    done
    die "nodeseal-collector was started but $url does not answer: journalctl -u $UNIT"
  fi
  say "nodeseal-collector enabled and started: systemctl status $UNIT"
elif real_install; then
  say "installed; systemd is not running here, so nothing was started. Run: $PREFIX/bin/nodeseal collector --config $CONFIG"
else
  say "installed into $DESTDIR (nothing started, enabled or contacted)"
fi
