"""The replay bank of :mod:`fakescope.detector.adapt`: stored features of real images, shipped in the package.

An adapted head must learn the new generator *against* real images, and must not start flagging the real images
the base detector was trained to pass. Users rarely have real images at hand and the base's training photographs
are not in the package (they come from ``make data``), so their features are: the bank holds, for one frozen
feature extractor (a ``probe`` detector whose backbone ships in the bank), the tile features of

- native 256 px windows of the Debian photographs (the base's training reals; validation and training splits),
  grouped by the photograph they come from, so cross-validation never splits one photograph across folds;
- the 32 px real images of the bundled sources (digits, faces, photos), as in the ``mixed`` corpus,

and the bundled default detector's calibrated score of each of those images (the replayed base scores used to
choose an adapted detector's threshold). Everything is plain arrays in safetensors; ``bank.json`` says what was
drawn and the exact command that made it::

    python -m fakescope.detector.bank --out detector/banks/lite0 --device cpu
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fakescope.core.checkpoint import CheckpointError, load_tensor_file
from fakescope.core.imageio import sha256_file, to_uint8, write_bytes_atomic

from .base import Detector, create_detector, load_detector

BANK_DIR = Path(__file__).resolve().parent / "banks"
DEFAULT_BANK = "lite0"
BANK_FILE, BANK_META = "bank.safetensors", "bank.json"
HEAD_SPEC = {"arch": "efficientnet_lite0", "crop": 224}  # the feature extractor the shipped bank is made with
PHOTO_WINDOWS = {"val": 240, "train": 240}  # Debian photograph windows per split
SMALL_REALS = {"digits": 80, "faces": 60, "photos": 80}  # 32 px reals per bundled source (training split)


@dataclass
class Bank:
    meta: dict
    tensors: dict[str, torch.Tensor]

    @property
    def images(self) -> int:
        return int(self.tensors["groups"].shape[0])

    @property
    def features(self) -> np.ndarray:  # [T, F] tile features
        return self.tensors["features"].double().numpy()

    @property
    def owner(self) -> np.ndarray:  # [T] the image of each tile
        return self.tensors["owner"].numpy().astype(np.int64)

    @property
    def groups(self) -> np.ndarray:  # [N] the source photograph of each image (one fold per group)
        return self.tensors["groups"].numpy().astype(np.int64)

    def head_detector(self) -> Detector:
        """A fresh ``probe`` detector with the bank's backbone (its head still to fit)."""
        spec = self.meta["head"]
        det = create_detector("probe:" + spec["arch"], **{k: v for k, v in spec.items() if k != "arch"})
        try:
            det.load_tensors({**{k[len("head."):]: v for k, v in self.tensors.items() if k.startswith("head.")},
                              **det.head.tensors()})
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"replay bank: its backbone does not load ({exc})") from None
        return det

    def base_scores(self, base: Detector) -> np.ndarray | None:
        """The stored scores of ``base`` on the bank's images, when the bank was scored by that very checkpoint."""
        if base.info.get("sha256") and base.info.get("sha256") == self.meta.get("base_sha256"):
            return self.tensors["base_scores"].double().numpy()
        return None

    def describe(self) -> dict:
        return {k: self.meta[k] for k in ("name", "sha256", "base", "images", "tiles") if k in self.meta}


def load_bank(name: str = DEFAULT_BANK) -> Bank:
    """The shipped bank ``name`` (its file's sha256 checked against bank.json)."""
    folder = BANK_DIR / name
    if not (folder / BANK_META).is_file() or not (folder / BANK_FILE).is_file():
        raise CheckpointError(f"replay bank {name!r} is not installed ({folder})")
    meta = json.loads((folder / BANK_META).read_text())
    if sha256_file(folder / BANK_FILE) != meta.get("sha256"):
        raise CheckpointError(f"replay bank {name!r}: {BANK_FILE} does not match the sha256 in {BANK_META}")
    tensors = load_tensor_file(folder / BANK_FILE)
    return Bank(meta, tensors)


def _photo_windows(split: str, count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    from fakescope.generators.sources import create_source

    drawn = create_source("debian-photos").draw(count, size=256, channels=3, split=split, seed=seed)
    return [to_uint8(t) for t in drawn.images], [f"debian-photos/{m['item']}" for m in drawn.meta]


def _small_reals(source: str, count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    from fakescope.generators.sources import create_source

    drawn = create_source(source).draw(count, size=32, channels=3, split="train", seed=seed)
    return [to_uint8(t) for t in drawn.images], [f"{source}/{i}" for i in range(len(drawn.images))]


def build_bank(out: Path, *, device: str = "cpu", seed: int = 0, command: str = "") -> dict:
    """Draw the bank's real images, featurise them with the ImageNet-initialised head backbone, score them with the
    bundled default detector, and write ``out``."""
    from safetensors.torch import save as save_safetensors

    head = create_detector("probe:" + HEAD_SPEC["arch"], crop=HEAD_SPEC["crop"])
    head.init_from("imagenet")
    images, names = [], []
    for split, count in PHOTO_WINDOWS.items():
        got, ids = _photo_windows(split, count, seed)
        images += got
        names += ids
    for source, count in SMALL_REALS.items():
        got, ids = _small_reals(source, count, seed)
        images += got
        names += ids
    groups = {n: i for i, n in enumerate(dict.fromkeys(names))}  # one group per source photograph
    tiles, owner = head.tiled(images)
    features = head.featurize(tiles, device)
    base = load_detector(None)
    base_scores = base.predict_proba(images, device=device)
    backbone = {f"head.{k}": v.half() for k, v in head.tensors().items() if k.startswith("backbone.")}
    tensors = {"features": torch.from_numpy(features).half(), "owner": torch.tensor(owner, dtype=torch.int32),
               "groups": torch.tensor([groups[n] for n in names], dtype=torch.int32),
               "base_scores": torch.from_numpy(base_scores.astype(np.float32)), **backbone}
    out.mkdir(parents=True, exist_ok=True)
    data = save_safetensors({k: v.contiguous() for k, v in tensors.items()})
    write_bytes_atomic(out / BANK_FILE, data)
    meta = {"name": out.name, "head": HEAD_SPEC, "images": len(images), "tiles": len(tiles),
            "sources": {**{f"debian-photos:{s}": c for s, c in PHOTO_WINDOWS.items()}, **SMALL_REALS},
            "base": base.name, "base_sha256": base.info.get("sha256"), "seed": seed, "command": command,
            "sha256": sha256_file(out / BANK_FILE)}
    write_bytes_atomic(out / BANK_META, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the replay bank of fakescope adapt (needs make data and "
                                                 "make imagenet).")
    parser.add_argument("--out", type=Path, default=BANK_DIR / DEFAULT_BANK)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python -m fakescope.detector.bank " + " ".join(sys.argv[1:] if argv is None else argv)
    meta = build_bank(args.out, device=args.device, seed=args.seed, command=command.strip())
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
