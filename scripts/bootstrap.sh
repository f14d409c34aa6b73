#!/usr/bin/env bash
# One entry point for a fresh Linux machine that has Node and npm:
#   bash scripts/bootstrap.sh demo   -> install everything, run the lab demo
#   bash scripts/bootstrap.sh test   -> install everything, type-check, lint, run every test
# It installs pnpm (pinned), the locked npm dependencies (Node 22 comes from the `node` devDependency)
# and the Debian packages the tests and the lab use. Run it as root: the lab and the network tests
# create network namespaces and TAP devices.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-test}"
PNPM_VERSION=12.4.2
DEBIAN_PACKAGES=(tshark tcpdump iproute2 keepalived curl iputils-ping openssl procps psmisc ca-certificates)

log() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "Debian packages: ${missing[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  log "pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION"
fi

log "dependencies (frozen lockfile)"
pnpm install --frozen-lockfile

case "$mode" in
  demo)
    log "lab demo"
    pnpm demo
    ;;
  test)
    log "type-check";       pnpm run check
    log "lint";             pnpm run lint
    log "tests";            pnpm run test:ci
    ;;
  *)
    echo "usage: bash scripts/bootstrap.sh demo|test" >&2
    exit 2
    ;;
esac
