#!/usr/bin/env bash
# Records what a `vigil` binary alerts on the README's example and on the corpus (the SigmaHQ
# rules imported, then run over the three event sets with the JIT, and the two EVTX-derived sets
# with the interpreter too), so that a refactor can show its alerts are byte-identical:
#
#   .ci/compare-alerts.sh OLD_VIGIL /tmp/before
#   .ci/compare-alerts.sh NEW_VIGIL /tmp/after
#   diff -r /tmp/before /tmp/after
#
# Not part of CI's default run (the OTRF set alone is 547,725 events).
set -euo pipefail
V=$(realpath "$1"); OUT=$2
cd "$(dirname "$0")/.."
CORPUS=$(realpath ../shared/corpus)
mkdir -p "$OUT"
"$V" run examples/rules examples/events/sample.jsonl > "$OUT/main.jsonl" 2>/dev/null
rm -rf "$OUT/sigma-vgl"
"$V" import sigma "$CORPUS/sigma/rules/windows" "$CORPUS/sigma/rules-emerging-threats" \
  "$CORPUS/sigma/rules-threat-hunting/windows" -o "$OUT/sigma-vgl" \
  --report "$OUT/import-report.txt" > /dev/null 2>&1 || true
for set in evtx-attack-samples sigma-regression otrf-security-datasets; do
  "$V" run "$OUT/sigma-vgl" "$CORPUS/events/$set/"*.jsonl.gz --mapping windows \
    > "$OUT/$set.jsonl" 2>/dev/null
  if [ "$set" != otrf-security-datasets ]; then
    "$V" run "$OUT/sigma-vgl" "$CORPUS/events/$set/"*.jsonl.gz --mapping windows \
      --engine interp > "$OUT/$set.interp.jsonl" 2>/dev/null
  fi
done
wc -l "$OUT"/*.jsonl
