#!/usr/bin/env bash
# bench_mpi.sh — wall time of the same curation and the same training with
# 2 MPI ranks x 1 thread vs 1 process x 2 threads (docs/mpi.md).
# Usage: bench/bench_mpi.sh [BUILD_DIR] [DATA_DIR]   (defaults: build, ../shared/data)
# Prints each command, its median wall time over REPS runs (default 3) and
# the ratio (1 process x 2 threads) / (2 ranks x 1 thread): > 1 means MPI is faster.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
data="${2:-$root/../shared/data}"
reps="${REPS:-3}"
bin="$build/selfalign"
model="$data/models/llama2c-stories260K/stories260K.bin"
tok="$data/models/llama2c-stories260K/tok512.bin"
[ -x "$bin" ] || { echo "no $bin (build first)"; exit 1; }
[ -f "$model" ] || { echo "no $model"; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun not found"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# inputs: 400 candidate pairs, a short rubric, 64 training records
mkdir -p "$work/prompts"
printf 'Rate the answer to the instruction from 1 (bad) to 5 (perfect), then write Score: N.\nInstruction: {{instruction}}\nAnswer: {{output}}\n' >"$work/prompts/rubric.txt"
for i in $(seq 0 399); do
  printf '{"instruction": "Write a short story about a dog named Rex%d.", "output": "Rex%d was a happy dog. He ran in the park with Lily and found a big red ball.", "source": "augmented"}\n' "$i" "$i"
done >"$work/pairs.jsonl"
for i in $(seq 0 63); do
  printf '{"instruction": "Tell a story about cat number %d.", "output": "Once upon a time there was a cat called Tom%d. He liked to play in the sun with his friend Lily. They ran and jumped all day."}\n' "$i" "$i"
done >"$work/train.jsonl"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_cmd NAME CMD...: runs CMD REPS times in a fresh output dir, prints the median seconds
time_cmd() {
  local name="$1"; shift
  local ts=()
  for r in $(seq 1 "$reps"); do
    rm -rf "$work/out"; mkdir -p "$work/out"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >"$work/$name.log" 2>&1 || { echo "$name failed:" >&2; tail -20 "$work/$name.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    ts+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${ts[@]}" | median
}

cur=(curate --model "$model" --tokenizer "$tok" --prompts "$work/prompts" --in "$work/pairs.jsonl"
     --out "$work/out/out.jsonl" --mode logits --batch 8)
trn=(train --base "$model" --tokenizer "$tok" --data "$work/train.jsonl" --seq-len 128 --template raw
     --batch 16 --grad-accum 2 --steps 30 --lr 1e-3 --quiet --save-every 0 --out "$work/out/run")

echo "machine: $(nproc) CPUs, $(uname -m); $(mpirun --version | head -1); reps $reps (median)"
for what in ${WHAT:-curate train}; do
  if [ "$what" = curate ]; then args=("${cur[@]}"); else args=("${trn[@]}"); fi
  one=("$bin" "${args[@]}" --threads 2)
  two=(mpirun -np 2 --oversubscribe --bind-to none "$bin" "${args[@]}" --threads 1)
  echo "== $what"
  echo "  1 process x 2 threads: ${one[*]}"
  t1=$(time_cmd "$what-1x2" "${one[@]}")
  echo "  2 ranks x 1 thread:    ${two[*]}"
  t2=$(time_cmd "$what-2x1" "${two[@]}")
  printf '  %s: 1x2 %.2f s, 2x1 %.2f s, ratio (1x2 / 2x1) %.2f\n' "$what" "$t1" "$t2" "$(echo "$t1 / $t2" | bc -l)"
done
