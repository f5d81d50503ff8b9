#!/usr/bin/env bash
# One short session on a CUDA machine: the real-world round trained on the GPU, then every GPU path timed.
#
#   OUT=DIR bash benchmarks/gpu_session/run.sh [round] [progan] [bench]   (default: round, bench, in that order)
#   FAST=1 OUT=/tmp/x bash benchmarks/gpu_session/run.sh             (tiny counts on the CPU: checks the script)
#
# round: a re-synthesis bank trained on the GPU (wider decoders, 64 px windows, the PatchGAN loss beside L1),
#        two real-world corpora (the bundled CPU bank's recipe and the same recipe with the GPU bank), and three
#        detector candidates on them with 128 px crops; the checkpoints come back as tar files under OUT.
# progan: a ProGAN trained on the photographs at 128 px, a corpus of its samples against windows of the same
#         photographs, and two candidates on it and the real-world corpus; they come back as OUT/progan.tar.
# bench: the GPU benchmarks (ProGAN and CycleGAN training/sampling, scoring and corpus throughput) with fewer
#        steps than their defaults, each within what is left of BUDGET seconds; their result files come back as
#        OUT/bench-results.tar.
# Every stage has its own time limit and log (OUT/<stage>.log); OUT/log.txt lists each stage's exit status and
# seconds. Photographs: the Debian packages of `make data`, or a copy of their files under .gpu/share (carried).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/gpu-session}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
FS="$PY -m fakescope"
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-420}   # seconds for the whole script; bench stages get what the round leaves
START=$(date +%s)
RUN=runs/gpu-session
mkdir -p "$RUN"

log() { echo "[$(date +%T) +$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/log.txt"; }
stage() {  # stage NAME LIMIT_S CMD...: run with a limit, log its status and duration
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s%N)
  timeout "$limit" "$@" >>"$OUT/$name.log" 2>&1
  local rc=$?
  log "$name rc=$rc $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  return $rc
}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }

if [ "${FAST:-0}" = 1 ]; then
  BANK_COUNT=64; EPOCHS=1; REAL="8, val = 4, test = 4"; FAKE="2, val = 2, test = 2"; CYC="2, val = 2, test = 2"
  DET_EPOCHS=1; BANK_LIMIT=600; CORPUS_LIMIT=300; TRAIN_LIMIT=300
else
  BANK_COUNT=8000; EPOCHS=2; REAL="1600, val = 240, test = 240"; FAKE="160, val = 24, test = 24"
  CYC="320, val = 48, test = 48"; DET_EPOCHS=8; BANK_LIMIT=100; CORPUS_LIMIT=110; TRAIN_LIMIT=170
fi

log "start: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo no GPU)"
$PY -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', platform.processor())" | tee -a "$OUT/log.txt"

round() {
  # the photographs: copy the carried files where the Debian packages put them
  if [ -d .gpu/share ] && [ ! -e /usr/share/backgrounds/mate/nature/Aqua.jpg ]; then cp -rn .gpu/share/. /usr/share/; fi
  declare -A BANK=([deconv4-s2]="deconv4 2" [nearest-s2]="nearest 2" [deconv3-s1]="deconv3 1"
                   [pixelshuffle-s1]="pixelshuffle 1" [deconv4blur-s2]="deconv4-blur 2" [bilinear-s2]="bilinear 2"
                   [deconv4-s3]="deconv4 3" [nearest-s3]="nearest 3")
  for name in "${!BANK[@]}"; do
    read -r up st <<<"${BANK[$name]}"
    lr=1e-3; [ "$name" = nearest-s3 ] && lr=5e-4
    OMP_NUM_THREADS=2 stage "bank-$name" "$BANK_LIMIT" $FS gan train resynth --data debian-photos \
      --count "$BANK_COUNT" --epochs "$EPOCHS" --size 64 --set width=32 --set upsample="$up" --set stages="$st" \
      --set lambda_adv=0.05 --set lr="$lr" --seed 0 --device "$DEVICE" --out "$RUN/bank/resynth-gpu-$name" &
  done
  wait
  # the same recipe twice: with the bundled bank, and with the GPU bank in its place (unpinned: made above)
  $PY - "$RUN" "$REAL" "$FAKE" "$CYC" <<'EOF'
import re, sys
run, real, fake, cyc = sys.argv[1:]
text = open("datasets/realworld.toml").read()
text = re.sub(r"counts = \{ train = 1600, val = 240, test = 240 \}", "counts = { train = %s }" % real, text)
text = re.sub(r"^counts = \{ train = 160, val = 24, test = 24 \}", "counts = { train = %s }" % fake, text, flags=re.M)
text = re.sub(r"counts = \{ train = 320, val = 48, test = 48 \}", "counts = { train = %s }" % cyc, text)
open(f"{run}/realworld-cpubank.toml", "w").write(text.replace('name = "realworld"', 'name = "realworld-cpubank"'))
gpu = re.sub(r'generator = "resynth-([a-z0-9-]+)"\nsha256 = "[0-9a-f]+"',
             lambda m: f'generator = "./{run}/bank/resynth-gpu-{m.group(1)}/checkpoint"', text)
open(f"{run}/realworld-gpubank.toml", "w").write(gpu.replace('name = "realworld"', 'name = "realworld-gpubank"'))
EOF
  for bank in cpubank gpubank; do
    OMP_NUM_THREADS=4 stage "corpus-$bank" "$CORPUS_LIMIT" $FS corpus build "$RUN/realworld-$bank.toml" \
      --out "$RUN/corpus-$bank" --device "$DEVICE" --workers 4 &
  done
  wait
  local common=(--augment resample --set crop=128 --set batch_size=64 --epochs "$DET_EPOCHS" --set patience=3
                --half --seed 0 --device "$DEVICE")
  OMP_NUM_THREADS=4 stage train-mnv2-cpubank "$TRAIN_LIMIT" $FS train timm:mobilenetv2_100 --init imagenet \
    --corpus "$RUN/corpus-cpubank" --set lr=2e-4 "${common[@]}" --out "$RUN/det/mnv2-c128-cpubank" &
  OMP_NUM_THREADS=4 stage train-mnv2-gpubank "$TRAIN_LIMIT" $FS train timm:mobilenetv2_100 --init imagenet \
    --corpus "$RUN/corpus-gpubank" --set lr=2e-4 "${common[@]}" --out "$RUN/det/mnv2-c128-gpubank" &
  OMP_NUM_THREADS=4 stage train-npr-gpubank "$TRAIN_LIMIT" $FS train npr --corpus "$RUN/corpus-gpubank" \
    --set width=32 --set lr=2e-4 "${common[@]}" --out "$RUN/det/npr-c128-gpubank" &
  OMP_NUM_THREADS=4 stage train-mnv2-c224-gpubank "$TRAIN_LIMIT" $FS train timm:mobilenetv2_100 --init imagenet \
    --corpus "$RUN/corpus-gpubank" --augment realworld --set crop=224 --set batch_size=64 --set lr=2e-4 \
    --epochs "$DET_EPOCHS" --set patience=3 --half --seed 0 --device "$DEVICE" --out "$RUN/det/mnv2-c224-gpubank" &
  wait
  tar -cf "$OUT/detectors.tar" -C "$RUN" det 2>>"$OUT/log.txt"
  for ckpt in "$RUN"/bank/*/checkpoint; do  # the generator alone, as bundled models are
    $FS gan export "$ckpt" --out "$RUN/export/$(basename "$(dirname "$ckpt")")" >>"$OUT/export.log" 2>&1
  done
  tar -cf "$OUT/bank.tar" -C "$RUN" export realworld-gpubank.toml realworld-cpubank.toml 2>>"$OUT/log.txt"
  for c in cpubank gpubank; do
    [ -f "$RUN/corpus-$c/corpus.json" ] && cp "$RUN/corpus-$c/corpus.json" "$OUT/corpus-$c.json"
  done
}

progan() {
  # CNNDetection's recipe in miniature: a whole GAN trained on the photographs at 128 px (not a re-synthesis),
  # its samples against 128 px windows of the same photographs, and two candidates trained on that corpus
  # together with the real-world one. Fixed before any of it ran (benchmarks/realworld/README.md, fourth round).
  if [ -d .gpu/share ] && [ ! -e /usr/share/backgrounds/mate/nature/Aqua.jpg ]; then cp -rn .gpu/share/. /usr/share/; fi
  local size=128 images=10000 real=40000 counts="1200, val = 180, test = 180" limit=240 det_limit=110
  local sets=(--set fmap_base=4096 --set fmap_max=256 --set latent_dim=256 --set 'batch_sizes=[128,128,128,64,64,32]'
              --set checkpoint_images=50000 --set metric_images=0)
  if [ "${FAST:-0}" = 1 ]; then
    size=16 images=64 real=500 counts="16, val = 8, test = 8" limit=300 det_limit=300
    sets=(--set fmap_base=64 --set fmap_max=16 --set latent_dim=16 --set 'batch_sizes=[16]' --set metric_images=0)
  fi
  rm -rf "$RUN/progan-photos" "$RUN/corpus-progan" "$RUN/corpus-realworld" "$RUN/corpus-mixed" "$RUN/det-progan" \
         "$RUN/export/progan-photos"  # a fresh round, also on a machine that ran it before
  if ! OMP_NUM_THREADS=8 stage progan-photos "$limit" $FS gan train progan --data debian-photos \
       --real-images "$real" --size "$size" --channels 3 --preset gpu --set images_per_phase="$images" \
       "${sets[@]}" --seed 0 --device "$DEVICE" --out "$RUN/progan-photos"; then
    # stopped before 128 px: its fakes would be up-sampled lower resolutions, not a candidate's corpus
    log "progan stopped early; last metrics: $(tail -n 1 "$RUN/progan-photos/metrics.jsonl" 2>/dev/null)"
    tar -cf "$OUT/progan.tar" -C "$RUN" progan-photos/metrics.jsonl progan-photos/samples 2>>"$OUT/log.txt"
    return 1
  fi
  printf '%s\n' 'name = "photos-progan"' \
    "description = \"native $size px windows of the Debian photographs vs. a ProGAN trained on them\"" \
    'seed = 0' "size = $size" 'channels = 3' 'format = "png"' "counts = { train = $counts }" '' \
    '[[real]]' 'source = "debian-photos"' '' '[[fake]]' "generator = \"./$RUN/progan-photos/checkpoint\"" \
    >"$RUN/photos-progan.toml"
  OMP_NUM_THREADS=8 stage corpus-progan 50 $FS corpus build "$RUN/photos-progan.toml" --out "$RUN/corpus-progan" \
    --device "$DEVICE" --workers 4 &
  # the `realworld` recipe as bundled (the CPU bank), whatever other round ran before in this lease
  local rw=$RUN/corpus-realworld recipe=datasets/realworld.toml
  if [ "${FAST:-0}" = 1 ]; then
    recipe=$RUN/realworld-fast.toml
    sed -e 's/counts = { train = 1600, val = 240, test = 240 }/counts = { train = 8, val = 4, test = 4 }/' \
        -e 's/^counts = { train = 160, val = 24, test = 24 }/counts = { train = 2, val = 2, test = 2 }/' \
        -e 's/counts = { train = 320, val = 48, test = 48 }/counts = { train = 2, val = 2, test = 2 }/' \
        datasets/realworld.toml >"$recipe"
  fi
  OMP_NUM_THREADS=4 stage corpus-realworld 90 $FS corpus build "$recipe" --out "$rw" --device "$DEVICE" --workers 4 &
  # the bundled generators' corpus, so that a candidate can keep what the default catches (rule 1b)
  OMP_NUM_THREADS=4 stage corpus-mixed 90 $FS corpus build mixed --out "$RUN/corpus-mixed" --device "$DEVICE" &
  wait
  local corpora=(--corpus "$RUN/corpus-progan" --corpus "$rw" --corpus "$RUN/corpus-mixed")
  # the default's own architecture and tile (fast enough for rule 1), and MobileNetV2 on 128 px tiles
  OMP_NUM_THREADS=4 stage train-npr-progan "$det_limit" $FS train npr "${corpora[@]}" --augment resample \
    --set width=32 --set crop=32 --set patience=6 --epochs "$((DET_EPOCHS * 2))" --half --seed 0 \
    --device "$DEVICE" --out "$RUN/det-progan/npr-c32-progan" &
  OMP_NUM_THREADS=4 stage train-mnv2-progan "$det_limit" $FS train timm:mobilenetv2_100 --init imagenet \
    "${corpora[@]}" --augment resample --set crop=128 --set batch_size=64 --set lr=2e-4 --epochs "$DET_EPOCHS" \
    --set patience=3 --half --seed 0 --device "$DEVICE" --out "$RUN/det-progan/mnv2-c128-progan" &
  wait
  $FS gan export "$RUN/progan-photos/checkpoint" --out "$RUN/export/progan-photos" >>"$OUT/export.log" 2>&1
  cp "$RUN"/progan-photos/samples/*.png "$RUN/export/progan-photos/" 2>/dev/null
  tar -cf "$OUT/progan.tar" -C "$RUN" det-progan export/progan-photos photos-progan.toml 2>>"$OUT/log.txt"
  [ -f "$RUN/corpus-progan/corpus.json" ] && cp "$RUN/corpus-progan/corpus.json" "$OUT/corpus-progan.json"
}

want() { [[ " ${SKIP:-} " != *" $1 "* ]] && [ "$(left)" -gt 20 ]; }  # not in SKIP, and time left
upto() { local n; n=$(left); echo $(( n < $1 ? n : $1 )); }
bench() {
  local marker; marker=$(mktemp); sleep 1
  want distributed && stage bench-distributed "$(upto 160)" $PY benchmarks/distributed/run.py --skip-cpu \
    --out benchmarks/distributed/results-gpu.json
  want progan && stage bench-progan "$(upto 70)" $PY benchmarks/progan_gpu/run.py \
    --device "$DEVICE" --steps 100 --fade-steps 20 --sample 5000
  want scoring && stage bench-scoring "$(upto 100)" $PY benchmarks/scoring_throughput/run.py \
    --device "$DEVICE" --images 500 --repeats 2
  want cyclegan && stage bench-cyclegan "$(upto 60)" $PY benchmarks/cyclegan_gpu/run.py \
    --device "$DEVICE" --steps 100 --translate 2000
  want corpus && stage bench-corpus "$(upto 60)" $PY benchmarks/corpus_throughput/run.py \
    --device "$DEVICE" --count 2048 --repeat 1 --workers 8
  find benchmarks -newer "$marker" -type f \( -name '*.json*' -o -name '*.md' \) -print0 \
    | tar -cf "$OUT/bench-results.tar" --null -T - 2>>"$OUT/log.txt"
}

stages=("$@"); [ ${#stages[@]} -eq 0 ] && stages=(round bench)
for s in "${stages[@]}"; do "$s"; done
log "done"
# at most eight files come back from a lease: the logs and JSON go as one tar
(cd "$OUT" && tar -cf logs.tar --remove-files ./*.log ./*.json 2>/dev/null; ls -la >>log.txt)
