#!/usr/bin/env bash
# Regenerate every figure and table of docs/results.md from the saved run records
# in docs/results/runs/ (config.json, eval.json, metrics.jsonl of each run).
#   bash scripts/results.sh            (after bash scripts/setup.sh, or with routegraph installed)
set -euo pipefail
cd "$(dirname "$0")/.."
RG=routegraph
[ -x .venv/bin/routegraph ] && RG=.venv/bin/routegraph
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
GPU=docs/results/runs/hybrid-small-gpu
CPU=docs/results/runs/hybrid-small-cpu
GPU2=docs/results/runs/hybrid-small-gpu-tier2
SAMPLED=docs/results/runs/hybrid-sampled-cpu
C2=docs/results/runs/cifar2-small-gpu
C10=docs/results/runs/cifar10-small-gpu
OUT=docs/results
$RG plot $GPU -o $OUT/hybrid-curves.png --title "hybrid, 3,000 iterations (tier 1, H200)"
$RG plot $GPU $CPU $GPU2 -o $OUT/hybrid-tier2-curves.png --title "hybrid, 3,000 iterations (tiers 1-2)"
$RG plot $C2 -o $OUT/cifar2-curves.png --title "CIFAR-2, 3,000 iterations (tier 3, H200)"
$RG plot $C10 -o $OUT/cifar10-curves.png --title "CIFAR-10, 3,000 iterations (tier 3, H200)"
$RG render $C10/ac-* --dataflow classes -o $OUT/cifar10-dataflow-classes.png
$RG render $GPU/ac-* --dataflow classes -o $OUT/hybrid-dataflow-classes.png
$RG render $CPU/ac-1e-09-42583e --dataflow classes -o $OUT/hybrid-branching-dataflow-classes.png
$RG render $CPU/ac-4e-09-c9661f --dataflow classes -o $OUT/hybrid-branching-4e-09-dataflow-classes.png
$RG render $CPU/ac-2e-08-866592 --dataflow classes -o $OUT/hybrid-branching-2e-08-dataflow-classes.png
$RG plot $GPU/ac-4e-09-* --over-training -o $OUT/hybrid-dataflow-training.png
$PY scripts/results_table.py $GPU $CPU $GPU2 > $OUT/hybrid-table.md
$PY scripts/results_table.py docs/results/runs/crosscheck-cpu >> $OUT/hybrid-table.md
$PY scripts/results_table.py docs/results/runs/hybrid-medium-cpu > $OUT/hybrid-medium-table.md
$PY scripts/results_table.py $GPU $CPU $SAMPLED $SAMPLED-long > $OUT/hybrid-sampled-table.md
{ $PY scripts/results_table.py $C2; echo; $PY scripts/results_table.py $C10; } > $OUT/cifar-table.md
$RG report $GPU $CPU $GPU2 -o $OUT/hybrid.html
$RG report $C2 $C10 -o $OUT/cifar.html
echo "wrote $OUT/*.png, $OUT/hybrid-table.md, $OUT/hybrid-medium-table.md, $OUT/hybrid-sampled-table.md, $OUT/cifar-table.md and $OUT/*.html"
