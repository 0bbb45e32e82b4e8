#!/usr/bin/env bash
# One bounded GPU session (issue #13): carried wheels -> tests/gpu -> the benchmarks, results in $OUT.
#
#   On the GPU machine (repository root; .whl carried, see benchmarks/README.md):
#       bash benchmarks/gpu_run.sh
#   Here, end to end on the CPU with tiny sizes (seconds to minutes, nothing installed):
#       GPU_RUN_TINY=1 OUT=/tmp/gpu-run bash benchmarks/gpu_run.sh
#
# Parts, each under `timeout` and skipped when the whole run's budget (GPU_RUN_BUDGET seconds,
# default 540: one 10-minute call with a minute to spare) has too little left for it:
#   wheels     pip-install .whl/*.whl into /tmp/site (diffusers, SQLAlchemy, importlib_metadata)
#   models     build the real-size random SD2.1 and SD1.5 once into $LABELER_CACHE (in parallel)
#   tests      python -m pytest tests/gpu              -> tests.log, tests.xml
#   dift       benchmarks.run --only dift,rate          -> dift.json (paper, fast, reference loop, FLOP floor)
#   host       benchmarks.run --only host               -> host.json (the host ceiling)
#   attention  benchmarks.run --only attention          -> attention.json (paper, fast, reference loop, floor)
#   profile    benchmarks.profile_dift (SD2.1 fast)     -> profile.txt (torch.profiler: where the time goes)
# Everything printed also goes to $OUT/run.log; $OUT/summary.json says per part: exit code,
# seconds, budget, timed out or skipped. At most 8 files come back from $OUT: these are 8.
#
# Environment: OUT (default: a new temporary folder), PYTHON (default: python3), GPU_RUN_TINY=1
# (CPU, tiny sizes, no wheels, no real-size models), GPU_RUN_ONLY=part,part (default: all),
# GPU_RUN_BUDGET, GPU_RUN_T_<PART> (one part's cap in seconds), ATTENTION_STEPS (full size:
# optimisation steps actually run per context before extrapolating; default 32 of the preset's 129).

set -u
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUT=${OUT:-$(mktemp -d -t gpu-run-XXXXXX)}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
TINY=${GPU_RUN_TINY:-0}
ONLY=${GPU_RUN_ONLY:-wheels,models,tests,dift,host,attention,profile}
BUDGET=${GPU_RUN_BUDGET:-540}
START=$(date +%s)
export LABELER_CACHE=${LABELER_CACHE:-/tmp/labeler-cache}
export LABELER_TEST_CACHE=$LABELER_CACHE  # tests/conftest.py: the same cache, so tests reuse the built models
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

if [ "$TINY" = 1 ]; then
    DEVICE=cpu; SIZE=tiny
    caps=(wheels=0 models=0 tests=240 dift=240 host=120 attention=240 profile=120)
    PROFILE=(--device cpu --model tiny-random --resolution 64 --batch 2 --batches 1)
else
    DEVICE=cuda; SIZE=full
    caps=(wheels=60 models=150 tests=150 dift=90 host=40 attention=110 profile=45)
    PROFILE=(--device cuda --model sd-2-1 --preset fast --batch 32 --batches 2)
fi

LOG="$OUT/run.log"
: >"$LOG"
SUMMARY="$OUT/summary.parts"
: >"$SUMMARY"
say() { echo "$(date -u +%H:%M:%S) [gpu_run] $*" | tee -a "$LOG"; }

cap_of() {  # the part's cap: GPU_RUN_T_<PART> or the default above
    local name=$1 var="GPU_RUN_T_${1^^}" kv
    if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
    for kv in "${caps[@]}"; do [ "${kv%%=*}" = "$name" ] && echo "${kv#*=}" && return; done
    echo 60
}

wanted() { [[ ",$ONLY," == *",$1,"* ]]; }

# part NAME CMD...: run CMD under timeout (its cap, cut to what is left of the budget); record it.
part() {
    local name=$1; shift
    if ! wanted "$name"; then return 0; fi
    local cap left limit t0 rc status
    cap=$(cap_of "$name")
    left=$(( BUDGET - ($(date +%s) - START) - 10 ))
    limit=$(( cap < left ? cap : left ))
    if [ "$cap" -le 0 ]; then
        echo "$name skipped 0 0 $cap" >>"$SUMMARY"; say "$name: not in this mode"; return 0
    fi
    if [ "$limit" -lt 15 ]; then
        echo "$name skipped 0 0 $cap" >>"$SUMMARY"; say "$name: skipped, ${left}s of the budget left"; return 0
    fi
    say "$name: start (limit ${limit}s)"
    t0=$(date +%s)
    # bash -c: the command may be one of the exported functions below.
    timeout --kill-after=10 "$limit" bash -c '"$@"' _ "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    status=done
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout; fi
    echo "$name $status $rc $(( $(date +%s) - t0 )) $limit" >>"$SUMMARY"
    say "$name: $status, exit $rc, $(( $(date +%s) - t0 ))s"
}

install_wheels() {
    if [ ! -d .whl ] || ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "no .whl folder: using the packages already installed"; return 0
    fi
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
}

run_tests() {
    set -o pipefail
    "$PY" -m pytest tests/gpu -q -rs -p no:cacheprovider --junitxml="$OUT/tests.xml" -o junit_family=xunit2 \
        --timeout=300 2>&1 | tee "$OUT/tests.log"
}

build_models() {
    "$PY" -c "from benchmarks.models import model_dir; print(model_dir('sd-2-1'))" &
    local a=$!
    "$PY" -c "from benchmarks.models import model_dir; print(model_dir('sd-1-5'))" &
    local b=$!
    wait $a; local ra=$?
    wait $b; local rb=$?
    return $(( ra || rb ))
}

export PY OUT
export -f install_wheels build_models run_tests
say "out: $OUT; device $DEVICE, size $SIZE, budget ${BUDGET}s, parts $ONLY"
if [ "$DEVICE" = cuda ] && command -v nvidia-smi >/dev/null; then nvidia-smi -L 2>&1 | tee -a "$LOG"; fi

if [ "$TINY" != 1 ]; then
    part wheels install_wheels
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
else
    part wheels true
fi
"$PY" -c "import torch, diffusers, sqlalchemy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'diffusers', diffusers.__version__)" 2>&1 | tee -a "$LOG"

part models build_models
part tests run_tests
part dift "$PY" -m benchmarks.run --device "$DEVICE" --size "$SIZE" --only dift --json "$OUT/dift.json"
part host "$PY" -m benchmarks.run --device "$DEVICE" --size "$SIZE" --only host --json "$OUT/host.json"
part attention "$PY" -m benchmarks.run --device "$DEVICE" --size "$SIZE" --only attention \
    --attention-steps "${ATTENTION_STEPS:-32}" --json "$OUT/attention.json"
part profile "$PY" -m benchmarks.profile_dift "${PROFILE[@]}" --out "$OUT/profile.txt"

"$PY" - "$SUMMARY" "$OUT/summary.json" "$DEVICE" "$SIZE" "$BUDGET" "$(( $(date +%s) - START ))" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys
src, dst, device, size, budget, total = sys.argv[1:7]
parts = {}
for line in open(src, encoding="utf-8"):
    name, status, rc, seconds, limit = line.split()
    parts[name] = {"status": status, "exit": int(rc), "seconds": int(seconds), "limit": int(limit)}
ok = all(p["status"] in ("done", "skipped") and p["exit"] == 0 for p in parts.values())
json.dump({"device": device, "size": size, "budget_s": int(budget), "total_s": int(total), "ok": ok, "parts": parts},
          open(dst, "w", encoding="utf-8"), indent=1)
print(f"summary: {'ok' if ok else 'NOT ok'} in {total} s of {budget}: " +
      ", ".join(f"{k} {v['status']} ({v['exit']}, {v['seconds']} s)" for k, v in parts.items()))
sys.exit(0 if ok else 1)
EOF
status=${PIPESTATUS[0]}
rm -f "$SUMMARY"
say "done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$status"
