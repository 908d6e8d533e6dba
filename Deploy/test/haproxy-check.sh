#!/usr/bin/env bash
# Checks Deploy/haproxy.cfg with HAProxy itself (`haproxy -c`), as shipped and rendered for other
# replica ports: bash Deploy/test/haproxy-check.sh [PORT …]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v haproxy >/dev/null || { echo "haproxy is not installed (Debian: haproxy)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Without the daemon's user, log socket and admin socket directory, so that it checks anywhere.
sed -e '/^    user /d' -e '/^    group /d' -e '/stats socket/d' -e 's|log /dev/log local0|log stdout local0|' \
    Deploy/haproxy.cfg > "$work/shipped.cfg"
haproxy -c -f "$work/shipped.cfg"
if [ $# -gt 0 ]; then
    { sed '/^    server replica-/d' "$work/shipped.cfg" | sed '/^frontend stats/,$d'
      for port in "$@"; do echo "    server replica-$port 127.0.0.1:$port check"; done; } > "$work/rendered.cfg"
    haproxy -c -f "$work/rendered.cfg"
fi
echo "haproxy-check: valid"
