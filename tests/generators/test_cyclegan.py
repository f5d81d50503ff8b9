"""CycleGAN: shapes at any size, training updates, the image pool, the lr schedule, determinism, checkpoints,
the paintings domain and file translation."""

import json

import numpy as np
import pytest
import torch
from fakescope.generators.families.cyclegan import pad_to_multiple
from fakescope.generators.families.cyclegan_training import ImagePool, lr_factor
from fakescope.generators.gan import create_gan, load_gan
from fakescope.generators.sources import create_source
from fakescope.generators.training import train_gan
from fakescope.generators.translate import translate_images, translate_paths

from fakescope.core.imageio import read_image, write_png

TINY = {"image_size": 24, "ngf": 4, "ndf": 4, "n_blocks": 1}


def blobs(n: int, seed: int, size: int = 24) -> torch.Tensor:
    """Smooth random colour images ``[n, 3, size, size]`` in [-1, 1]."""
    low = torch.rand(n, 3, 6, 6, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False)


@pytest.mark.parametrize("upsample", ["deconv", "resize"])
@pytest.mark.parametrize("hw", [(37, 53), (24, 24), (5, 3), (1, 1)])
def test_translation_keeps_any_input_size(upsample, hw):
    gan = create_gan("cyclegan", upsample=upsample, **TINY)
    x = torch.rand(2, 3, *hw) * 2 - 1
    for direction in ("a2b", "b2a"):
        y = gan.translate(x, direction)
        assert y.shape == x.shape and torch.isfinite(y).all()


def test_padding_reflects_and_crops_back():
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    padded, h, w = pad_to_multiple(x)
    assert padded.shape[-2:] == (8, 8) and (h, w) == (5, 7)
    assert torch.equal(padded[..., :5, :7], x)  # the image itself is untouched: padding is only added
    assert torch.equal(padded[..., 5, :7], x[..., 3, :])  # reflected, not replicated or zero


def test_upsampling_choice_changes_the_generator():
    deconv = create_gan("cyclegan", upsample="deconv", **TINY).nets["G_ab"]
    resize = create_gan("cyclegan", upsample="resize", **TINY).nets["G_ab"]
    kinds = lambda net: {type(m).__name__ for m in net.modules()}  # noqa: E731
    assert "ConvTranspose2d" in kinds(deconv) and "ConvTranspose2d" not in kinds(resize)
    assert "Upsample" in kinds(resize)
    with pytest.raises(ValueError, match="unknown upsample"):
        create_gan("cyclegan", upsample="bicubic", **TINY)


def test_bad_training_size_and_direction_are_refused():
    with pytest.raises(ValueError, match="at least 24"):
        create_gan("cyclegan", **{**TINY, "image_size": 16})
    with pytest.raises(ValueError, match="unknown direction"):
        create_gan("cyclegan", **TINY).translate(torch.zeros(1, 3, 8, 8), "a2a")


def test_init_is_normal_0_002():
    gan = create_gan("cyclegan", image_size=64, ngf=32, ndf=32, n_blocks=2)
    w = torch.cat([m.weight.detach().flatten() for m in gan.nets.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(float(w.mean())) < 1e-3 and abs(float(w.std()) - 0.02) < 1e-3


def test_one_step_changes_both_generators_and_both_discriminators():
    gan = create_gan("cyclegan", batch_size=2, epochs=1, **TINY)
    before = {k: v.clone() for k, v in gan.nets.state_dict().items()}
    trainer = gan.make_trainer({"a": blobs(4, 0), "b": blobs(4, 1)}, device=torch.device("cpu"), seed=0)
    gan.nets.train()
    losses = trainer.step(0)
    assert set(losses) >= {"loss_g", "loss_cycle", "loss_idt", "loss_d"}
    for net in ("G_ab", "G_ba", "D_a", "D_b"):
        changed = [k for k, v in gan.nets[net].state_dict().items() if not torch.equal(v, before[f"{net}.{k}"])]
        assert changed, f"{net} did not change"


def test_cycle_error_falls_on_a_learnable_pair():
    """Domain B is domain A's colour negative: a generator pair can learn it exactly."""
    a, b = blobs(16, 0), -blobs(16, 1)
    gan = create_gan("cyclegan", batch_size=4, epochs=10, lr=2e-3, pool_size=0, seed=0,
                     **{**TINY, "ngf": 8, "ndf": 8})

    def cycle_error() -> float:
        rec_a = gan.translate(gan.translate(a, "a2b"), "b2a")
        rec_b = gan.translate(gan.translate(b, "b2a"), "a2b")
        return float((rec_a - a).abs().mean() + (rec_b - b).abs().mean())

    start = cycle_error()
    trainer = gan.make_trainer({"a": a, "b": b}, device=torch.device("cpu"), seed=0)
    for step in range(30):
        gan.nets.train()
        trainer.step(step)
    assert cycle_error() < 0.88 * start


def test_image_pool_semantics():
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(ImagePool(0).query(torch.ones(3, 1, 2, 2), gen), torch.ones(3, 1, 2, 2))
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first, gen), first)  # filling: images are stored and returned as they are
    assert len(pool.images) == 4
    from_pool, n = 0, 2000
    for i in range(n):
        new = torch.full((1, 1, 1, 1), 100.0 + i)
        stored = {float(x) for x in pool.images}
        out = float(pool.query(new, gen))
        if out == 100.0 + i:
            assert {float(x) for x in pool.images} == stored  # returned new: the pool is unchanged
        else:
            from_pool += 1
            assert out in stored  # an image stored earlier, swapped for the new one
            assert {float(x) for x in pool.images} == (stored - {out}) | {100.0 + i}
        assert len(pool.images) == 4
    assert abs(from_pool / n - 0.5) < 0.05


@pytest.mark.parametrize(("step", "factor"), [(0, 1.0), (49, 1.0), (50, 1.0), (75, 0.5), (99, 0.02), (100, 0.0)])
def test_lr_schedule_constant_then_linear_to_zero(step, factor):
    assert lr_factor(step, 100) == pytest.approx(factor)


def test_trainer_applies_the_schedule_to_both_optimizers():
    gan = create_gan("cyclegan", batch_size=1, epochs=4, lr=1e-3, **TINY)
    trainer = gan.make_trainer({"a": blobs(2, 0), "b": blobs(3, 1)}, device=torch.device("cpu"), seed=0)
    assert trainer.total_steps == 12  # 4 epochs of max(2, 3) images
    for step, lr in ((0, 1e-3), (6, 1e-3), (9, 5e-4), (12, 0.0)):
        trainer.set_lr(step)
        for opt in trainer.optimizers().values():
            assert opt.param_groups[0]["lr"] == pytest.approx(lr)


def test_translation_is_deterministic_and_independent_of_the_batch():
    gan = create_gan("cyclegan", **TINY)
    x = torch.rand(5, 3, 29, 31) * 2 - 1
    whole = translate_images(gan, x, "a2b")
    assert torch.equal(whole, translate_images(gan, x, "a2b"))
    for i in range(5):
        assert torch.equal(whole[i : i + 1], translate_images(gan, x[i : i + 1], "a2b"))
    assert torch.equal(whole[2:4], translate_images(gan, x[2:4], "a2b"))


@pytest.mark.parametrize("half", [False, True])
def test_checkpoint_round_trip(tmp_path, half):
    gan = create_gan("cyclegan", upsample="resize", seed=3, **TINY)
    digest = gan.save(tmp_path / "ck", half=half, meta={"training": {"domain_a": "x", "domain_b": "y"}})
    loaded, meta = load_gan(tmp_path / "ck")
    assert meta["sha256"] == digest and meta["family"] == "cyclegan" and loaded.config == gan.config
    assert meta["config"]["upsample"] == "resize"  # the forensic fingerprint is recorded
    from safetensors.torch import load_file

    assert {k.split(".")[0] for k in load_file(tmp_path / "ck" / "model.safetensors")} == {"G_ab", "G_ba"}
    x = torch.rand(2, 3, 21, 26) * 2 - 1
    tol = 2e-2 if half else 0.0
    for d in ("a2b", "b2a"):
        assert (loaded.translate(x, d) - gan.translate(x, d)).abs().max() <= tol


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    data = {"a": blobs(3, 0), "b": blobs(3, 1)}
    cfg = {**TINY, "batch_size": 1, "epochs": 2, "pool_size": 2}
    full = create_gan("cyclegan", seed=1, **cfg)
    train_gan(full, data, tmp_path / "full", seed=7)
    part = create_gan("cyclegan", seed=1, **cfg)
    train_gan(part, data, tmp_path / "part", seed=7, stop_after=4)  # killed after step 4; state saved at 3
    resumed = create_gan("cyclegan", seed=99, **cfg)
    train_gan(resumed, data, tmp_path / "part", seed=7, resume=True)
    for k, v in full.nets.state_dict().items():
        assert torch.equal(v, resumed.nets.state_dict()[k]), k
    rows = [json.loads(line) for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6] and "cycle_l1_a" in rows[0]
    grid = read_image(tmp_path / "part" / "samples" / "step-0000006.png")
    assert grid.shape[0] == 2 + 6 * (24 + 2)  # rows A, A→B, A→B→A, B, B→A, B→A→B


@pytest.mark.parametrize("flip", [True, False])
def test_training_batches_are_flipped_at_random_when_asked(flip):
    data = {"a": blobs(6, 0), "b": blobs(6, 1)}
    gan = create_gan("cyclegan", flip=flip, batch_size=6, **TINY)
    trainer = gan.make_trainer(data, device=torch.device("cpu"), seed=0)
    flipped = 0
    for step in range(10):
        for image in trainer.domain_batch(step, "a"):
            as_is = (image == data["a"]).flatten(1).all(1).any()
            mirrored = (image.flip(-1) == data["a"]).flatten(1).all(1).any()
            assert as_is or mirrored
            flipped += int(mirrored and not as_is)
    assert (20 <= flipped <= 40) if flip else flipped == 0


def test_larger_training_images_are_cropped_to_random_windows():
    data = {"a": blobs(3, 0, size=40), "b": blobs(3, 1, size=40)}
    gan = create_gan("cyclegan", flip=False, load_size=40, batch_size=3, **TINY)
    trainer = gan.make_trainer(data, device=torch.device("cpu"), seed=0)
    offsets = set()
    for step in range(6):
        for image in trainer.domain_batch(step, "a"):
            assert image.shape == (3, 24, 24)
            found = [(i, y, x) for i in range(3) for y in range(17) for x in range(17)
                     if torch.equal(data["a"][i, :, y : y + 24, x : x + 24], image)]
            assert found
            offsets.add(found[0][1:])
    assert len(offsets) > 5
    with pytest.raises(ValueError, match="crops 24 px"):
        gan.make_trainer({"a": blobs(2, 0, size=20), "b": blobs(2, 1, size=20)}, device=torch.device("cpu"), seed=0)


def test_channel_shuffle_permutes_the_channels_of_training_images():
    data = {"a": blobs(4, 0), "b": blobs(4, 1)}
    gan = create_gan("cyclegan", flip=False, channel_shuffle=True, batch_size=4, **TINY)
    trainer = gan.make_trainer(data, device=torch.device("cpu"), seed=0)
    orders = set()
    for step in range(10):
        for image in trainer.domain_batch(step, "a"):
            source = next(x for x in data["a"] if any(torch.equal(image[0], ch) for ch in x))
            order = tuple(next(j for j in range(3) if torch.equal(image[i], source[j])) for i in range(3))
            assert sorted(order) == [0, 1, 2]
            orders.add(order)
    assert len(orders) >= 4  # several of the six permutations, the identity among them or not


def test_training_needs_two_domains():
    gan = create_gan("cyclegan", **TINY)
    with pytest.raises(ValueError, match="two domains"):
        gan.make_trainer(blobs(2, 0), device=torch.device("cpu"), seed=0)


def test_paintings_share_the_photo_split_and_are_filtered():
    photos, paintings = create_source("photos"), create_source("paintings")
    assert paintings.item_ids() == photos.item_ids()
    for split in ("train", "val", "test"):
        assert paintings.indices(split) == photos.indices(split)
    test_ids = {photos.item_ids()[i] for i in photos.indices("test")}
    drawn = paintings.draw(3, size=32, channels=3, split="test", seed=0)
    assert drawn.images.shape == (3, 3, 32, 32)
    assert all(m["item"] in test_ids and m["derived_from"] == "photos" for m in drawn.meta)
    index = photos.indices("test")[0]
    photo, painting = photos.load_item(index), paintings.load_item(index)
    assert photo.shape == painting.shape and np.abs(photo.astype(int) - painting.astype(int)).mean() > 5


def test_translate_paths_keeps_sizes_and_names_sources(tmp_path):
    gan = create_gan("cyclegan", **TINY)
    src = tmp_path / "in"
    write_png(src / "odd.png", np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8))
    write_png(src / "sub" / "gray.png", np.random.default_rng(1).integers(0, 256, (20, 11, 1), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"not an image")
    rows = translate_paths(gan, [src, tmp_path / "missing.jpg"], tmp_path / "out", direction="b2a",
                           checkpoint={"name": "tiny", "sha256": "abc"})
    by_source = {r["source_image"]: r for r in rows}
    assert by_source[str(src / "odd.png")]["size"] == [37, 53]
    assert read_image(tmp_path / "out" / by_source[str(src / "sub" / "gray.png")]["path"]).shape == (20, 11, 3)
    assert by_source[str(src / "broken.png")]["error"] and by_source[str(src / "broken.png")]["path"] is None
    assert by_source[str(tmp_path / "missing.jpg")]["error"] == "no such file"
    manifest = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert manifest == rows and all(r["direction"] == "b2a" and r["checkpoint_sha256"] == "abc" for r in rows)


def test_noise_families_cannot_translate():
    with pytest.raises(ValueError, match="not an image-to-image family"):
        translate_images(create_gan("vanilla", image_size=8), torch.zeros(1, 1, 8, 8), "a2b")


def test_bundled_photo2painting_translates_held_out_photos_visibly():
    gan, meta = load_gan("cyclegan-photo2painting")
    assert meta["family"] == "cyclegan" and meta["training"]["domain_a"] == "photos"
    assert "--domain-b paintings" in meta["training"]["command"]
    photo = create_source("photos").draw(2, size=52, channels=3, split="test", seed=0).images
    for direction in ("a2b", "b2a"):
        out = translate_images(gan, photo, direction)
        assert out.shape == photo.shape
        assert float((out - photo).abs().mean()) * 127.5 > 10  # a visible change, not the identity

