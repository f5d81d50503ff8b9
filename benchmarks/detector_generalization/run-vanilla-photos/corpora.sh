#!/bin/sh
# The corpora of the earlier run recorded in this folder: one per generator, 32x32 (gray for digits and faces, RGB
# for photos), the photo domain faked by a throw-away vanilla GAN (the bundled CycleGAN was not yet published).
# Usage: sh benchmarks/detector_generalization/run-vanilla-photos/corpora.sh OUT_DIR   (then run.py --corpus ...)
set -e
OUT=${1:-runs/generalization}
F=${FAKESCOPE:-fakescope}
$F corpus build --real digits --generator vanilla-digits --train 400 --val 100 --test 100 --seed 0 --device cpu \
    --out "$OUT/vanilla-digits"
$F corpus build --real faces --generator vanilla-faces --train 70 --val 15 --test 15 --seed 0 --device cpu \
    --out "$OUT/vanilla-faces"
$F corpus build faces-progan --device cpu --out "$OUT/progan-faces"
# a throw-away RGB vanilla GAN on the photos source (not bundled): a second photo-domain generator
$F gan train vanilla --data photos --count 1280 --size 32 --channels 3 --epochs 40 --set batch_size=64 --seed 0 \
    --device cpu --out "$OUT/gan-vanilla-photos"
$F corpus build --real photos --generator "$OUT/gan-vanilla-photos/checkpoint" --train 400 --val 100 --test 100 \
    --seed 0 --device cpu --out "$OUT/vanilla-photos"
