#!/usr/bin/env bash
# Installs what the interop tests need to run third-party libraries on
# Node.js: Node.js and npm (Debian packages, when missing), then `npm ci
# --ignore-scripts` from the committed package-lock.json of every interop
# directory, into its git-ignored node_modules. A directory whose
# node_modules was installed from the same lock file is left alone (the
# stamp node_modules/.trustid-lock.sha256, which testenv.NPM checks).
# scripts/test.sh runs it before the Go tests.
#
#   ./scripts/interop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq nodejs npm
fi
find . -name package-lock.json -not -path '*/node_modules/*' -not -path './scripts/fabric/work/*' | sort | while read -r lock; do
  dir=$(dirname "$lock")
  stamp=$dir/node_modules/.trustid-lock.sha256
  sum=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    echo "npm packages of $dir: installed"
    continue
  fi
  echo "npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$sum" > "$stamp"
done
