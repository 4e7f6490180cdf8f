#!/bin/sh
# A stand-in for nftpolicy-agent with the same contract (--once --node N --manifests FILE), built
# from `policy-dry-run compile`: it replaces the node's table inet nftpolicy in one nft
# transaction. Not incremental and no conntrack cleanup, so it tests the harness and the
# compiler's programs in the kernel, not the agent. Set POLICY_DRY_RUN to the binary.
set -eu
node= manifests=
while [ $# -gt 0 ]; do
  case "$1" in
    --once) ;;
    --node) node=$2; shift ;;
    --manifests) manifests=$2; shift ;;
    *) echo "dry_run_agent: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$node" ] && [ -n "$manifests" ] || { echo "usage: $0 --once --node N --manifests F" >&2; exit 2; }
program=$("${POLICY_DRY_RUN:-policy-dry-run}" compile --node "$node" -f "$manifests")
# "table" first so that "delete" succeeds whether or not the table exists yet.
printf 'table inet nftpolicy\ndelete table inet nftpolicy\n%s\n' "$program" | nft -f -
