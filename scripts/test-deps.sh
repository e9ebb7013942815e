#!/usr/bin/env bash
# Installs the system parts the test suite drives for real (run as root on Debian 12):
# swtpm + tpm2-tools + tpm2-tss runtime (TPM), Chromium (dashboard tests), Slurm + munge
# (scheduler integration), PostgreSQL (store contract tests), systemd-analyze (unit scoring).
# Idempotent: packages already present are not reinstalled; PostgreSQL is started if stopped.
set -euo pipefail

pkgs=(
  swtpm swtpm-tools tpm2-tools
  libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-mu0 libtss2-rc0 libtss2-tcti-swtpm0 libtss2-tcti-device0
  chromium
  slurm-wlm munge
  postgresql
  systemd
  ethtool pciutils dmidecode
  curl
  openssl
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL on 127.0.0.1:5432 with a `test` database that the local root role may use.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  cluster=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
runuser -u postgres -- psql -q -tAc "SELECT 1 FROM pg_roles WHERE rolname='root'" | grep -q 1 \
  || runuser -u postgres -- psql -q -c "CREATE ROLE root SUPERUSER LOGIN"
runuser -u postgres -- psql -q -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || runuser -u postgres -- createdb -O root test
echo "test-deps: ok"
