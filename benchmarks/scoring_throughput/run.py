"""Scoring throughput: does reading and decoding keep the detector busy?

Images: a folder of 1,000 256×256 JPEGs scored end to end (``score_paths``: walk, decode in background threads,
batch, score) against the model alone on the same images already decoded in memory. Goal: end to end ≥ 0.8 ×
model-only.

Video: a 640×480 mp4 (mp4v) with a moving face, every frame scored, with and without ``faces=True``, against
decoding alone (sequential grab/retrieve of every frame), plus decoding with face finding and the model alone
on pre-decoded frames.

Each measurement is repeated and the two sides of a ratio alternate, so that a busy machine slows both alike;
ratios are of medians. The inputs are generated in a temporary folder. ``--device auto`` takes CUDA when present.

    python benchmarks/scoring_throughput/run.py                      # full run, writes results.json
    python benchmarks/scoring_throughput/run.py --tiny --no-record   # a check of the script in seconds
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from fakescope.detector.base import DEFAULT_DETECTOR, load_detector
from fakescope.detector.scoring import score_paths, score_video
from fakescope.detector.video import FaceFinder, FrameSampling, VideoFrames
from fakescope.generators.sources import create_source
from PIL import Image

from fakescope.core.imageio import read_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name, sync  # noqa: E402

HERE = Path(__file__).resolve().parent


def make_jpegs(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` crops of the bundled photographs, saved as JPEG (quality 90)."""
    folder.mkdir(parents=True)
    src = create_source("photos")
    paths = []
    for start in range(0, count, 100):
        n = min(100, count - start)
        batch = src.draw(n, size=size, channels=3, split="all", seed=0, start=start).images  # [n, 3, S, S]
        arr = ((batch.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        for i, image in enumerate(arr):
            path = folder / f"{start + i:05d}.jpg"
            Image.fromarray(image).save(path, "JPEG", quality=90)
            paths.append(path)
    return paths


def make_video(path: Path, frames: int, size: tuple[int, int] = (640, 480), fps: float = 25.0) -> Path:
    """A textured background with the astronaut's head drifting across it, mp4v-encoded."""
    from skimage import data as skdata

    w, h = size
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    head = cv2.cvtColor(cv2.resize(skdata.astronaut()[20:260, 150:390], (200, 200)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        frame = background.copy()
        x = int((w - 200) * (0.5 + 0.5 * np.sin(i / 15)))
        y = (h - 200) // 2
        frame[y : y + 200, x : x + 200] = head
        writer.write(frame)
    writer.release()
    return path


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def alternate(runs: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per run for each named function, interleaved: a, b, c, a, b, c, ..."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn, device))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--video-frames", type=int, default=250, help="frames in the 640×480 test video")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="background decoding threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny counts: checks the script in seconds")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write results.json/.md")
    args = parser.parse_args()
    if args.tiny:
        args.images, args.size, args.video_frames, args.repeats = 40, 64, 20, 1
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    det = load_detector(args.detector)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="fakescope-bench-") as tmp:
        tmp = Path(tmp)
        paths = make_jpegs(tmp / "jpegs", args.images, args.size)
        arrays = [read_image(p) for p in paths]  # pre-decoded for the model-only side
        video = make_video(tmp / "clip.mp4", args.video_frames)
        frames = [f.image for f in VideoFrames(video, FrameSampling(every=1))]
        finder = FaceFinder()
        bs = args.batch_size

        def model_only(items: list[np.ndarray]) -> None:
            for s in range(0, len(items), bs):
                det.predict_proba(items[s : s + bs], device=device)

        # warm-up: model on the device, cascades loaded, files in the page cache
        model_only(arrays[:bs])
        score_paths(paths[: 2 * bs], det, batch_size=bs, device=device)
        finder.largest(frames[0])

        img_t = alternate({
            "model_only": lambda: model_only(arrays),
            "end_to_end": lambda: score_paths([tmp / "jpegs"], det, batch_size=bs, device=device,
                                              workers=args.workers),
            "decode_only": lambda: [read_image(p) for p in paths],
        }, args.repeats, device)

        def decode_faces() -> None:
            for f in VideoFrames(video, FrameSampling(every=1)):
                finder.largest(f.image)

        vid_t = alternate({
            "decode_only": lambda: list(VideoFrames(video, FrameSampling(every=1))),
            "decode_and_faces": decode_faces,
            "model_only_frames": lambda: model_only(frames),
            "score_frames": lambda: score_video(video, det, every=1, batch_size=bs, device=device,
                                                workers=args.workers),
            "score_faces": lambda: score_video(video, det, every=1, faces=True, face_finder=finder, batch_size=bs,
                                               device=device, workers=args.workers),
            "score_default_32_frames": lambda: score_video(video, det, batch_size=bs, device=device,
                                                           workers=args.workers),
        }, args.repeats, device)
    load_after = os.getloadavg()

    def rate(n: int, times: list[float]) -> float:
        return round(n / statistics.median(times), 1)

    n_img, n_frames = len(paths), len(frames)
    images = {k: rate(n_img, v) for k, v in img_t.items()}
    video_rates = {k: rate(n_frames, v) for k, v in vid_t.items() if k != "score_default_32_frames"}
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores ({cpu_name()})"
                   + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ", no GPU"),
        "device": str(device),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "opencv": cv2.__version__,
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "detector": args.detector,
        "settings": {"images": n_img, "image_size": args.size, "jpeg_quality": 90, "video": "640x480 mp4v",
                     "video_frames": n_frames, "batch_size": bs, "workers": args.workers, "repeats": args.repeats,
                     "face_backend": finder.backend},
        "images_per_s": images,
        "image_ratio_end_to_end_vs_model_only": round(images["end_to_end"] / images["model_only"], 3),
        "frames_per_s": video_rates,
        "frame_ratios_vs_decode_only": {k: round(v / video_rates["decode_only"], 4)
                                        for k, v in video_rates.items() if k != "decode_only"},
        "frame_ratio_score_frames_vs_model_only": round(video_rates["score_frames"]
                                                        / video_rates["model_only_frames"], 3),
        "seconds_default_32_frames_per_video": round(statistics.median(vid_t["score_default_32_frames"]), 3),
        "seconds": {**{f"images.{k}": [round(t, 3) for t in v] for k, v in img_t.items()},
                    **{f"video.{k}": [round(t, 3) for t in v] for k, v in vid_t.items()}},
    }
    print(json.dumps(result, indent=2))
    if not args.no_record:
        (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
