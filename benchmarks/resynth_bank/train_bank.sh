#!/usr/bin/env bash
# Trains the bundled bank of re-synthesis models (GAN family `resynth`) and exports them into the package.
# Each: 4,000 windows of 32 px from the train photographs of `debian-photos` (`make data`), L1, 2 epochs
# (500 steps of 16 windows), seed 0, on one CPU thread (OMP_NUM_THREADS=1: faster than two for nets this small). Usage: bash benchmarks/resynth_bank/train_bank.sh [NAME...]
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
cd "$(dirname "$0")/../.."
FAKESCOPE=${FAKESCOPE:-.venv/bin/fakescope}
declare -A BANK=(
  [resynth-deconv3-s1]="--set upsample=deconv3 --set stages=1"
  [resynth-deconv4-s2]="--set upsample=deconv4 --set stages=2"
  [resynth-deconv4-s3]="--set upsample=deconv4 --set stages=3"
  [resynth-deconv4blur-s2]="--set upsample=deconv4-blur --set stages=2"
  [resynth-nearest-s2]="--set upsample=nearest --set stages=2"
  [resynth-nearest-s3]="--set upsample=nearest --set stages=3 --set lr=5e-4"  # at 1e-3 it diverged (L1 0.82)
  [resynth-bilinear-s2]="--set upsample=bilinear --set stages=2"
  [resynth-pixelshuffle-s1]="--set upsample=pixelshuffle --set stages=1"
)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(resynth-deconv4-s2 resynth-nearest-s2 resynth-deconv3-s1 resynth-pixelshuffle-s1
                                 resynth-deconv4blur-s2 resynth-bilinear-s2 resynth-deconv4-s3 resynth-nearest-s3)
for name in "${names[@]}"; do
  start=$(date +%s)
  # shellcheck disable=SC2086
  $FAKESCOPE gan train resynth --data debian-photos --count 4000 --epochs 2 --size 32 ${BANK[$name]} \
      --seed 0 --device cpu --out "runs/resynth/$name"
  $FAKESCOPE gan export "runs/resynth/$name/checkpoint" --out "generators/weights/$name"
  echo "$name: $(( $(date +%s) - start )) s"
done
