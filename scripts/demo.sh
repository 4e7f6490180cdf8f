#!/usr/bin/env bash
# The demo (as root on Debian 12): NetworkPolicy explained by watching it. Installs what is
# missing, builds, then runs build/e2e/nftpolicy-demo: a two-node cluster of network namespaces
# with pods wired by the CNI bridge plugin, the API server stand-in, one nftpolicy-agent per
# node, and examples/policies applied with kubectl, each step predicted by policy-dry-run and
# measured with real traffic. Arguments go to nftpolicy-demo: --pace SECONDS, --keep,
# --no-color, --help. It cleans up after itself, also on Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
echo "building the demo, the agent and policy-dry-run (the first time takes a while) ..."
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target nftpolicy-demo >/dev/null
cd "$root"
exec build/e2e/nftpolicy-demo --examples examples --agent build/agent/nftpolicy-agent \
  --dry-run build/cmd/policy-dry-run --pod-server build/e2e/pod_server "$@"
