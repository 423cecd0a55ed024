#!/usr/bin/env bash
# Runs every plan behind the README's paper tables and notebook 04's figures, in the order that makes figures
# soonest: the commonsense suite's seed-1 runs (LoRA and MTL-LoRA first: figures 1 and 2), its other seeds
# (table 1), the ablations (figures 3–5), mtbench (table 2, ~1 h), the decoder's seed-1 runs, its seed-2 runs
# (table 3), the longer runs (figure 6). Finished runs are
# skipped — or, finished before their plan asked for a test evaluation, tested — and interrupted ones resume,
# so this can be stopped and started again at will. The MiniLM plans on the suite share
# one folder (sweeps/commonsense): an ablation variant that is a main-table run is that run.
#
#   MTLORA=/path/to/mtlora scripts/paper_sweeps.sh        # default: go run ./cmd/mtlora
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd
if [ -z "${MTLORA:-}" ]; then
	go build -o /tmp/mtlora-paper ./cmd/mtlora
	MTLORA=/tmp/mtlora-paper
fi
folder() { case "$1" in commonsense-*) echo sweeps/commonsense ;; *) echo "sweeps/$1" ;; esac; }
jobs() { # plan, then a grep pattern on run ids
	"$MTLORA" sweep -spec "sweeps/$1.json" -dir "$(folder "$1")" -jobs 2>/dev/null | grep -E -- "$2" || true
}
{
	jobs commonsense-main '-only (lora|mtl-lora)-r[0-9]+-s1-'
	jobs commonsense-main '-only (dora|multilora|moelora|hydralora|per-task-lora)-r[0-9]+-s1-'
	jobs commonsense-main '-s[23]-'
	jobs commonsense-lambda .
	jobs commonsense-n .
	jobs commonsense-tau .
	jobs mtbench-main .
	jobs smollm2-commonsense '-s1-'
	jobs smollm2-commonsense '-s2-'
	jobs commonsense-long .
} | while read -r line; do
	start=$(date +%s)
	echo "== $(date -u +%H:%M:%S) ${line##*-only }"
	eval "$MTLORA ${line#mtlora }" </dev/null
	echo "   $(( $(date +%s) - start )) s"
done
for plan in commonsense-main commonsense-lambda commonsense-n commonsense-tau mtbench-main smollm2-commonsense commonsense-long; do
	echo "== $plan: results table"
	"$MTLORA" sweep -spec "sweeps/$plan.json" -dir "$(folder "$plan")" -merge
done
