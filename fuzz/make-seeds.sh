#!/usr/bin/env bash
# Remakes the generated seeds with the `vigil` binary: the bundles of fuzz/seeds/load/ and
# fuzz/seeds/bundle_decode/ (unsigned, and signed with fuzz/signing-key.txt, a test key that
# signs nothing else; fuzz/signing-key.pub is its public half, both from `vigil keygen`) and
# the state directories of fuzz/seeds/state_restore/ (files written by `vigil agent`, packed as
# `vigil_tests::fuzz::state_files` reads them). Run it after a change
# to the bundle format or the state directory; `cargo test -p vigil-tests --test
# fuzz_regressions` says when. The other seeds are copies of real inputs, kept as they are.
#
#   fuzz/make-seeds.sh [PATH/TO/vigil]     (default: builds and uses target/release/vigil)
set -euo pipefail
cd "$(dirname "$0")/.."

vigil="${1:-}"
if [ -z "$vigil" ]; then
  cargo build --release -q -p vigil-cli --bin vigil
  vigil=target/release/vigil
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp fuzz/signing-key.txt "$tmp/fuzz.key"
cp fuzz/signing-key.pub "$tmp/fuzz.pub"
chmod 600 "$tmp/fuzz.key"

# Bundles: one rule file, and the whole example set.
for d in load bundle_decode; do mkdir -p "fuzz/seeds/$d"; rm -f "fuzz/seeds/$d"/*.vglb; done
"$vigil" build --unsigned --strip -o "$tmp/unsigned_process.vglb" examples/rules/process.vgl
"$vigil" build --unsigned --content-version 3 -o "$tmp/unsigned_all.vglb" examples/rules
"$vigil" build --key "$tmp/fuzz.key" --strip --content-version 2 --min-version 1 \
  -o "$tmp/signed_network.vglb" examples/rules/network.vgl
"$vigil" build --key "$tmp/fuzz.key" --content-version 5 --expires 4000000000 \
  -o "$tmp/signed_all.vglb" examples/rules
for d in load bundle_decode; do cp "$tmp"/*.vglb "fuzz/seeds/$d/"; done

# State directories: what `vigil agent` leaves after running a bundle over the sample events.
pack() { # pack OUT DIR FILE...: the files of DIR in the input format of the state_restore target
  local out="$1" dir="$2" first=1 f sel
  shift 2
  {
    for f in "$@"; do
      [ "$first" = 1 ] || printf '\n\0--vigil-state-file--\0\n'
      first=0
      case "$f" in state.json) sel=0 ;; active.vglb) sel=1 ;; lkg.vglb) sel=2 ;; *) sel=3 ;; esac
      printf "\\$(printf '%03o' "$sel")"
      cat "$dir/$f"
    done
  } >"$out"
}
mkdir -p fuzz/seeds/state_restore
rm -f fuzz/seeds/state_restore/*.state
run_agent() { # run_agent STATE BUNDLES_DIR [ARG...]
  local state="$1" bundles="$2"
  shift 2
  "$vigil" agent --bundles "$bundles" --state "$state" --pubkey "$tmp/fuzz.pub" --allow-unsigned \
    --engine interp --exit-after-idle-ms 300 "$@" examples/events/sample.jsonl >/dev/null
}
mkdir -p "$tmp/b1" "$tmp/b2"
cp "$tmp/signed_all.vglb" "$tmp/b1/"
run_agent "$tmp/st1" "$tmp/b1"
pack fuzz/seeds/state_restore/signed_active.state "$tmp/st1" state.json active.vglb
cp "$tmp/unsigned_process.vglb" "$tmp/b2/a.vglb"
run_agent "$tmp/st2" "$tmp/b2"
cp "$tmp/unsigned_all.vglb" "$tmp/b2/b.vglb"
run_agent "$tmp/st2" "$tmp/b2" --promote-after-events 1
files=(state.json active.vglb)
if [ -f "$tmp/st2/lkg.vglb" ]; then files+=(lkg.vglb); fi
pack fuzz/seeds/state_restore/unsigned_with_lkg.state "$tmp/st2" "${files[@]}"
pack fuzz/seeds/state_restore/bundle_only.state "$tmp/st1" active.vglb
ls -l fuzz/seeds/load fuzz/seeds/bundle_decode fuzz/seeds/state_restore
