#!/usr/bin/env bash
# Installs the Debian packages nftpolicy needs to build, test and run. Idempotent: quiet and
# fast when everything is there. Run as root on Debian 12.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  libnftnl-dev libmnl-dev libnetfilter-conntrack-dev
  nlohmann-json3-dev libcpprest-dev libspdlog-dev libyaml-cpp-dev libcli11-dev libgtest-dev
  nftables conntrack iproute2 containernetworking-plugins python3 openssl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
