#!/usr/bin/env bash
# Runs a subset of keyrotor's integration tests under valgrind memcheck and
# says whether any error is in keyrotor's own code.
#
#   scripts/valgrind.sh [-- <libtest args for every binary, e.g. a name filter>]
#
# Environment:
#   VALGRIND_TESTS    test binaries to run (default: lifecycle crypto two_call null_pointers)
#   VALGRIND_JOBS     binaries run in parallel (default 2)
#   VALGRIND_TIMEOUT  seconds per binary (default 900)
#   CARGO_TARGET_DIR  where to build (default: <repo>/target)
#   VALGRIND_OUT      where logs and XML go (default: $CARGO_TARGET_DIR/valgrind)
#
# Each binary runs with --test-threads=1 under
#   valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
# plus scripts/valgrind.supp (third-party noise only; never a keyrotor frame)
# and --keep-debuginfo=yes (the tests dlclose the module, and leaks found at
# exit would otherwise have no symbols).
#
# Every error valgrind reports is attributed to the innermost frame that is
# not the Rust runtime (std/core/alloc), libc or valgrind itself: keyrotor
# (src/), test code (tests/), or a third-party crate — the latter printed
# with the keyrotor frame that called into it.
#
# Exit status: 0 clean; 1 errors in keyrotor's code; 2 setup failure;
# 3 no keyrotor error, but errors in third-party or test code, or tests
# that failed under valgrind.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${VALGRIND_OUT:-$CARGO_TARGET_DIR/valgrind}
TESTS=${VALGRIND_TESTS:-"lifecycle crypto two_call null_pointers"}
JOBS=${VALGRIND_JOBS:-2}
TIMEOUT=${VALGRIND_TIMEOUT:-900}
SUPP=$ROOT/scripts/valgrind.supp
EXTRA=()
if [[ ${1:-} == "--" ]]; then
    shift
    EXTRA=("$@")
fi

die() { echo "valgrind.sh: $*" >&2; exit 2; }

if ! command -v valgrind >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "valgrind.sh: installing valgrind" >&2
        apt-get install -y valgrind >/dev/null || die "apt-get install valgrind failed"
    else
        die "valgrind is not installed (apt-get install -y valgrind)"
    fi
fi
command -v python3 >/dev/null || die "python3 is needed to read cargo's and valgrind's output"
[[ -f $SUPP ]] || die "missing $SUPP"

# Build the module (the tests load target/debug/libkeyrotor.so) and the
# test binaries, and learn their paths from cargo's JSON messages.
args=()
for t in $TESTS; do args+=(--test "$t"); done
echo "valgrind.sh: building (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --lib --quiet || die "cargo build --lib failed"
mkdir -p "$OUT"
cargo test --no-run --message-format=json "${args[@]}" >"$OUT/build.json" 2>"$OUT/build.err" \
    || { cat "$OUT/build.err" >&2; die "cargo test --no-run failed"; }
mapfile -t BINS < <(python3 - "$OUT/build.json" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in m["target"]["kind"]:
        print(m["target"]["name"] + " " + m["executable"])
EOF
)
[[ ${#BINS[@]} -gt 0 ]] || die "no test binaries found for: $TESTS"

run_one() {
    local name=$1 exe=$2 t0 rc
    t0=$(date +%s)
    rm -f "$OUT/$name.xml" "$OUT/$name.log" "$OUT/$name.out"
    set +e
    timeout "$TIMEOUT" valgrind \
        --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --suppressions="$SUPP" --keep-debuginfo=yes --fair-sched=yes --num-callers=50 \
        --child-silent-after-fork=yes \
        --xml=yes --xml-file="$OUT/$name.xml" --log-file="$OUT/$name.log" \
        "$exe" --test-threads=1 "${EXTRA[@]}" >"$OUT/$name.out" 2>&1
    rc=$?
    set -e
    echo "$name $rc $(($(date +%s) - t0))" >"$OUT/$name.rc"
    echo "valgrind.sh: $name finished (exit $rc) in $(($(date +%s) - t0)) s"
}

echo "valgrind.sh: running ${#BINS[@]} binaries, $JOBS at a time; output in $OUT"
running=0
for b in "${BINS[@]}"; do
    run_one ${b% *} ${b#* } &
    running=$((running + 1))
    if ((running >= JOBS)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

python3 - "$ROOT" "$OUT" "${BINS[@]}" <<'EOF'
import os, re, sys
import xml.etree.ElementTree as ET

root, out, bins = sys.argv[1], sys.argv[2], sys.argv[3:]
src, tests = os.path.join(root, "src"), os.path.join(root, "tests")
RUNTIME_FN = re.compile(r"^<?(std|core|alloc|__rust|__rdl|__rg|_rust|__rustc)[:_]")

def path(fr):
    return os.path.join(fr.findtext("dir") or "", fr.findtext("file") or "")

def fn(fr):
    return fr.findtext("fn") or "?"

def owner(fr):
    """keyrotor / test / runtime / the third-party crate of one frame."""
    p, f, obj = path(fr), fn(fr), fr.findtext("obj") or ""
    if p.startswith(src) or re.match(r"^<?keyrotor::", f):
        return "keyrotor"
    if p.startswith(tests):
        return "test"
    runtime_obj = ("vgpreload", "/libc.so", "/ld-linux", "/libgcc_s", "/libstdc++")
    if any(x in obj for x in runtime_obj) or "/rustc/" in p or RUNTIME_FN.match(f):
        return "runtime"
    m = re.search(r"/registry/src/[^/]+/([^/]+)/", p)
    if m:
        return m.group(1)
    m = re.match(r"^<?([a-z_][a-z0-9_]*)::", f)
    if m:
        return m.group(1)
    return os.path.basename(obj) or f

REAL = {"Leak_PossiblyLost", "Leak_StillReachable", "Leak_IndirectlyLost"}
total = {"keyrotor": 0, "third": 0, "test": 0}
failed_tests = []
for b in bins:
    name = b.split(" ", 1)[0]
    rc_line = open(os.path.join(out, name + ".rc")).read().split()
    rc, secs = int(rc_line[1]), rc_line[2]
    result = "no test summary (crashed or timed out?)"
    for line in open(os.path.join(out, name + ".out"), errors="replace"):
        if line.startswith("test result:"):
            result = line.strip()
    if not result.startswith("test result: ok"):
        failed_tests.append(name)
    print(f"\n== {name}: {result} [{secs} s, exit {rc}]")
    xml = os.path.join(out, name + ".xml")
    try:
        errors = ET.parse(xml).getroot().findall("error")
    except (ET.ParseError, FileNotFoundError) as e:
        print(f"   cannot read {xml}: {e}")
        failed_tests.append(name)
        continue
    for e in errors:
        kind = e.findtext("kind")
        if kind in REAL:
            continue
        what = e.findtext("what") or e.findtext("xwhat/text") or ""
        frames = e.find("stack").findall("frame")
        owners = [(owner(fr), fr) for fr in frames]
        first = next(((o, fr) for o, fr in owners if o != "runtime"), ("runtime", frames[0]))
        ours = next((fr for o, fr in owners if o == "keyrotor"), None)
        if first[0] == "keyrotor":
            total["keyrotor"] += 1
            tag = "KEYROTOR"
        elif first[0] == "test":
            total["test"] += 1
            tag = "test code"
        else:
            total["third"] += 1
            tag = f"third-party ({first[0]})"
        print(f"   [{tag}] {kind}: {what}")
        print(f"       at {fn(first[1])} ({path(first[1])}:{first[1].findtext('line') or '?'})")
        if ours is not None and first[0] != "keyrotor":
            print(f"       called from {fn(ours)} ({path(ours)}:{ours.findtext('line') or '?'})")
    if not any(e.findtext("kind") not in REAL for e in errors):
        print("   no valgrind errors")

print("\n== summary")
print(f"   errors in keyrotor code:                 {total['keyrotor']}")
print(f"   errors in third-party code:              {total['third']}")
print(f"   errors in test code:                     {total['test']}")
print(f"   binaries with failing or missing tests:  {', '.join(failed_tests) or 'none'}")
if total["keyrotor"]:
    sys.exit(1)
if total["third"] or total["test"] or failed_tests:
    sys.exit(3)
EOF
