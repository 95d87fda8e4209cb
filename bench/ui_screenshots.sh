#!/usr/bin/env bash
# Check script (not a test): `gensuite ui --optuna` seen by a headless browser.
#
# Makes a scratch results folder with a 3-trial smoke sweep of the given suite (sqlite stores),
# starts `gensuite ui --optuna` on it, and saves screenshots of the MLflow experiment page and
# the Optuna dashboard's study page; prints their paths. Needs a Chromium (Debian: apt-get
# install chromium). Look at the PNGs: the MLflow page lists the trials' runs with their
# Dataset column, the dashboard shows the study's history.
#
#   bash bench/ui_screenshots.sh [SUITE] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-protonet}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
py=${PYTHON:-.venv/bin/python}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found: apt-get install chromium" >&2; exit 2; }
scratch=$(mktemp -d)
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

$py -m gensuite.cli sweep --suite "$suite" --profile smoke --trials 3 \
  --results-dir "$scratch/results" --no-progress >/dev/null
$py -m gensuite.cli ui --results-dir "$scratch/results" --port "$port" --optuna \
  >"$scratch/ui.log" 2>&1 &
ui_pid=$!
trap 'pkill -TERM -P $ui_pid 2>/dev/null; kill $ui_pid 2>/dev/null; sleep 1; pkill -f "$scratch" 2>/dev/null || true' EXIT

for url in "http://127.0.0.1:$port/health" "http://127.0.0.1:$((port + 1))/api/studies"; do
  for _ in $(seq 240); do curl -fs "$url" >/dev/null && break; sleep 0.5; done
done
experiment=$($py - "$scratch/results/mlflow.db" "$suite" <<'EOF'
import sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=f"sqlite:///{sys.argv[1]}")
print(client.get_experiment_by_name(f"gensuite/{sys.argv[2]}").experiment_id)
EOF
)
shot() {  # URL FILE: a 1400x900 screenshot after the page's scripts have run
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
    --virtual-time-budget=15000 --screenshot="$2" "$1" >/dev/null 2>&1
  echo "$2 ($(stat -c %s "$2") bytes) <- $1"
}
shot "http://127.0.0.1:$port/#/experiments/$experiment/runs?workflowType=machine_learning" "$out/mlflow_experiment.png"
shot "http://127.0.0.1:$((port + 1))/dashboard/studies/1" "$out/optuna_study.png"
