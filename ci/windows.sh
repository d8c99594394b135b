#!/usr/bin/env bash
# The Windows builds under Wine (docs/embedding.md, "Windows"): cross-builds `vigil.exe` and the C library
# (`vigil_capi.dll` with its import library, and the static library, with and without the JIT)
# for x86_64-pc-windows-gnu with mingw-w64, makes a throwaway Wine prefix
# with the bcryptprimitives.dll shim (ci/windows/), and requires the Windows binaries' alerts to
# be byte-identical to the Linux build's:
#   - the README's main job (`vigil run examples/rules examples/events/sample.jsonl`);
#   - the SigmaHQ Windows rules (`vigil import sigma`, as tests/tests/suite/sigma_conformance.rs
#     imports them) over the corpus's EVTX-derived sets (evtx-attack-samples, sigma-regression)
#     with `--mapping windows`: Linux and Wine, each with `--engine jit` and `--engine interp`;
#   - `vigil agent` (a bundles folder, a state directory, a restart) against the Linux CLI;
#   - the C example and the C tests (examples/c-agent/) compiled with mingw-w64 against the DLL
#     and the static library, of the JIT and of the JIT-free build.
# Needs: x86_64-w64-mingw32-gcc, wine (8.0), the Rust target x86_64-pc-windows-gnu (.ci/run
# installs them). The corpus is `$VIGIL_CORPUS`, else ../shared/corpus beside the repository;
# without it the corpus comparison is skipped with a note, unless VIGIL_REQUIRE_CORPUS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$PWD/$TARGET_DIR ;; esac
LINUX_VIGIL=$TARGET_DIR/release/vigil
WIN_OUT=$TARGET_DIR/$TARGET/release
WIN_VIGIL=$WIN_OUT/vigil.exe
# Everything this script writes at run time: the Wine prefix, imported rules, outputs.
WORK=$TARGET_DIR/windows-ci
CORPUS=${VIGIL_CORPUS:-../shared/corpus}

# Wine: a prefix of our own, no debug chatter, no Mono/Gecko installers, no desktop menus, no
# display (console programs only). wine64 itself, not the `wine` wrapper, which would only add
# a note that the 32-bit half is missing.
export WINEPREFIX=$WORK/prefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
unset DISPLAY WAYLAND_DISPLAY
WINE=${WINE:-$(command -v /usr/lib/wine/wine64 || command -v wine64 || command -v wine)}
WINESERVER=${WINESERVER:-$(command -v /usr/lib/wine/wineserver || command -v wineserver)}
# This prefix's wineserver (and nothing else) is stopped on exit, so that no process outlives CI.
trap '[[ -d $WINEPREFIX ]] && "$WINESERVER" -k 2>/dev/null; true' EXIT

step() { echo "-- $* (at ${SECONDS} s)"; }
fail() {
  echo "ci/windows.sh: $*" >&2
  exit 1
}

# Runs a Windows program under Wine.
wine_run() { "$WINE" "$@"; }

# Two outputs must be the same bytes; on a mismatch, the first lines of the diff.
same() {
  local what=$1 a=$2 b=$3
  if ! cmp -s "$a" "$b"; then
    echo "MISMATCH: $what: $a and $b differ" >&2
    diff "$a" "$b" | head -40 >&2 || true
    exit 1
  fi
}

# `vigil run`'s summary line (stderr): "vigil run: N events, ..." with the alert count.
summary() { grep -E '^vigil run: ' "$1" | head -1; }

build() {
  step "cross-build vigil.exe (release, JIT and interpreter)"
  local t0=$SECONDS
  cargo build --release --target "$TARGET" -p vigil-cli
  echo "vigil.exe built in $((SECONDS - t0)) s ($(stat -c %s "$WIN_VIGIL") bytes)"
  step "cross-build the interpreter-only runtime (--no-default-features)"
  cargo build --release --target "$TARGET" -p vigil-runtime --no-default-features
  step "the Linux vigil (release)"
  cargo build --release -p vigil-cli
}

# The shim: Wine 8.0 has no bcryptprimitives.dll, whose ProcessPrng every Rust 1.78+ Windows
# program imports (the standard library's random source), so no Rust program loads without it.
prefix() {
  step "Wine prefix with the bcryptprimitives.dll shim"
  if [[ -d $WINEPREFIX ]]; then
    "$WINESERVER" -k 2>/dev/null || true
  fi
  rm -rf "$WORK"
  mkdir -p "$WORK"
  x86_64-w64-mingw32-gcc -O2 -s -shared -o "$WORK/bcryptprimitives.dll" \
    ci/windows/bcryptprimitives.c ci/windows/bcryptprimitives.def -ladvapi32
  "$WINE" --version
  wine_run wineboot --init >"$WORK/wineboot.log" 2>&1 || {
    cat "$WORK/wineboot.log" >&2
    fail "wineboot failed"
  }
  local sys32=$WINEPREFIX/drive_c/windows/system32
  [[ -d $sys32 ]] || fail "no system32 in the new prefix $WINEPREFIX"
  # Known and tested: without the shim the loader refuses vigil.exe...
  if [[ -e $sys32/bcryptprimitives.dll ]]; then
    echo "note: this Wine has its own bcryptprimitives.dll; the shim is not needed"
  else
    local rc=0
    WINEDEBUG=err+module wine_run "$WIN_VIGIL" --version >"$WORK/noshim.out" 2>"$WORK/noshim.err" || rc=$?
    if ((rc == 0)) || ! grep -q 'bcryptprimitives.dll' "$WORK/noshim.err"; then
      cat "$WORK/noshim.err" >&2
      fail "vigil.exe without the shim: expected the loader to refuse it for the missing bcryptprimitives.dll (exit $rc)"
    fi
    echo "without the shim: exit $rc, $(grep -m1 -o 'Library bcryptprimitives.dll[^(]*' "$WORK/noshim.err")"
    cp "$WORK/bcryptprimitives.dll" "$sys32/"
  fi
  # ...and with it, it runs.
  wine_run "$WIN_VIGIL" --version
}

# The README's main job, byte for byte, with both engines.
main_job() {
  step "the README's main job under Wine"
  local out=$WORK/main-job engine
  mkdir -p "$out"
  "$LINUX_VIGIL" run examples/rules examples/events/sample.jsonl >"$out/linux.jsonl" 2>"$out/linux.err"
  test -s "$out/linux.jsonl" || fail "the Linux main job printed no alerts"
  for engine in jit interp; do
    wine_run "$WIN_VIGIL" run examples/rules examples/events/sample.jsonl --engine "$engine" \
      >"$out/wine-$engine.jsonl" 2>"$out/wine-$engine.err" || {
      cat "$out/wine-$engine.err" >&2
      fail "vigil.exe run --engine $engine failed"
    }
    same "main job, Linux vs Wine --engine $engine" "$out/linux.jsonl" "$out/wine-$engine.jsonl"
  done
  echo "main job: $(wc -l <"$out/linux.jsonl") alerts, identical (Linux; Wine jit; Wine interp)"
  # `vigil check` and `vigil test` (the rule files' test blocks) under Wine, both engines.
  wine_run "$WIN_VIGIL" check examples/rules >/dev/null
  wine_run "$WIN_VIGIL" test examples/rules --engine jit >/dev/null
  wine_run "$WIN_VIGIL" test examples/rules --engine interp >/dev/null
  echo "vigil.exe check and test (jit, interp) on examples/rules: passed"
}

# A signed bundle of the example rules (and a second key), with the Linux CLI's alerts on the
# sample events, in $WORK/signed: what the agent and the C library runs load and must match.
signed() {
  local out=$WORK/signed
  mkdir -p "$out"
  "$LINUX_VIGIL" keygen --out "$out/content" >/dev/null
  "$LINUX_VIGIL" keygen --out "$out/other" >/dev/null
  "$LINUX_VIGIL" build examples/rules -o "$out/rules.vglb" --key "$out/content.key" >/dev/null
  cp examples/events/sample.jsonl "$out/sample.jsonl"
  (cd "$out" && "$LINUX_VIGIL" run rules.vglb sample.jsonl --pubkey content.pub >cli.jsonl 2>/dev/null)
  test -s "$out/cli.jsonl" || fail "the Linux CLI gave no alerts on the sample"
}

# `vigil agent` under Wine: the signed bundle from a bundles folder, the sample as a finite
# input, a state directory; started twice, the second start restores the bundle from the state.
# Its alerts must be the Linux CLI's.
agent() {
  step "vigil agent under Wine (bundles folder, state directory, restart)"
  local out=$WORK/agent i
  mkdir -p "$out/bundles"
  cp "$WORK"/signed/{content.pub,rules.vglb,sample.jsonl,cli.jsonl} "$out/"
  cp "$out/rules.vglb" "$out/bundles/"
  for i in 1 2; do
    (cd "$out" && wine_run "$WIN_VIGIL" agent --bundles bundles --state state --pubkey content.pub \
      sample.jsonl >"agent-$i.jsonl" 2>"agent-$i.err") || {
      cat "$out/agent-$i.err" >&2
      fail "vigil.exe agent (start $i) failed"
    }
    same "vigil.exe agent (start $i) vs the Linux CLI" "$out/cli.jsonl" "$out/agent-$i.jsonl"
  done
  grep -q 'activated' "$out/agent-1.err" || fail "vigil.exe agent: the first start activated nothing"
  grep -q 'restored' "$out/agent-2.err" || fail "vigil.exe agent: the second start restored nothing"
  [[ -s $out/state/state.json && -s $out/state/active.vglb ]] || fail "vigil.exe agent wrote no state"
  echo "vigil.exe agent: $(wc -l <"$out/agent-1.jsonl") alerts on each start, identical to the Linux CLI's; state restored"
}

# Windows joins a folder and a file name with `\`: an alert's `source.file` for an event file
# found by walking a corpus folder reads `.../evtx-attack-samples\\NAME.jsonl.gz` (JSON-escaped)
# under Wine. The one normalisation: that separator after the set's folder becomes `/`.
normalise() { sed 's#\(evtx-attack-samples\|sigma-regression\)\\\\#\1/#g' "$1" >"$2"; }

# The SigmaHQ Windows rules over the EVTX-derived sets: four runs from the rule sources (Linux
# and Wine, JIT and interpreter) give one output; then the bundle Linux builds from them runs
# under Wine as on Linux.
corpus() {
  local events=$CORPUS/events sigma=$CORPUS/sigma
  if [[ ! -d $events/evtx-attack-samples || ! -d $sigma/rules/windows ]]; then
    [[ ${VIGIL_REQUIRE_CORPUS:-0} == 1 ]] && fail "no corpus at $CORPUS"
    echo "note: no corpus at $CORPUS; the corpus comparison is skipped"
    return
  fi
  step "the Sigma rules over the EVTX-derived corpus sets: Linux and Wine, JIT and interpreter"
  local out=$WORK/corpus rules=$WORK/corpus/sigma
  mkdir -p "$out"
  # The rule trees the conformance test imports (tests/tests/suite/sigma_conformance.rs).
  # Exit 1: some rules were refused (docs/sigma.md), as expected; 2 is an error.
  local rc=0
  "$LINUX_VIGIL" import sigma "$sigma/rules/windows" "$sigma/rules-emerging-threats" \
    "$sigma/rules-threat-hunting/windows" -o "$rules" --quiet >"$out/import.log" 2>&1 || rc=$?
  if ((rc > 1)); then
    cat "$out/import.log" >&2
    fail "vigil import sigma exited $rc"
  fi
  local sets=("$events/evtx-attack-samples" "$events/sigma-regression")
  local lines
  lines=$(cat "${sets[0]}"/*.jsonl.gz "${sets[1]}"/*.jsonl.gz | gzip -dc | wc -l)
  # One run: $1 linux|wine, $2 jit|interp, $3 the rules (folder or bundle), $4 the output name.
  corpus_run() {
    local os=$1 engine=$2 from=$3 name=$4 t0=$SECONDS rc=0
    local -a vigil=("$LINUX_VIGIL")
    [[ $os == wine ]] && vigil=("$WINE" "$WIN_VIGIL")
    "${vigil[@]}" run "$from" "${sets[@]}" --mapping windows --engine "$engine" --threads 1 \
      --allow-unsigned >"$out/$name.raw" 2>"$out/$name.err" || rc=$?
    if ((rc != 0)); then
      cat "$out/$name.err" >&2
      fail "vigil run ($os, $engine, $from) exited $rc"
    fi
    if [[ $os == wine ]]; then
      normalise "$out/$name.raw" "$out/$name.jsonl"
    else
      cp "$out/$name.raw" "$out/$name.jsonl"
    fi
    echo "$name: $(wc -l <"$out/$name.jsonl") alerts, $((SECONDS - t0)) s; $(summary "$out/$name.err")"
  }
  local os engine
  for os in linux wine; do
    for engine in jit interp; do
      corpus_run "$os" "$engine" "$rules" "$os-$engine"
    done
  done
  test -s "$out/linux-jit.jsonl" || fail "no alerts on the corpus"
  same "corpus, Linux jit vs Linux interp" "$out/linux-jit.jsonl" "$out/linux-interp.jsonl"
  same "corpus, Linux jit vs Wine jit" "$out/linux-jit.jsonl" "$out/wine-jit.jsonl"
  same "corpus, Linux jit vs Wine interp" "$out/linux-jit.jsonl" "$out/wine-interp.jsonl"
  echo "corpus: $(find "$rules" -name '*.vgl' | wc -l) rule files, $lines event lines, $(wc -l <"$out/linux-jit.jsonl") alerts, identical in all four runs"
  # The bundle built on Linux, loaded by vigil.exe (alerts name the bundle: compared apart).
  "$LINUX_VIGIL" build "$rules" -o "$out/sigma.vglb" --unsigned
  corpus_run linux jit "$out/sigma.vglb" linux-bundle
  corpus_run wine jit "$out/sigma.vglb" wine-bundle
  same "corpus bundle, Linux jit vs Wine jit" "$out/linux-bundle.jsonl" "$out/wine-bundle.jsonl"
  echo "corpus bundle: identical on Linux and Wine"
}

# The C library: vigil_capi.dll (+ libvigil_capi.dll.a) and libvigil_capi.a, with the JIT and
# without (--no-default-features), each kept in its own folder (both builds write the same
# names); every symbol the DLL exports is named vigil_*.
capi() {
  if [[ ! -f capi/Cargo.toml ]]; then
    echo "note: no capi/ crate; the C library's Windows build is skipped"
    return
  fi
  local out=$WORK/capi kind flags f
  mkdir -p "$out"
  for kind in jit interp; do
    flags=()
    [[ $kind == interp ]] && flags=(--no-default-features)
    step "cross-build the C library ($kind)"
    cargo build --release --target "$TARGET" -p vigil-capi "${flags[@]}"
    mkdir -p "$out/$kind"
    for f in vigil_capi.dll libvigil_capi.dll.a libvigil_capi.a; do
      [[ -f $WIN_OUT/$f ]] || fail "the C library build gave no $f"
      cp "$WIN_OUT/$f" "$out/$kind/"
    done
    # Every exported symbol starts with vigil_.
    local exports
    exports=$(x86_64-w64-mingw32-objdump -p "$out/$kind/vigil_capi.dll" |
      sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | awk 'NR > 1 && NF { print $NF }')
    if grep -v '^vigil_' <<<"$exports"; then
      fail "vigil_capi.dll ($kind) exports the symbols above, not named vigil_*"
    fi
    echo "vigil_capi.dll ($kind): $(wc -l <<<"$exports") exports, all vigil_*; $(stat -c %s "$out/$kind/vigil_capi.dll") bytes"
  done
}

# The C example and the C tests (examples/c-agent/) under Wine, compiled with mingw-w64
# against the DLL and the static library, of the JIT and of the JIT-free library build: the C
# tests pass, the example's alerts over the sample are the Linux `vigil run`'s over the same
# bundle, a bundle signed by an untrusted key is refused (exit 2, E0509). The fixtures (keys,
# signed bundles) are the Makefile's own (`make fixtures`), made by the Linux `vigil`.
# The example writes its alerts through stdout in text mode, which on Windows writes "\n" as
# "\r\n": its output is compared with the CRs removed (the one normalisation here).
c_agent() {
  if [[ ! -f examples/c-agent/Makefile || ! -f capi/Cargo.toml ]]; then
    echo "note: no examples/c-agent/ (or no capi/); the C example and tests under Wine are skipped"
    return
  fi
  step "the C example and the C tests under Wine (DLL and static; JIT and JIT-free library)"
  local out=$WORK/c-agent fx=$WORK/c-agent/build
  mkdir -p "$out"
  make --no-print-directory -C examples/c-agent fixtures BUILD="$fx" CARGO_TARGET_DIR="$TARGET_DIR" >/dev/null
  cp stdlib/schema/endpoint.toml stdlib/mappings/sysmon.toml examples/events/sample.jsonl "$fx/"
  (cd "$fx" && "$LINUX_VIGIL" run examples.vglb sample.jsonl --pubkey content.pub >cli.jsonl 2>/dev/null)
  test -s "$fx/cli.jsonl" || fail "the Linux CLI gave no alerts on the sample"
  # winpthread linked statically (-static), so that the tests need no libwinpthread-1.dll.
  local cc=(x86_64-w64-mingw32-gcc -std=c11 -D__USE_MINGW_ANSI_STDIO=1 -Wall -Wextra -Werror -O1
    -Icapi/include)
  local sys=(-lws2_32 -luserenv -lntdll -ldbghelp)
  local kind link engine lib rc name
  for kind in jit interp; do
    engine=jit
    [[ $kind == interp ]] && engine=interpreter
    for link in dll static; do
      local d=$out/$kind-$link
      mkdir -p "$d"
      if [[ $link == dll ]]; then
        lib=("$WORK/capi/$kind/libvigil_capi.dll.a")
        cp "$WORK/capi/$kind/vigil_capi.dll" "$d/"
      else
        lib=("$WORK/capi/$kind/libvigil_capi.a" "${sys[@]}")
      fi
      "${cc[@]}" -o "$d/agent.exe" examples/c-agent/agent.c "${lib[@]}"
      "${cc[@]}" -pthread -static -o "$d/test_capi.exe" examples/c-agent/tests/test_capi.c "${lib[@]}"
      name=$kind-$link
      rc=0
      (cd "$fx" && wine_run "$d/test_capi.exe" --pubkey content.pub --v1 v1.vglb --v2 v2.vglb \
        --other-key other-key.vglb --needs-integrity integrity.vglb --unsigned unsigned.vglb \
        --endpoint-toml endpoint.toml --mapping-toml sysmon.toml --engine "$engine" \
        >"$out/test-$name.out" 2>&1) || rc=$?
      ((rc == 0)) || { tail -30 "$out/test-$name.out" >&2; fail "C tests ($name) under Wine exited $rc"; }
      echo "C tests ($name, engine $engine): passed; $(tail -1 "$out/test-$name.out")"
      (cd "$fx" && wine_run "$d/agent.exe" --pubkey content.pub --bundle examples.vglb sample.jsonl \
        >"$out/agent-$name.raw" 2>"$out/agent-$name.err") || {
        cat "$out/agent-$name.err" >&2
        fail "the C example ($name) under Wine failed"
      }
      tr -d '\r' <"$out/agent-$name.raw" >"$out/agent-$name.jsonl"
      same "C example ($name) vs the Linux vigil run" "$fx/cli.jsonl" "$out/agent-$name.jsonl"
      (cd "$fx" && wine_run "$d/agent.exe" --pubkey content.pub --bundle examples.vglb \
        --engine interp --demo-builder --status sample.jsonl >"$out/demo-$name.raw" \
        2>"$out/demo-$name.err") || {
        cat "$out/demo-$name.err" >&2
        fail "the C example ($name, --demo-builder) under Wine failed"
      }
      tr -d '\r' <"$out/demo-$name.raw" >"$out/demo-$name.jsonl"
      same "C example --demo-builder ($name) vs jit-dll" "$out/demo-jit-dll.jsonl" "$out/demo-$name.jsonl"
      rc=0
      (cd "$fx" && wine_run "$d/agent.exe" --pubkey content.pub --bundle other-key.vglb sample.jsonl \
        >"$out/refused-$name.out" 2>&1) || rc=$?
      if ((rc != 2)) || ! grep -q E0509 "$out/refused-$name.out"; then
        cat "$out/refused-$name.out" >&2
        fail "the C example ($name): a bundle of an untrusted key gave exit $rc, not 2 with E0509"
      fi
    done
  done
  echo "C example under Wine: $(wc -l <"$fx/cli.jsonl") alerts over the sample, identical to the Linux vigil run's, and $(wc -l <"$out/demo-jit-dll.jsonl") with --demo-builder, identical across DLL/static and JIT/JIT-free; untrusted key refused"
}

t_start=$SECONDS
build
prefix
main_job
signed
agent
corpus
capi
c_agent
echo "ci/windows.sh: passed in $((SECONDS - t_start)) s"
