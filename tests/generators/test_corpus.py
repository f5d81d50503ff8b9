"""Corpus builds: byte-identical across batch sizes, writer threads and shard layouts; resumable after a SIGKILL;
strict about folders; verify, stats and merge."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fakescope.generators.corpus import (
    JOURNAL_FILE,
    CorpusSpec,
    Shard,
    build_corpus,
    merge_corpora,
    plan_units,
    planned_count,
    shard_units,
)
from fakescope.generators.gan import GANS, create_gan, list_gans
from fakescope.generators.kinds.image import ImageToImage
from fakescope.generators.kinds.resynth import SameSizeImage
from fakescope.generators.recipes import parse_recipe

from fakescope.core.corpus import BUILD_DIR, CorpusError, corpus_stats, read_manifest, verify_corpus


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny) -> dict[str, Path]:
    """An untrained, tiny checkpoint folder per registered GAN family (outputs are deterministic all the same)."""
    root = tmp_path_factory.mktemp("ckpts")
    folders = {}
    for name in list_gans():
        gan = create_gan(name, seed=0, **tiny.get(name, {}))
        gan.nets.eval()
        gan.save(root / name)
        folders[name] = root / name
    return folders


def fake_entry(family: str, folder: Path, **extra) -> dict:
    entry = {"generator": str(folder), "name": f"{family}-tiny", **extra}
    if issubclass(GANS.get(family), ImageToImage):  # one forward pass per image on the CPU: a few suffice
        entry.update(input="digits", direction="a2b", counts={"train": 5, "val": 2, "test": 1})
    elif issubclass(GANS.get(family), SameSizeImage):  # re-synthesis of real images at the corpus size
        entry.update(input="digits", counts={"train": 5, "val": 2, "test": 1})
    return entry


def recipe_for(checkpoints, families, counts, **top):
    data = {"name": "t", "seed": 3, "size": 8, "channels": 1, "counts": counts,
            "real": [{"source": "digits"}], "fake": [fake_entry(f, checkpoints[f]) for f in families], **top}
    return parse_recipe(data)


def interrupt_build(recipe, out: Path, monkeypatch, after: int) -> None:
    """Build ``recipe`` into ``out`` until the disk "fills" after ``after`` stored images: an interrupted build."""
    import fakescope.generators.corpus.batches as batches

    real_store, calls = batches.store_image, []

    def crash_after_some(*args):
        calls.append(1)
        if len(calls) > after:
            raise OSError("disk full")
        return real_store(*args)

    monkeypatch.setattr(batches, "store_image", crash_after_some)
    with pytest.raises(OSError, match="disk full"):
        build_corpus(recipe, out, workers=1)
    monkeypatch.setattr(batches, "store_image", real_store)


def photo_folder(root: Path, count: int = 12) -> Path:
    """``count`` flat 8 px photographs in ``root``, for a ``folder:`` source."""
    from fakescope.core.imageio import write_png

    for i in range(count):
        write_png(root / f"{i:02d}.png", np.full((8, 8, 3), 10 * i, np.uint8))
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("family", list_gans())
def test_bytes_do_not_depend_on_batch_workers_threads_or_shards(tmp_path, checkpoints, family):
    # 70 train images cross a 64-image chunk boundary
    recipe = recipe_for(checkpoints, [family], {"train": 70, "val": 9, "test": 5})
    reference = build_corpus(recipe, tmp_path / "a", batch_size=256, workers=2)
    build_corpus(recipe, tmp_path / "b", batch_size=7, workers=1, threads=1)
    shards = [tmp_path / f"s{i}" for i in range(3)]
    for i, folder in enumerate(shards):
        build_corpus(recipe, folder, batch_size=32, workers=3, shard=Shard(i, 3))
    merged = merge_corpora(shards[::-1], tmp_path / "m")

    a = snapshot(tmp_path / "a")
    assert len([p for p in a if p.endswith(".png")]) == planned_count(recipe) >= 84 + 8
    assert snapshot(tmp_path / "b") == a
    assert snapshot(tmp_path / "m") == a  # files, manifest.jsonl and corpus.json alike
    assert merged == reference
    assert verify_corpus(tmp_path / "m")["ok"]
    assert all(verify_corpus(s)["ok"] for s in shards)


def test_several_generators_and_sources_share_one_format(tmp_path, checkpoints):
    data = {"name": "mix", "seed": 1, "size": 12, "channels": 3, "counts": {"train": 6, "val": 2, "test": 2},
            "real": [{"source": "digits"}, {"source": "faces", "counts": {"train": 4, "val": 1, "test": 1}}],
            "fake": [fake_entry(f, checkpoints[f]) for f in list_gans()]}
    record = build_corpus(parse_recipe(data), tmp_path / "c", workers=2)
    rows = [json.loads(line) for line in (tmp_path / "c" / "manifest.jsonl").read_text().splitlines()]
    assert {tuple(r["size"]) for r in rows} == {(12, 12)}
    assert record["counts"]["train"] == {"real": 10, "fake": sum(
        5 if issubclass(GANS.get(f), ImageToImage | SameSizeImage) else 6 for f in list_gans())}
    by_origin = {}
    for r in rows:
        by_origin.setdefault(r["origin"], []).append(r)
        assert Path(r["path"]).name.startswith(r["origin"] + "-")
        assert r["path"].split("/")[1] == ("0_real" if r["label"] == 0 else "1_fake")
    assert set(by_origin) == {"digits", "faces", *(f"{f}-tiny" for f in list_gans())}
    for f in list_gans():
        row = by_origin[f"{f}-tiny"][0]
        assert row["checkpoint_sha256"] == json.loads((checkpoints[f] / "config.json").read_text())["sha256"]
        if issubclass(GANS.get(f), ImageToImage | SameSizeImage):  # a fake made from a real image names it
            assert row["input"] == "digits" and row["source_image"].startswith("digits/")
        else:
            assert isinstance(row["seed"], int)
    stats = corpus_stats(tmp_path / "c")
    assert stats["origins"]["faces"]["train"] == 4 and stats["origins"]["digits"]["total"] == 10
    assert stats["sizes"] == {"12x12": len(rows)} and stats["channels"] == 3
    # identical conversion: every file decodes to 12x12 RGB whatever made it
    import cv2
    shapes = {cv2.imread(str(tmp_path / "c" / r["path"]), cv2.IMREAD_UNCHANGED).shape for r in rows}
    assert shapes == {(12, 12, 3)}


def test_jpeg_and_perturbations_apply_to_real_and_fake_alike(tmp_path, checkpoints):
    counts = {"train": 5, "val": 0, "test": 3}
    plain = recipe_for(checkpoints, ["vanilla"], counts)
    noisy = recipe_for(checkpoints, ["vanilla"], counts, format="jpeg", quality=80,
                       perturbations=[{"kind": "blur", "sigma": 0.7}, {"kind": "noise", "sigma": 4.0}])
    build_corpus(plain, tmp_path / "plain")
    build_corpus(noisy, tmp_path / "j1", batch_size=2)
    build_corpus(noisy, tmp_path / "j2", workers=1)
    assert snapshot(tmp_path / "j1") == snapshot(tmp_path / "j2")
    files = [p for p in (tmp_path / "j1").rglob("*") if p.suffix in (".png", ".jpg")]
    assert {p.suffix for p in files} == {".jpg"} and len(files) == 16
    assert all(p.read_bytes()[:3] == b"\xff\xd8\xff" for p in files)  # real and fake are both JPEG
    record = json.loads((tmp_path / "j1" / "corpus.json").read_text())
    assert record["image"]["format"] == "jpeg" and record["image"]["quality"] == 80
    assert [p["kind"] for p in record["image"]["perturbations"]] == ["blur", "noise"]


def test_resume_after_sigkill_ends_with_the_uninterrupted_corpus(tmp_path, checkpoints):
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(
        'name = "big"\nseed = 5\nsize = 8\nchannels = 1\ncounts = { train = 600, val = 100, test = 100 }\n'
        '[[real]]\nsource = "digits"\n'
        f'[[fake]]\ngenerator = "{checkpoints["vanilla"]}"\ncounts = {{ train = 2000, val = 200, test = 200 }}\n'
    )
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fakescope", "corpus", "build", str(recipe_file), "--out",
                             str(out), "--device", "cpu", "--workers", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / BUILD_DIR / JOURNAL_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_file() and journal.stat().st_size > 20_000:  # some hundred files written
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the build ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / BUILD_DIR).is_dir() and not (out / "manifest.jsonl").exists()

    # make the damage certain: a torn journal line, a partial file, a journaled file cut short
    rows = [json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}")]
    assert 0 < len(rows) < 3200
    with open(journal, "a") as f:
        f.write('{"path": "train/0_real/dig')
    (out / "train" / "1_fake" / ".vanilla-tiny-999999.png.tmp").write_bytes(b"\x89PNG partial")
    victim = out / rows[0]["path"]
    victim.write_bytes(victim.read_bytes()[:10])

    from fakescope.generators.recipes import load_recipe
    recipe = load_recipe(recipe_file)
    with pytest.raises(CorpusError, match="--resume"):
        build_corpus(recipe, out)
    build_corpus(recipe, out, resume=True, batch_size=100)
    build_corpus(recipe, tmp_path / "whole")
    assert snapshot(out) == snapshot(tmp_path / "whole")
    assert not list(out.rglob("*.tmp")) and not (out / BUILD_DIR).exists()
    report = verify_corpus(out)
    assert report["ok"] and report["checked"] == 3200


def test_a_build_never_mixes_corpora(tmp_path, checkpoints):
    recipe = recipe_for(checkpoints, ["vanilla"], {"train": 3, "val": 1, "test": 1})
    other = recipe_for(checkpoints, ["vanilla"], {"train": 4, "val": 1, "test": 1})
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(CorpusError, match="not empty"):
        build_corpus(recipe, tmp_path / "busy")
    with pytest.raises(CorpusError, match="no interrupted build"):
        build_corpus(recipe, tmp_path / "busy", resume=True)
    first = build_corpus(recipe, tmp_path / "c")
    with pytest.raises(CorpusError, match="not empty"):
        build_corpus(recipe, tmp_path / "c")
    assert build_corpus(recipe, tmp_path / "c", resume=True) == first  # complete: nothing to do
    with pytest.raises(CorpusError, match="another recipe"):
        build_corpus(other, tmp_path / "c", resume=True)
    with pytest.raises(CorpusError, match="shard"):
        build_corpus(recipe, tmp_path / "c", resume=True, shard=Shard(0, 2))


def test_interrupted_build_refuses_another_recipe_or_shard(tmp_path, checkpoints, monkeypatch):
    recipe = recipe_for(checkpoints, ["vanilla"], {"train": 130, "val": 0, "test": 0})
    interrupt_build(recipe, tmp_path / "c", monkeypatch, after=40)
    assert (tmp_path / "c" / BUILD_DIR).is_dir()
    with pytest.raises(CorpusError, match="interrupted build"):
        read_manifest(tmp_path / "c")
    other = recipe_for(checkpoints, ["vanilla"], {"train": 131, "val": 0, "test": 0})
    with pytest.raises(CorpusError, match="interrupted build with another recipe"):
        build_corpus(other, tmp_path / "c", resume=True)
    with pytest.raises(CorpusError, match="shard"):
        build_corpus(recipe, tmp_path / "c", resume=True, shard=Shard(1, 2))
    build_corpus(recipe, tmp_path / "c", resume=True)
    build_corpus(recipe, tmp_path / "d")
    assert snapshot(tmp_path / "c") == snapshot(tmp_path / "d")


def test_a_resumed_build_never_writes_or_deletes_through_a_symbolic_link(tmp_path, checkpoints, monkeypatch):
    from fakescope.core.corpus import UnsafeCorpusError

    recipe = recipe_for(checkpoints, ["vanilla"], {"train": 130, "val": 0, "test": 0})
    interrupt_build(recipe, tmp_path / "c", monkeypatch, after=40)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / ".precious.tmp").write_text("keep me")  # what the partial-file cleanup would delete
    shutil.rmtree(tmp_path / "c" / "train" / "1_fake")
    (tmp_path / "c" / "train" / "1_fake").symlink_to(victim)
    with pytest.raises(UnsafeCorpusError, match="1_fake: a symbolic link or not a folder inside the corpus"):
        build_corpus(recipe, tmp_path / "c", resume=True)
    assert sorted(p.name for p in victim.iterdir()) == [".precious.tmp"]
    # a whole split folder moved out and linked back: its label folders are real folders, but outside
    (tmp_path / "c" / "train" / "1_fake").unlink()
    (tmp_path / "c" / "train" / "1_fake").mkdir()
    (tmp_path / "c" / "train").rename(victim / "train")
    (tmp_path / "c" / "train").symlink_to(victim / "train")
    (victim / "train" / "1_fake" / ".precious.tmp").write_text("keep me")
    with pytest.raises(UnsafeCorpusError, match="train: a symbolic link or not a folder inside the corpus"):
        build_corpus(recipe, tmp_path / "c", resume=True)
    assert (victim / "train" / "1_fake" / ".precious.tmp").exists()


def test_resuming_a_finished_corpus_that_lost_a_file_says_so(tmp_path, checkpoints):
    recipe = recipe_for(checkpoints, ["vanilla"], {"train": 20, "val": 0, "test": 0})
    build_corpus(recipe, tmp_path / "c")
    assert build_corpus(recipe, tmp_path / "c", resume=True)["recipe"]  # finished: nothing to do
    next((tmp_path / "c" / "train" / "1_fake").iterdir()).unlink()
    with pytest.raises(CorpusError, match=r"finished but damaged \(1 missing: `fakescope corpus verify`"):
        build_corpus(recipe, tmp_path / "c", resume=True)


def test_shards_cover_every_block_once():
    recipe = parse_recipe({"size": 8, "channels": 1, "counts": {"train": 300, "val": 65, "test": 1},
                           "real": [{"source": "digits"}, {"source": "faces", "counts": {"test": 15}}]})
    units = plan_units(recipe)
    for n in (1, 2, 3, 7, len(units), len(units) + 3):
        parts = [shard_units(units, Shard(i, n)) for i in range(n)]
        assert [u for p in parts for u in p] == units
        assert sum(planned_count(recipe, Shard(i, n)) for i in range(n)) == planned_count(recipe) == 381
    with pytest.raises(CorpusError, match="shard 3/3: expected i/n with 0 <= i < n"):
        Shard.parse("3/3")
    for text in ("a/b", "abc", "2", "-1/0", "1/2/3", ""):  # the value given is named, whatever is wrong with it
        with pytest.raises(CorpusError, match=f"^shard {re.escape(text)}: expected i/n"):
            Shard.parse(text)


def test_merge_refuses_incomplete_repeated_or_foreign_shards(tmp_path, checkpoints):
    recipe = recipe_for(checkpoints, ["vanilla"], {"train": 130, "val": 0, "test": 0})
    other = recipe_for(checkpoints, ["vanilla"], {"train": 131, "val": 0, "test": 0})
    s0, s1, x1 = tmp_path / "s0", tmp_path / "s1", tmp_path / "x1"
    build_corpus(recipe, s0, shard=Shard(0, 2))
    build_corpus(recipe, s1, shard=Shard(1, 2))
    build_corpus(other, x1, shard=Shard(1, 2))
    with pytest.raises(CorpusError, match="missing 1/2"):
        merge_corpora([s0], tmp_path / "m1")
    with pytest.raises(CorpusError, match="repeated 0/2"):
        merge_corpora([s0, s0, s1], tmp_path / "m2")
    with pytest.raises(CorpusError, match="another recipe"):
        merge_corpora([s0, x1], tmp_path / "m3")
    build_corpus(recipe, tmp_path / "whole")
    with pytest.raises(CorpusError, match="not a shard"):
        merge_corpora([tmp_path / "whole"], tmp_path / "m4")
    victim = next((s1 / "train" / "1_fake").iterdir())
    victim.write_bytes(b"changed")
    with pytest.raises(CorpusError, match="missing or changed"):
        merge_corpora([s0, s1], tmp_path / "m5")
    assert not verify_corpus(s1)["ok"]


def test_verify_reports_every_kind_of_damage(tmp_path, checkpoints):
    recipe = recipe_for(checkpoints, ["vanilla"], {"train": 4, "val": 2, "test": 2})
    c = tmp_path / "c"
    build_corpus(recipe, c)
    assert verify_corpus(c) == {"ok": True, "checked": 16, "missing": [], "changed": [], "extra": [],
                                "duplicates": [], "refused": [], "counts": [], "mislabelled": [], "manifest": [],
                                "notes": [], "incomplete": False}
    lines = (c / "manifest.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    (c / rows[0]["path"]).unlink()
    (c / rows[1]["path"]).write_bytes(b"x")
    (c / "val" / "1_fake" / "stray.png").write_bytes(b"y")
    (c / "manifest.jsonl").write_text("\n".join(lines + [lines[-1]]) + "\n")  # one row twice
    report = verify_corpus(c)
    assert not report["ok"]
    assert report["missing"] == [rows[0]["path"]] and report["changed"] == [rows[1]["path"]]
    assert report["extra"] == ["val/1_fake/stray.png"] and report["duplicates"] == [rows[-1]["path"]]
    (c / "manifest.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # a row lost
    assert verify_corpus(c)["counts"] == ["test/fake: manifest 1, corpus.json 2"]


def test_corpus_spec_is_a_one_source_one_generator_recipe(tmp_path, checkpoints):
    spec = CorpusSpec(real="digits", generator=str(checkpoints["vanilla"]), counts={"train": 3, "val": 1, "test": 1},
                      seed=2)
    record = build_corpus(spec, tmp_path / "c")
    assert record["image"] == {"size": 8, "channels": 1, "format": "png", "perturbations": []}
    assert record["counts"] == {"train": {"real": 3, "fake": 3}, "val": {"real": 1, "fake": 1},
                                "test": {"real": 1, "fake": 1}}
    with pytest.raises(ValueError, match="unknown key"):
        build_corpus(CorpusSpec(real="digits", generator=str(checkpoints["vanilla"]), counts={"tain": 3}),
                     tmp_path / "d")


@pytest.mark.parametrize("family", list_gans())
def test_a_build_fed_with_replayed_batches_writes_the_same_bytes(tmp_path, checkpoints, family):
    """``build_corpus(generate=...)``: the public seam a benchmark uses to time the writers alone."""
    from fakescope.generators.corpus import FakeRequest, generate_fakes

    recipe = recipe_for(checkpoints, [family], {"train": 70, "val": 0, "test": 0})
    made: dict[tuple, list] = {}

    def key(request: FakeRequest) -> tuple:
        return request.entry.name, request.split, request.start, request.stop

    def record(request: FakeRequest):  # build a generates, and keeps what it generated
        made[key(request)] = list(generate_fakes(request))
        yield from made[key(request)]

    def replay(request: FakeRequest):  # build b generates nothing: it is fed build a's batches
        yield from made.pop(key(request))

    built = build_corpus(recipe, tmp_path / "a", batch_size=32, generate=record)
    assert made
    assert build_corpus(recipe, tmp_path / "b", batch_size=32, generate=replay) == built
    assert not made and snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_a_reals_only_corpus_of_enlarged_photographs_records_each_enlargement(tmp_path):
    data = {"name": "e", "seed": 2, "size": 24, "channels": 3, "counts": {"train": 4, "val": 2, "test": 2},
            "real": [{"source": "enlarged:photo-patches"}]}
    record = build_corpus(parse_recipe(data), tmp_path / "c", workers=1)
    assert record["counts"]["test"] == {"real": 2, "fake": 0}
    rows = read_manifest(tmp_path / "c")
    assert {r["origin"] for r in rows} == {"photo-patches-enlarged"}
    assert all(r["enlarged"]["to"] == 24 and r["enlarged"]["from"] < 24 for r in rows)
    assert verify_corpus(tmp_path / "c")["ok"]
    build_corpus(parse_recipe(data), tmp_path / "d", batch_size=3, workers=2)  # other batches, same bytes
    assert snapshot(tmp_path / "d") == snapshot(tmp_path / "c")


def test_every_row_regenerates_from_the_recipe_and_a_rewritten_image_is_caught(tmp_path, checkpoints):
    """The manifest's promise: any image (real, noise fake from its seed, image-to-image fake from its input) made
    again from the recipe has the recorded bytes, also past the first 64-image chunk and under perturbations."""
    import cv2
    from fakescope.generators.corpus.regenerate import check_regeneration, regenerate, sample_rows

    from fakescope.core.imageio import sha256_file

    recipe = recipe_for(checkpoints, list_gans(), {"train": 70, "val": 3, "test": 2},
                        perturbations=[{"kind": "jpeg", "quality": 60}])
    build_corpus(recipe, tmp_path / "c", batch_size=16)
    rows = read_manifest(tmp_path / "c")
    picked = [r for r in rows if r["split"] == "train" and r["index"] in (0, 4, 66, 69)]
    assert {r["origin"] for r in picked} == {"digits", *(f"{f}-tiny" for f in list_gans())}
    assert regenerate(tmp_path / "c", recipe, picked) == [r["sha256"] for r in picked]
    assert check_regeneration(tmp_path / "c", recipe, 12) == {"checked": 12, "differ": []}
    assert len({r["label"] for r in sample_rows(rows, 12)}) == 2
    # an image replaced, its manifest row rewritten to match: the hashes agree, the regeneration does not
    victim = next(r for r in rows if r["label"] == 1 and r["origin"] == "vanilla-tiny" and r["index"] == 66)
    path = tmp_path / "c" / victim["path"]
    cv2.imwrite(str(path), 255 - cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
    manifest = (tmp_path / "c" / "manifest.jsonl").read_text().replace(victim["sha256"], sha256_file(path))
    (tmp_path / "c" / "manifest.jsonl").write_text(manifest)
    assert verify_corpus(tmp_path / "c")["manifest"]  # an edited manifest is seen, unless corpus.json is forged too
    record = json.loads((tmp_path / "c" / "corpus.json").read_text())
    record["manifest_sha256"] = sha256_file(tmp_path / "c" / "manifest.jsonl")
    (tmp_path / "c" / "corpus.json").write_text(json.dumps(record))
    assert verify_corpus(tmp_path / "c")["ok"]
    assert regenerate(tmp_path / "c", recipe, [victim]) != [sha256_file(path)]
    other = recipe_for(checkpoints, list_gans(), {"train": 71, "val": 3, "test": 2})
    with pytest.raises(CorpusError, match="another recipe"):
        regenerate(tmp_path / "c", other, picked)


def test_a_change_of_generator_or_of_a_folders_split_is_named_not_reported_as_damage(tmp_path, checkpoints):
    """Regeneration compares bytes only with the generator and the split the corpus was built with; a folder
    source's split scheme is recorded, and an interrupted build from before a change of scheme is not resumed."""
    import json

    from fakescope.generators.corpus.regenerate import regenerate

    photos = photo_folder(tmp_path / "photos")
    folder_recipe = recipe_for(checkpoints, ["vanilla"], {"train": 6, "val": 1, "test": 1},
                               real=[{"source": f"folder:{photos}"}])
    build_corpus(folder_recipe, tmp_path / "c")
    record = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert record["splits"] == {f"folder:{photos}": "path-hash"}
    rows = read_manifest(tmp_path / "c")
    assert regenerate(tmp_path / "c", folder_recipe, rows[:3]) == [r["sha256"] for r in rows[:3]]
    (tmp_path / "c" / "corpus.json").write_text(json.dumps({**record, "splits": {}}))  # as an older build wrote
    with pytest.raises(CorpusError, match="split another way"):
        regenerate(tmp_path / "c", folder_recipe, rows[:3])
    # another checkpoint under the recorded name: named as such, not taken for tampered images
    (tmp_path / "c" / "corpus.json").write_text(json.dumps(
        {**record, "generators": [{**record["generators"][0], "sha256": "0" * 64}]}))
    fake = next(r for r in rows if r["label"] == 1)
    with pytest.raises(CorpusError, match="not the checkpoint the corpus was built with"):
        regenerate(tmp_path / "c", folder_recipe, [fake])


def test_an_interrupted_build_from_before_a_change_of_folder_split_is_not_resumed(tmp_path, checkpoints,
                                                                                    monkeypatch):
    import json

    photos = photo_folder(tmp_path / "photos")
    recipe = recipe_for(checkpoints, ["vanilla"], {"train": 8, "val": 1, "test": 1},
                        real=[{"source": f"folder:{photos}"}])
    interrupt_build(recipe, tmp_path / "c", monkeypatch, after=4)
    state = tmp_path / "c" / BUILD_DIR / "state.json"
    identity = json.loads(state.read_text())
    assert identity["splits"] == {f"folder:{photos}": "path-hash"}
    state.write_text(json.dumps({k: v for k, v in identity.items() if k != "splits"}))  # as an older build wrote
    with pytest.raises(CorpusError, match="another split of a folder: source"):
        build_corpus(recipe, tmp_path / "c", resume=True)
