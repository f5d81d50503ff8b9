#!/usr/bin/env bash
# From folders of images to a benchmark report, as a user holding images made elsewhere would go:
#   1. fakes: samples of three bundled noise-to-image generators (`fakescope gan list`), one folder each;
#   2. reals: real photographs from scikit-image, as files (the 100 LFW faces of its `lfw_subset`, 25x25 gray, and
#      its colour and gray photographs at their own sizes), one folder each;
#   3. `fakescope corpus import` makes them a labeled corpus (PNG for both classes, so no detector wins on format);
#   4. `fakescope bench --grid quick --report` benchmarks every bundled detector on it and writes the HTML report.
# Usage: benchmarks/robustness/import_demo.sh [WORKDIR]   (default /tmp/fakescope-import-demo; replaced)
# Timed steps go to stderr; the report is WORKDIR/report/index.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${1:-/tmp/fakescope-import-demo}
FS=${FAKESCOPE:-.venv/bin/fakescope}
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
rm -rf "$WORK"
mkdir -p "$WORK/folders"
t() { local s=$SECONDS; "$@"; echo "[$((SECONDS - s)) s] ${*:1:3}" >&2; }

for gan in vanilla-faces progan-faces vanilla-digits; do
    t "$FS" gan sample "$gan" --out "$WORK/folders/$gan" --count 64 --seed 1 --device cpu
done

t "$PY" - "$WORK/folders" <<'PY'
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

root = Path(sys.argv[1])
(root / "lfw").mkdir()
for i, face in enumerate(data.lfw_subset()[:100]):  # float in [0, 1], 25x25
    Image.fromarray((face * 255).round().astype(np.uint8)).save(root / "lfw" / f"lfw{i:03d}.png")
(root / "photos").mkdir()
for name in ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "camera", "coins", "moon", "clock",
             "brick", "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "retina"):
    load = getattr(data, name, None) or (lambda: data.stereo_motorcycle()[0])
    Image.fromarray(np.asarray(load())[..., :3] if np.ndim(load()) == 3 else load()).save(
        root / "photos" / f"{name}.png")
PY

t "$FS" corpus import --real lfw="$WORK/folders/lfw" --real photos="$WORK/folders/photos" \
    --fake vanilla-faces="$WORK/folders/vanilla-faces" --fake progan-faces="$WORK/folders/progan-faces" \
    --fake vanilla-digits="$WORK/folders/vanilla-digits" --match-format png --out "$WORK/corpus"

t "$FS" bench --corpus "$WORK/corpus" --grid quick --seed 0 --device cpu --report "$WORK/report" \
    --format json --output "$WORK/results.json"
echo "report: $WORK/report/index.html" >&2
