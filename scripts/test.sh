#!/usr/bin/env bash
# All tests, from a fresh Debian 12 machine (as root): installs what is missing, builds,
# runs the unit, CLI and conformance tests, again under ASan+UBSan, a short libFuzzer run of
# the manifest loader, and the formatting check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"

step() { printf '\n== %s\n' "$*"; }

step "format check (clang-format)"
mapfile -t sources < <(git ls-files '*.cc' '*.h' 2>/dev/null || find . -name '*.cc' -o -name '*.h')
clang-format --dry-run -Werror "${sources[@]}"

step "build (RelWithDebInfo)"
"$root/scripts/build.sh" "$root/build"
step "tests"
ctest --test-dir "$root/build" --output-on-failure -j"$(nproc)"

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
"$root/scripts/build.sh" "$root/build-asan" -DNFTPOLICY_SANITIZE=ON
step "tests under ASan+UBSan"
# The kernel e2e (label e2e) already ran above; under ASan it would only repeat the kernel,
# the stand-in's own tests (label apiserver) are Python, and the deploy checks (label deploy)
# read the manifests and the image recipe against the Release agent's libraries (this build
# links the sanitizer runtimes, which the image rightly does not ship).
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$root/tests/lsan.supp" \
  ctest --test-dir "$root/build-asan" --output-on-failure -j"$(nproc)" -LE "e2e|apiserver|bench|deploy"

step "fuzz the manifest loader and the watch path (libFuzzer, clang)"
CXX=clang++ "$root/scripts/build.sh" "$root/build-fuzz" -DNFTPOLICY_FUZZ=ON -DNFTPOLICY_TESTS=OFF
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/loader" "$corpus/watch"
cp -r "$root/examples/." "$corpus/loader/"
find "$corpus/loader" -type f ! -name '*.yaml' -delete
cp "$root"/tests/fuzz/watch_corpus/* "$corpus/watch/"
"$root/build-fuzz/tests/fuzz/loader_fuzz" -runs=30000 -max_len=4096 -timeout=10 \
  "$corpus/loader" 2>&1 | tail -n 3
"$root/build-fuzz/tests/fuzz/watch_fuzz" -runs=20000 -max_len=8192 -timeout=10 \
  "$corpus/watch" 2>&1 | tail -n 3
