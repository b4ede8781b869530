#!/usr/bin/env bash
# Install what hostnet needs to build, test and demo on Debian, only if missing.
# Extra package names given as arguments are installed the same way
# (scripts/install-bench-deps.sh passes the benchmark's peers and tools).
set -euo pipefail
pkgs=(pkg-config libnftnl-dev libmnl-dev nftables iproute2 iputils-ping socat
      containernetworking-plugins bridge-utils jq procps iptables iputils-arping strace "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
