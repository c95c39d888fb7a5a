#!/usr/bin/env bash
# The device-path checks on a GPU machine, each step under a time cap, so that
# partial results come back within about 10 minutes:
#
#   1. the device-path tests on CUDA (tests/test_device_augment.py,
#      tests/test_device_training.py, tests/test_benchmark_train_e2e.py);
#   2. benchmark.py --sections train-e2e for res50 and for res101 at batch 64
#      with 12 workers (at most the machine's cores), --e2e-amp;
#   3. the quickstart accuracy run: tools/train.py of the _gpuaug quickstart
#      config (--amp, --seed 0) on 1500 synthetic images, tools/test.py; then
#      the stock quickstart config the same way if time is left.
#
#   bash tools/analysis_tools/gpu_check.sh OUT_DIR [--stack DIR] [--budget S] [--quick]
#
# OUT_DIR receives at most 8 flat files: gpu_check.log (environment, each
# step's command and status, the benchmarks' output and tables), tests.log,
# train_e2e_res50.json, train_e2e_res101.json (benchmark reports),
# accuracy.log, accuracy_gpuaug.json, accuracy_stock.json (tools/test.py
# --metrics-out) and summary.json (each step's exit status and seconds; 124
# means its cap was hit). Data, work dirs and checkpoints go to SCRATCH
# (default: a new folder under /tmp).
#
# The machine needs Python with torch (CUDA), numpy, scipy, OpenCV, pytest and
# the OpenMMLab stack. Without the stack, --stack DIR installs it from the
# offline folder DIR (../shared/offline-py312/ beside a checkout; copy it into
# the checkout where only the checkout travels) into SCRATCH/site, about 2.5
# min. --budget S caps the whole run (default 560 s, install included);
# --quick makes every step tiny (a smoke run of this script, on any machine).
# Environment: PYTHON (default python3), SCRATCH.
set -uo pipefail

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "gpu_check.sh: error: $*" >&2; exit 2; }

OUT="" STACK="" BUDGET=560 QUICK=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage 0 ;;
        --stack) [[ $# -ge 2 ]] || die "--stack needs a folder"; STACK="$2"; shift 2 ;;
        --budget) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--budget needs whole seconds"
                  BUDGET="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [[ -z "$OUT" ]] || die "one OUT_DIR only, got '$OUT' and '$1'"; OUT="$1"; shift ;;
    esac
done
[[ -n "$OUT" ]] || die "give the folder for the results: gpu_check.sh OUT_DIR (see --help)"
[[ -z "$STACK" || -f "$STACK/install.sh" ]] || die "--stack $STACK: no install.sh there"

START=$(date +%s)
DEADLINE=$((START + BUDGET))
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python3}"
SCRATCH="${SCRATCH:-$(mktemp -d /tmp/gpu_check.XXXXXX)}"
mkdir -p "$OUT" "$SCRATCH" || die "cannot create $OUT or $SCRATCH"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/gpu_check.log"
SUMMARY="$OUT/summary.jsonl.tmp"
: > "$LOG"; : > "$SUMMARY"
export PYTHONUNBUFFERED=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

log() { printf '[%s +%ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - START ))" "$*" | tee -a "$LOG"; }
left() { echo $(( DEADLINE - $(date +%s) )); }

# run NAME CAP LOGFILE CMD...: CMD under `timeout` (the cap, or the time left
# if less), its output appended to LOGFILE; status and seconds into summary
run() {
    local name="$1" cap="$2" out="$3"; shift 3
    local t0 rc limit
    limit=$(left)
    (( cap < limit )) && limit=$cap
    if (( limit < 10 )); then
        log "$name: skipped, $(left) s of the budget left"
        printf '{"step": "%s", "rc": null, "seconds": 0, "skipped": true}\n' "$name" >> "$SUMMARY"
        return 125
    fi
    log "$name: up to ${limit} s: $*"
    t0=$(date +%s)
    echo "== $name: $*" >> "$out"
    timeout -k 10 "$limit" "$@" >> "$out" 2>&1
    rc=$?
    local secs=$(( $(date +%s) - t0 ))
    log "$name: exit $rc after ${secs} s$([[ $rc == 124 || $rc == 137 ]] && echo ' (cap reached)')"
    printf '{"step": "%s", "rc": %d, "seconds": %d, "cap": %d}\n' "$name" "$rc" "$secs" "$limit" >> "$SUMMARY"
    return $rc
}

finish() {
    "$PY" - "$SUMMARY" "$OUT/summary.json" "$BUDGET" "$START" <<'PY' || true
import json, sys, time
steps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump(dict(budget_s=int(sys.argv[3]), total_s=int(time.time()) - int(sys.argv[4]),
               steps=steps), open(sys.argv[2], 'w'), indent=1)
PY
    rm -f "$SUMMARY"
    log "done: results in $OUT ($(ls "$OUT" | tr '\n' ' '))"
}
trap finish EXIT

# --- 0. the stack ------------------------------------------------------------
STACK_CHECK="import torch, mmcv, mmcv.ops, mmengine, mmdet.models, mmpose.models, xtcocotools.cocoeval"
if ! "$PY" -c "$STACK_CHECK" >/dev/null 2>&1; then
    [[ -n "$STACK" ]] || die "the OpenMMLab stack does not import with $PY; install it first or give --stack DIR (the offline-py312 folder)"
    run install 330 "$LOG" bash "$STACK/install.sh" "$SCRATCH/site" || die "installing the stack failed (see $LOG)"
    export PYTHONPATH="$REPO:$SCRATCH/site/mmcv-2.1.0:$SCRATCH/site${PYTHONPATH#"$REPO"}"
fi
DEVICE=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')") \
    || die "torch does not import with $PY"
{
    echo "== environment"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" - <<'PY'
import os, platform, cv2, numpy, torch, mmcv, mmengine, mmpose
print(f'python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), '
      f'numpy {numpy.__version__}, OpenCV {cv2.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmpose {mmpose.__version__}, {os.cpu_count()} cores')
if torch.cuda.is_available():
    print(f'GPU {torch.cuda.get_device_name()}, compute capability '
          f'{".".join(map(str, torch.cuda.get_device_capability()))}')
PY
} >> "$LOG" 2>&1
log "device $DEVICE, budget ${BUDGET} s, scratch $SCRATCH, repo $REPO"
WORKERS=$("$PY" -c "import os; print(min(12, os.cpu_count() or 1))")
cd "$REPO" || die "cannot enter $REPO"

# --- 1. the device-path tests ----------------------------------------------------
TESTS=(tests/test_device_augment.py tests/test_device_training.py tests/test_benchmark_train_e2e.py)
if (( QUICK )); then
    run tests 120 "$OUT/tests.log" "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" \
        -k "pin_memory_hook_arguments or probe_needs_a_warmup"
else  # in parallel where pytest-xdist is there (about 100 s of CPU in all)
    XDIST=()
    "$PY" -c "import xdist" 2>/dev/null && XDIST=(-n "$(( WORKERS < 6 ? WORKERS : 6 ))")
    run tests 150 "$OUT/tests.log" "$PY" -m pytest -v -p no:cacheprovider -rs "${XDIST[@]}" "${TESTS[@]}"
fi
tail -n 5 "$OUT/tests.log" >> "$LOG"

# --- 2. the end-to-end training benchmark ---------------------------------------
bench() {  # bench MODEL CAP EXTRA...
    local model="$1" cap="$2"; shift 2
    local dir="$SCRATCH/bench_$model"
    local args=(--sections train-e2e --device "$DEVICE" --out-dir "$dir"
                --data-root "$SCRATCH/bench_data" --threads 1)
    if (( QUICK )); then args+=(--quick); else
        args+=(--models "$model" --e2e-batch 64 --e2e-workers "$WORKERS"
               --e2e-warmup 10 --e2e-iters 60 --e2e-amp)
    fi
    run "train-e2e $model" "$cap" "$LOG" "$PY" tools/analysis_tools/benchmark.py "${args[@]}" "$@"
    [[ -f "$dir/benchmark.json" ]] && cp "$dir/benchmark.json" "$OUT/train_e2e_$model.json"
}
bench res50 110
bench res101 90 --input-path-samples 0  # the input path: the same as res50's

# --- 3. accuracy of the quickstart, device path (then the stock path) ----------
ACC="$SCRATCH/accuracy"
mkdir -p "$ACC"
IMAGES=1500 EPOCHS=8
(( QUICK )) && IMAGES=40 EPOCHS=1
run "synthetic data" 60 "$OUT/accuracy.log" "$PY" tools/make_synthetic_animalpose.py \
    --out-dir "$ACC/data/animalpose_synthetic" --num-images "$IMAGES" --no-clip --no-progress
accuracy() {  # accuracy NAME CONFIG
    local name="$1" config="$REPO/configs/animal/$2.py" wd="$ACC/work_$1"
    (cd "$ACC" && run "train $name" 150 "$OUT/accuracy.log" "$PY" "$REPO/tools/train.py" "$config" \
        --seed 0 --amp --work-dir "$wd" --cfg-options "train_cfg.max_epochs=$EPOCHS") || return
    local ckpt
    ckpt=$(ls -t "$wd"/epoch_*.pth 2>/dev/null | head -1)
    [[ -n "$ckpt" ]] || { log "accuracy $name: no checkpoint"; return 1; }
    (cd "$ACC" && run "test $name" 60 "$OUT/accuracy.log" "$PY" "$REPO/tools/test.py" "$config" "$ckpt" \
        --work-dir "$wd/test" --metrics-out "$OUT/accuracy_$name.json")
    [[ -f "$OUT/accuracy_$name.json" ]] && log "accuracy $name: $(cat "$OUT/accuracy_$name.json" | tr -d '\n ')"
}
accuracy gpuaug custom_res18_quickstart_synthetic_128x128_gpuaug
accuracy stock custom_res18_quickstart_synthetic_128x128
exit 0
