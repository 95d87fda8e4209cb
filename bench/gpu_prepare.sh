#!/usr/bin/env bash
# Prepare the one GPU run of issue 17 (bench/gpu_run.sh), here, before any device time is spent.
#
# Fills .gpu/ (ignored through .git/info/exclude) with what the GPU machine lacks: the Omniglot
# files the ProtoNet checks read, the torch-fidelity wheel for Python 3.12 (the device image has
# torch, numpy, scipy, pandas, scikit-image, seaborn; not mlflow or torch-fidelity: the GPU run
# writes records with --tracking-uri none), and LFW when it still fits. Then prints the size of
# what a device call sends: the tracked tree (results/ alone is ~54 MB) plus .gpu/, against the
# tool's 64 MiB. Call the device with carry [".gpu"] and the command `bash bench/gpu_run.sh`.
#
#   bash bench/gpu_prepare.sh [DATA_ROOT]      # DATA_ROOT: default ../shared/data
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/data}
limit=$((64 * 1024 * 1024))
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/data/omniglot/splits_vinyals .gpu/whl
cp "$src"/omniglot/images_background.npz "$src"/omniglot/images_evaluation.npz \
   "$src"/omniglot/LICENSE.omniglot "$src"/omniglot/alphabets.tsv .gpu/data/omniglot/
cp "$src"/omniglot/splits_vinyals/*.txt .gpu/data/omniglot/splits_vinyals/
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu/whl torch-fidelity==0.4.0
tree_bytes=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
gpu_bytes=$(du -sb .gpu | cut -f1)
lfw=$(du -sb "$src"/lfw 2>/dev/null | cut -f1 || echo 0)
if [ $((tree_bytes + gpu_bytes + lfw)) -lt $limit ]; then
  cp -r "$src"/lfw .gpu/data/ && gpu_bytes=$(du -sb .gpu | cut -f1)
  echo "LFW fits: gan-variants paper cases will run"
else
  echo "LFW ($((lfw / 1048576)) MiB) does not fit beside the tree: gan-variants paper cases" \
       "will be skipped (make results/ lighter, or carry LFW instead of Omniglot)"
fi
total=$((tree_bytes + gpu_bytes))
echo "travels: tree $((tree_bytes / 1048576)) MiB + .gpu $((gpu_bytes / 1048576)) MiB =" \
     "$((total / 1048576)) MiB of 64 MiB"
[ $total -lt $limit ] || { echo "over the device tool's 64 MiB: nothing would be sent" >&2; exit 1; }
