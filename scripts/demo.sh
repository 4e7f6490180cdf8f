#!/usr/bin/env bash
# The demo: what would the bundled example policies allow? Builds policy-dry-run (installing
# what is missing) and walks through examples/ — a cluster snapshot and its policies.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
cli="$root/build/cmd/policy-dry-run"
ex="$root/examples"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "policy-dry-run $*"; "$cli" "$@" || true; }

cat <<TXT
nftpolicy demo: examples/cluster.yaml is a snapshot of a small cluster (a shop, a payments
namespace holding card data, monitoring, DNS); examples/policies/ isolates payments.
TXT
run validate -f "$ex"
run matrix -f "$ex" --port 8080
echo "Rows are sources, columns destinations. The shop may call payments/api-0, nothing else"
echo "reaches payments, and payments pods reach only what their egress policies allow."
run eval -f "$ex" --from shop/web-7c9d8-abcde --to payments/api-0 --port http --explain
run eval -f "$ex" --from shop/web-7c9d8-abcde --to payments/ledger-0 --port http --explain
run eval -f "$ex" --from payments/api-0 --to 203.0.113.10 --port 443 --explain
run eval -f "$ex" --from payments/api-0 --to 203.0.113.200 --port 443 --explain
run eval -f "$ex" --from monitoring/prometheus-0 --to payments/ledger-0 --port metrics --explain
run compile -f "$ex" --node node-1
echo "That is the nftables program the agent on node-1 applies (one atomic netlink batch):"
echo "verdict maps dispatch each pod's address to the chain its policies compiled into."
