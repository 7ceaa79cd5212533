#!/usr/bin/env bash
# Installs the monitoring programs the observability tests start: Debian's Prometheus (with promtool) and Pushgateway.
# Idempotent: does nothing when all three programs are on PATH. Needs root (or sudo) and Debian's package registry.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

packages=()
{ have prometheus && have promtool; } || packages+=(prometheus)
have prometheus-pushgateway || packages+=(prometheus-pushgateway)
[ "${#packages[@]}" -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)

if ! apt-cache show "${packages[@]}" >/dev/null 2>&1; then
  "${as_root[@]}" apt-get update -qq
fi

# The tests start their own instances on free ports: keep the packages' maintainer scripts from starting daemons.
policy=/usr/sbin/policy-rc.d
added_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod 0755 "$policy"
  added_policy=true
fi
trap '[ "$added_policy" = true ] && "${as_root[@]}" rm -f "$policy"' EXIT

DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" \
  >/dev/null

for program in prometheus promtool prometheus-pushgateway; do
  have "$program" || { echo "install-test-services: $program still missing" >&2; exit 1; }
done
