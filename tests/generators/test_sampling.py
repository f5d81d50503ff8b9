import json

import torch
from fakescope.generators.gan import load_gan
from fakescope.generators.sampling import generate_range, image_seed, sample_to_folder


def test_same_seed_gives_byte_identical_pngs(tmp_path, tiny_gan_dir):
    gan, meta = load_gan(tiny_gan_dir)
    a = sample_to_folder(gan, tmp_path / "a", count=70, seed=5, batch_size=256)
    b = sample_to_folder(gan, tmp_path / "b", count=70, seed=5, batch_size=9)
    sample_to_folder(gan, tmp_path / "c", count=70, seed=6)
    for name in ("000000.png", "000033.png", "000069.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    assert [r["sha256"] for r in a] == [r["sha256"] for r in b]
    assert (tmp_path / "a" / "manifest.jsonl").read_bytes() == (tmp_path / "b" / "manifest.jsonl").read_bytes()


def test_any_single_image_regenerates_from_its_row(tmp_path, tiny_gan_dir):
    gan, _ = load_gan(tiny_gan_dir)
    sample_to_folder(gan, tmp_path / "all", count=100, seed=2)
    row = json.loads((tmp_path / "all" / "manifest.jsonl").read_text().splitlines()[77])
    assert row["index"] == 77 and row["seed"] == image_seed(2, 77)
    sample_to_folder(gan, tmp_path / "one", count=1, seed=2, start=77)
    assert (tmp_path / "one" / "000077.png").read_bytes() == (tmp_path / "all" / "000077.png").read_bytes()


def test_generated_slices_do_not_depend_on_batching(tiny_gan_dir):
    gan, _ = load_gan(tiny_gan_dir)

    def run(start, stop, batch):
        return torch.cat([x for _, x in generate_range(gan, lambda i: image_seed(0, i), start, stop,
                                                        batch_size=batch)])

    whole = run(0, 150, 256)
    assert whole.shape == (150, 1, 16, 16)
    assert torch.equal(whole, run(0, 150, 1))
    assert torch.equal(whole, torch.cat([run(0, 10, 64), run(10, 131, 32), run(131, 150, 500)]))
