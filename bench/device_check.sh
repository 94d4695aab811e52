#!/usr/bin/env bash
# The checks and measurements that need a CUDA GPU, in one run of about 9 minutes (a GPU machine
# is lent to few sessions, for minutes: everything is prepared to run at once).
#
#   1. tests/test_cuda.py: segmentation, detection, training and the detect command on the GPU,
#      against the CPU and the simulated truth;
#   2. bench/gpu.py: segmentation speed of each precision and tiling on a 500 x 400 x 300 movie;
#   3. bench/train.py: seconds per training step on the GPU for a few patch and batch sizes;
#   3b. with COMPACT_MINUTES=M: scripts/train_compact_model.py distils the compact network (16/24/32)
#      from the bundled model for M minutes on the GPU and evaluates it on its held-out movies;
#   4. scripts/train_default_model.py: the bundled model trained on for TRAIN_MINUTES on the GPU,
#      on the mixture of simulated movies of the model card (made on the CPUs during steps 1-3),
#      then evaluated on the script's unseen movies. The weights come back for bench/robustness.py.
#
# Usage (repository root; the official weights, if any, in EXODEEPFINDER_OFFICIAL_WEIGHTS):
#   OUT=build/device bash bench/device_check.sh [TRAIN_MINUTES]        # default 5; 0 skips step 4
#   DISTRACTORS=1 OUT=build/device bash bench/device_check.sh 5       # the mixture with the artefact movies
# With BUDGET=S (seconds for the whole run, e.g. a lease's limit) the training is shortened so that
# the run, the model's evaluation included, ends within S seconds.
set -u
OUT=${OUT:-build/device}
MINUTES=${1:-5}
STARTED=$SECONDS
WORK=${WORK:-/tmp/edf_device_training}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
LOG=$OUT/log.txt
say() { echo "== $(date +%T) $*" | tee -a "$LOG"; }
step() { "$@" 2>&1 | tee -a "$LOG"; }

# The recipe of the model card's sixth run (default, randomised, docked, targeted, dim and dim_busy
# movies; batches 8 times those of the CPU runs), from the bundled weights. With DISTRACTORS=1 the
# mixture adds the simulator's opt-in artefacts of real TIRF movies (the script's `distractors` and
# `bumps` groups: transient bumps, blinks, docking steps, passing vesicles, focus drift; issue 28).
EXTRA='["docked","targeted","dim","dim_busy"]'
[ "${DISTRACTORS:-0}" = 1 ] && EXTRA='["docked","targeted","dim","dim_busy","distractors","bumps"]'
RECIPE=(--set init='"bundled"' --set randomized_movies=96
        --set "extra_movies=$EXTRA"
        --set 'patch_sizes=[48]' --set 'batch_sizes=[16]' --set 'random_shifts=[16]'
        --set 'n_epochs=[2000]' --set 'n_steps=[200]' --set learning_rate=2e-4 --set loss='"dice_ce"'
        --set train_seed=8 --set max_minutes="$MINUTES")

say "machine"
step nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step "$PYTHON" -c "import sys, torch, numpy; print('python', sys.version.split()[0], 'torch', torch.__version__,
'CUDA', torch.version.cuda, 'numpy', numpy.__version__, 'GPU', torch.cuda.is_available())"
step nproc
if [ "$MINUTES" != 0 ]; then  # the training movies, on the CPUs, while the GPU is measured
    JOBS=$(( $(nproc) > 4 ? $(nproc) - 2 : 2 ))
    "$PYTHON" scripts/train_default_model.py --work "$WORK" --jobs "$JOBS" --prepare_only "${RECIPE[@]}" \
        > "$OUT/prepare.log" 2>&1 &
    PREPARING=$!
fi

say "tests on the GPU"
step "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_cuda.py
say "segmentation speed"
step "$PYTHON" bench/gpu.py --frames 500 --skip_compile --json "$OUT/gpu_inference.json" \
    ${EXODEEPFINDER_OFFICIAL_WEIGHTS:+--weights "$EXODEEPFINDER_OFFICIAL_WEIGHTS"}
say "training speed"
step "$PYTHON" bench/train.py --device cuda --configs 48x2 48x16 64x8 --steps 5
say "training speed, reference network against the compact one (widths 16/24/32)"
step "$PYTHON" bench/train.py --device cuda --widths 16 24 32 --configs 32x32 48x16 --steps 5
if [ "${COMPACT_MINUTES:-0}" != 0 ]; then  # the compact network distilled from the bundled model on the GPU
    say "compact network: distilling for $COMPACT_MINUTES minutes"
    "$PYTHON" scripts/train_compact_model.py prepare --work "$WORK/compact" --device cuda > "$OUT/compact.log" 2>&1 &&
    "$PYTHON" scripts/train_compact_model.py train --work "$WORK/compact" --device cuda --minutes "$COMPACT_MINUTES" \
        --batch_size 32 --steps_per_epoch 50 >> "$OUT/compact.log" 2>&1 &&
    "$PYTHON" scripts/train_compact_model.py evaluate --work "$WORK/compact" --weights bundled "$WORK/compact/student.h5" \
        >> "$OUT/compact.log" 2>&1
    grep -E "epoch|F1|student|Error|error" "$OUT/compact.log" | tail -20 | tee -a "$LOG"
    cp "$WORK/compact/student.h5" "$WORK/compact/recipe.json" "$WORK/compact/heldout/evaluation.json" "$OUT/" 2>/dev/null
fi

[ "$MINUTES" = 0 ] && { say "done"; exit 0; }
say "waiting for the training movies"
wait "$PREPARING"; status=$?
tail -3 "$OUT/prepare.log" | tee -a "$LOG"
[ $status = 0 ] || { say "preparing the training movies failed"; exit 1; }
rm "$OUT/prepare.log"
if [ -n "${BUDGET:-}" ]; then  # keep about 90 s for loading the movies, the evaluation and the copies
    MINUTES=$("$PYTHON" -c "print(round(max(0.5, min($MINUTES, ($BUDGET - $SECONDS + $STARTED - 90) / 60)), 2))")
    RECIPE+=(--set max_minutes="$MINUTES")
fi
say "training for $MINUTES minutes"
"$PYTHON" scripts/train_default_model.py --work "$WORK" "${RECIPE[@]}" --skip_official \
    --install "$OUT/gpu_model.h5" > "$OUT/train.log" 2>&1
status=$?
grep -E "^epoch|took|pooled|movie [0-9]|installed|Error|error" "$OUT/train.log" | tail -40 | tee -a "$LOG"
cp "$WORK/training/net_train_history.h5" "$WORK/evaluation.json" "$OUT/" 2>/dev/null
cp "$WORK"/training/*.png "$OUT/" 2>/dev/null
say "done (training status $status)"
