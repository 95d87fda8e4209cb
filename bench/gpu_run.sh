#!/usr/bin/env bash
# Issue 17's one GPU run: every GPU figure and GPU-only record, in one go, on a fresh machine.
#
# Prepare here first (bash bench/gpu_prepare.sh), then one device call:
#   run(command="bash bench/gpu_run.sh", carry=[".gpu"], timeout_s=420)
# Everything lands in $OUT (at most 8 files come back): gpu_run.log (all output), env.txt,
# graph_check.json, records.tar.gz (the records and figures of the GPU runs, to unpack into
# results/). Each part has its own time limit, so one that hangs cannot eat the lease.
#
# Estimated GPU-machine time (parts timed on this CPU at smoke size with GPU_RUN_SCALE=smoke;
# GPU rates from issue 17's H100 figures): setup 10 s; protonet_speed 60-way 5-shot, three
# loops of 300 episodes + Omniglot loading ≈ 45 s; graph_check 2 × 2 000 episodes + 2 × 1 000
# test episodes ≈ 70 s; gan_speed DCGAN 64×64 batch 64/128, four variants ≈ 30 s; gan-variants
# paper cases (only when LFW travelled; 5 000 iterations each) 60 s per case, as many as the
# remaining budget allows. Without LFW the whole script takes about 3 minutes here at smoke
# size (189–201 s on this 2-core CPU with other jobs running).
#
#   GPU_RUN_SCALE=smoke GPU_RUN_DEVICE=cpu bash bench/gpu_run.sh   # the same script on a CPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
scale=${GPU_RUN_SCALE:-full}
device=${GPU_RUN_DEVICE:-cuda}
budget_s=${GPU_RUN_BUDGET_S:-360}  # the script stops starting parts after this
start=$(date +%s)
log="$OUT/gpu_run.log"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg GENSUITE_DATA_ROOT=${GENSUITE_DATA_ROOT:-$PWD/.gpu/data}
py=${PYTHON:-python3}
left() { echo $((budget_s - ($(date +%s) - start))); }
part() {  # part NAME LIMIT_S COMMAND...: one timed part, its output in the log
  local name=$1 limit=$2; shift 2
  if [ "$(left)" -lt "$limit" ]; then echo "== $name: skipped ($(left) s left)" | tee -a "$log"; return; fi
  echo "== $name (limit ${limit} s)" | tee -a "$log"
  local t0=$(date +%s)
  timeout "$limit" "$@" >> "$log" 2>&1
  echo "== $name: exit $? after $(( $(date +%s) - t0 )) s" | tee -a "$log"
}

if [ -d .gpu/whl ] && ls .gpu/whl/*.whl > /dev/null 2>&1; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-site \
    .gpu/whl/*.whl && export PYTHONPATH=/tmp/gpu-site:$PWD || exit 1
else
  export PYTHONPATH=$PWD
fi
{ date -u; nvidia-smi 2>/dev/null || echo "no nvidia-smi"; git rev-parse HEAD 2>/dev/null
  $py -c 'import torch, sys; print(sys.version); print("torch", torch.__version__, "cuda",
torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")'
} > "$OUT/env.txt" 2>&1

if [ "$scale" = smoke ]; then
  ep=20; test_ep=50; way=20; gan_steps=3; gan_warm=1
else
  ep=300; test_ep=1000; way=60; gan_steps=50; gan_warm=5
fi
part protonet_speed 120 $py bench/protonet_speed.py --device "$device" --compare --way $way \
  --shot 5 --query 5 --episodes $ep --warmup 20 --threads 4
part graph_check 180 $py bench/graph_check.py --device "$device" --way $way \
  --episodes $((ep * 20 / 3)) --test-episodes $test_ep --threads 4 --out "$OUT/graph_check.json"
part gan_speed 120 $py bench/gan_speed.py --device "$device" --backbones dcgan \
  --batch-sizes 64,128 --size 64 --channels 3 --steps $gan_steps --warmup $gan_warm --threads 4

# Paper-profile records that need the accelerator: ProtoNet's only if no CPU run is committed.
bench=($py -m gensuite.cli bench --device "$device" --tracking-uri none
       --results-dir "$OUT/results" --no-progress)  # timeout runs programs, not functions
profile=paper; [ "$scale" = smoke ] && profile=smoke
for model in 1 5; do
  if ! ls results/protonet/paper/snell-5w${model}s/*.json > /dev/null 2>&1; then
    part "protonet paper ${model}-shot" 240 "${bench[@]}" --suite protonet --profile $profile \
      --case snell-5w${model}s --case snell-20w${model}s
  fi
done
if [ -d "$GENSUITE_DATA_ROOT/lfw" ]; then
  for case in vanilla wgan-gp sn-gan wgan-nc5; do
    part "gan-variants $profile $case" 150 "${bench[@]}" --suite gan-variants --profile $profile --case $case
  done
else
  echo "== gan-variants paper cases: not run (LFW did not travel: see bench/gpu_prepare.sh)" | tee -a "$log"
fi
[ -d "$OUT/results" ] && tar -czf "$OUT/records.tar.gz" --exclude=.work -C "$OUT" results && rm -rf "$OUT/results"
echo "== done in $(( $(date +%s) - start )) s" | tee -a "$log"
