#!/usr/bin/env bash
# The fuzz stage of CI (called by .ci/run): builds every cargo-fuzz target once, then runs each
# for a bounded time over a scratch copy of its committed seeds (fuzz/seeds/<target>/) and its
# regression inputs (fuzz/regressions/<target>/). A crash, timeout, leak or out-of-memory input
# is copied into fuzz/regressions/<target>/ (commit it: `cargo test` replays it) and the stage
# fails after running the other targets.
#
#   fuzz/run-ci.sh                      every target, VIGIL_FUZZ_SECONDS (default 25) each
#   fuzz/run-ci.sh sigma_import load    only these
#   VIGIL_FUZZ_SECONDS=3600 fuzz/run-ci.sh
#
# Other knobs: VIGIL_FUZZ_RSS_MB (default 2048), VIGIL_FUZZ_TIMEOUT (seconds per input, default
# 20), VIGIL_FUZZ_KEEP_CORPUS=DIR (keep the grown corpora in DIR/<target>/ instead of a
# temporary directory, to inspect or to merge into the seeds with `cargo fuzz cmin`).
set -euo pipefail
cd "$(dirname "$0")"

SECS="${VIGIL_FUZZ_SECONDS:-25}"
RSS_MB="${VIGIL_FUZZ_RSS_MB:-2048}"
TIMEOUT="${VIGIL_FUZZ_TIMEOUT:-20}"
ALL=(parse compile load jit_vs_interp sigma_import json_decode evtx_read bundle_decode state_restore capi_calls lsp_session)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

start=$(date +%s)

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

# One build of every target: release, debug assertions on (integer overflow panics), 16 codegen
# units, no sanitizer. Measured on two cores: with AddressSanitizer the build takes 950 s of CPU,
# without 640 s; Vigil forbids unsafe code, so CI keeps the 10-minute budget without ASan and
# long runs (`cargo fuzz run`, docs/testing.md) use it.
echo "-- building ${#ALL[@]} fuzz targets"
cargo +nightly fuzz build -O --debug-assertions --codegen-units 16 -s none
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin="${CARGO_TARGET_DIR:-target}/$host/release"
built=$(date +%s)
echo "-- built in $((built - start)) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${TARGETS[@]}"; do
  if [ ! -x "$bin/$t" ]; then
    echo "no fuzz target \`$t\` (there are: ${ALL[*]})" >&2
    exit 2
  fi
  corpus="$scratch/corpus/$t"
  if [ -n "${VIGIL_FUZZ_KEEP_CORPUS:-}" ]; then corpus="$VIGIL_FUZZ_KEEP_CORPUS/$t"; fi
  artifacts="$scratch/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  for src in "seeds/$t" "regressions/$t"; do
    if [ -d "$src" ]; then cp -r "$src/." "$corpus/"; fi
  done
  echo "-- fuzz $t for ${SECS} s ($(find "$corpus" -type f | wc -l) inputs to start)"
  log="$scratch/$t.log"
  if "$bin/$t" "$corpus" -max_total_time="$SECS" -rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done' "$log" | sed 's/^/   /' || true
  else
    echo "!! $t failed; the end of its log:" >&2
    tail -n 40 "$log" >&2
    mkdir -p "regressions/$t"
    for a in "$artifacts"/*; do
      [ -f "$a" ] || continue
      cp "$a" "regressions/$t/"
      echo "!! kept fuzz/regressions/$t/$(basename "$a")" >&2
    done
    failed+=("$t")
  fi
done

echo "-- fuzz stage: $(($(date +%s) - start)) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz targets that failed: ${failed[*]} (inputs kept in fuzz/regressions/; commit them)" >&2
  exit 1
fi
