# Shared by scripts/install-agent.sh and scripts/install-collector.sh (sourced, not run).
# Conventions: DESTDIR (stage into a root; nothing is started, enabled, chowned or contacted),
# PREFIX (default /opt/nodeseal), config in /etc/nodeseal, state in /var/lib/nodeseal/<role>.

PREFIX=${PREFIX:-/opt/nodeseal}
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
SERVICE_USER=nodeseal
ETC=/etc/nodeseal
STATE=/var/lib/nodeseal

die_usage() { echo "$PROG: $*" >&2; echo "Run '$PROG --help' for usage." >&2; exit 2; }
die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*"; }

# rm -rf of one installed path under $DESTDIR. The path must be absolute, below a top-level
# folder and free of "..", so an unset variable can never turn this into rm -rf of / or $DESTDIR.
remove_tree() {
  case "$1" in
    /*/?*) ;;
    *) die "refusing to remove '$1' (not an install path)" ;;
  esac
  case "$1" in *..*) die "refusing to remove '$1' (contains ..)" ;; esac
  rm -rf -- "$DESTDIR$1"
}

# Run a command only on a real install (not DESTDIR) and as root.
real_install() { [ -z "$DESTDIR" ]; }
systemd_running() { real_install && [ -d /run/systemd/system ]; }

require_root() {
  if real_install && [ "$(id -u)" != 0 ]; then die "installing into / needs root (or set DESTDIR to stage into a directory)"; fi
}

# Locate the release folder: --release, else next to this script (release/scripts/), else repo release/.
find_release() {
  local here; here=$(cd "$(dirname "$0")" && pwd)
  if [ -n "${RELEASE:-}" ]; then :
  elif [ -f "$here/../nodeseal.mjs" ]; then RELEASE="$here/.."
  elif [ -f "$here/../release/nodeseal.mjs" ]; then RELEASE="$here/../release"
  else die_usage "no release folder found: build one with 'node scripts/release.mjs' or pass --release DIR"
  fi
  RELEASE=$(cd "$RELEASE" && pwd)
  [ -f "$RELEASE/nodeseal.mjs" ] || die_usage "$RELEASE is not a nodeseal release (no nodeseal.mjs)"
  UNITS="$here/systemd"
  [ -f "$UNITS/nodeseal-agent.service" ] || die "no systemd unit templates in $UNITS"
}

find_node() {
  NODE_BIN=${NODE_BIN:-$(command -v node || true)}
  [ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || die "node not found: install Node 20 or later (or pass --node PATH)"
  NODE_BIN=$(readlink -f "$NODE_BIN")
  local major; major=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "$NODE_BIN is Node $major; nodeseal needs Node 20 or later"
}

# Copy the release to $DESTDIR$PREFIX (replaced as a whole, so stale chunks never linger).
install_release() {
  local dst="$DESTDIR$PREFIX"
  mkdir -p "$(dirname "$dst")"
  rm -rf "$dst.new"
  cp -a "$RELEASE/." "$dst.new/"
  rm -rf "$dst.old"
  [ -e "$dst" ] && mv "$dst" "$dst.old"
  mv "$dst.new" "$dst"
  rm -rf "$dst.old"
  chmod -R go-w "$dst"
  mkdir -p "$DESTDIR/usr/local/bin"
  ln -sfn "$PREFIX/bin/nodeseal" "$DESTDIR/usr/local/bin/nodeseal"
}

# Render a unit template with this host's node and prefix.
install_unit() {
  local name=$1
  mkdir -p "$DESTDIR/etc/systemd/system"
  sed -e "s#@NODE@#$NODE_BIN#g" -e "s#@PREFIX@#$PREFIX#g" "$UNITS/$name" > "$DESTDIR/etc/systemd/system/$name.tmp"
  chmod 0644 "$DESTDIR/etc/systemd/system/$name.tmp"
  mv "$DESTDIR/etc/systemd/system/$name.tmp" "$DESTDIR/etc/systemd/system/$name"
}

ensure_user() {
  if ! real_install; then return 0; fi
  if ! getent group "$SERVICE_USER" >/dev/null; then groupadd --system "$SERVICE_USER"; fi
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --gid "$SERVICE_USER" --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin --comment "nodeseal attestation" "$SERVICE_USER"
    say "created system user $SERVICE_USER"
  fi
}

# Directory with mode and (real installs only) owner.
mkdir_owned() {
  local dir=$1 mode=$2 owner=$3
  mkdir -p "$DESTDIR$dir"
  chmod "$mode" "$DESTDIR$dir"
  if real_install; then chown "$owner" "$DESTDIR$dir"; fi
}

# Install a file from stdin with mode and (real installs only) owner, atomically.
write_file() {
  local path=$1 mode=$2 owner=$3
  cat > "$DESTDIR$path.tmp"
  chmod "$mode" "$DESTDIR$path.tmp"
  if real_install; then chown "$owner" "$DESTDIR$path.tmp"; fi
  mv "$DESTDIR$path.tmp" "$DESTDIR$path"
}

# Merge keys into a JSON config (created if absent), preserving the operator's other settings.
# Usage: merge_json FILE key=value ... (value 'null' removes the key; JSON-looking values kept as JSON).
merge_json() {
  local file=$1; shift
  "$NODE_BIN" -e '
    const fs = require("fs");
    const [file, ...pairs] = process.argv.slice(1);
    let cfg = {};
    if (fs.existsSync(file)) {
      try { cfg = JSON.parse(fs.readFileSync(file, "utf8")); } catch (e) { console.error(`${file} is not valid JSON (${e.message}); fix or remove it`); process.exit(1); }
    }
    for (const p of pairs) {
      const i = p.indexOf("="); const k = p.slice(0, i); const v = p.slice(i + 1);
      if (v === "null") delete cfg[k];
      else if (/^(true|false|-?[0-9.]+)$/.test(v) || v.startsWith("[")) cfg[k] = JSON.parse(v);
      else cfg[k] = v;
    }
    process.stdout.write(JSON.stringify(cfg, null, 2) + "\n");
  ' "$file" "$@"
}

other_role_installed() {
  [ -f "$DESTDIR/etc/systemd/system/nodeseal-$1.service" ]
}

# Remove what the other role does not need; state stays unless --purge.
remove_common() {
  local other=$1
  if ! other_role_installed "$other"; then
    remove_tree "$PREFIX"
    rm -f "$DESTDIR/usr/local/bin/nodeseal"
    rmdir "$DESTDIR$ETC" 2>/dev/null || true
  fi
}

purge_user_if_unused() {
  local other=$1
  if real_install && ! other_role_installed "$other" && getent passwd "$SERVICE_USER" >/dev/null; then
    userdel "$SERVICE_USER" 2>/dev/null || true
    getent group "$SERVICE_USER" >/dev/null && groupdel "$SERVICE_USER" 2>/dev/null || true
    say "removed system user $SERVICE_USER"
  fi
}

# The end of --uninstall, the same for both roles: the release goes when the other role is gone;
# with --purge (PURGE=1) the role's state goes too, and the system user when no role is left. Exits 0.
# Usage: finish_uninstall ROLE OTHER_ROLE WHAT   (WHAT names the state in the message: state, database)
finish_uninstall() {
  local role=$1 other=$2 what=$3
  remove_common "$other"
  if [ "$PURGE" = 1 ]; then
    remove_tree "$STATE/$role"
    rmdir "$DESTDIR$STATE" 2>/dev/null || true
    purge_user_if_unused "$other"
  fi
  if systemd_running; then systemctl daemon-reload; fi
  say "uninstalled nodeseal-$role$([ "$PURGE" = 1 ] && echo " and its $what" || echo "; $what kept in $STATE/$role")"
  exit 0
}
