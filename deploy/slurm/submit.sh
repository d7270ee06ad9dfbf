#!/bin/bash
# Submit a sharded vbench-score run and its merge:
#   VIDEOS=/data/videos OUT=/shared/vbench/run1 [SHARDS=8] [WEIGHTS_DIR=/shared/weights] \
#     [DIMENSIONS=subject_consistency,aesthetic_quality] deploy/slurm/submit.sh [extra sbatch args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${VIDEOS:?}" "${OUT:?}"
SHARDS=${SHARDS:-4}
mkdir -p "$OUT/shards"
export VIDEOS OUT
# logs go to OUT
array=$(sbatch --parsable --export=ALL --chdir="$OUT" --array=0-$((SHARDS - 1)) "$@" "$here/vbench-array.sbatch")
merge=$(sbatch --parsable --export=ALL --chdir="$OUT" --dependency=afterok:"$array" "$here/vbench-merge.sbatch")
echo "array job $array ($SHARDS shards), merge job $merge; results in $OUT"
