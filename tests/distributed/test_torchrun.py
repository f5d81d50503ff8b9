"""The commands under torchrun with 2 processes on the CPU (gloo): the same results as one process.

Each test starts ``python -m torch.distributed.run --standalone --nproc-per-node 2 -m fakescope ...`` as a
subprocess, with small sizes. Measured here (2 cores): corpus manifests and score outputs byte-identical;
detector and GAN weights within 5e-3 of one process (measured:
1.5e-3 npr on tiny_corpus, 4.8e-4 vanilla GAN) (Adam's
first steps are lr·sign(g), so parameters whose gradient is ~0 may move by up to 2·lr on either side; losses
agree to 1e-4).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fakescope.core import distributed

#: Max abs difference allowed between the weights of a 2-process and a 1-process training (Adam, lr 2e-4).
WEIGHT_TOLERANCE = 5e-3
LOSS_TOLERANCE = 1e-4


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT", "LOCAL_WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def fakescope(*args, procs: int = 1, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``fakescope ARGS`` as one process, or under torchrun with ``procs`` processes."""
    if procs == 1:
        cmd = [sys.executable, "-m", "fakescope", *map(str, args)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
               "-m", "fakescope", *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)
    if check:  # a rank's own last words (a C++ "terminate called ... what(): ...") come before torchrun's summary
        causes = [ln for ln in result.stderr.splitlines() if any(w in ln for w in ("terminate", "what()", "Error"))]
        assert result.returncode == 0, "\n".join([*causes[-20:], result.stderr[-3000:]])
    return result


def _max_diff(a: Path, b: Path) -> float:
    x, y = load_file(str(a)), load_file(str(b))
    assert sorted(x) == sorted(y)
    return max((x[k].double() - y[k].double()).abs().max().item() for k in x if not k.startswith("calibration"))


def test_ranks_from_the_environment_and_sharding():
    assert distributed.from_env({}) == distributed.Ranks()
    r = distributed.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (r.rank, r.size, r.local_rank, r.is_main, r.active) == (1, 2, 1, False, True)
    with pytest.raises(ValueError):
        distributed.from_env({"RANK": "2", "WORLD_SIZE": "2"})
    items = list(range(10))
    parts = [distributed.shard(items, distributed.Ranks(i, 3)) for i in range(3)]
    assert sum(parts, []) == items
    parts = [distributed.shard(items, distributed.Ranks(i, 2), block=4) for i in range(2)]
    assert parts == [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]
    assert distributed.all_gather("x") == ["x"] and distributed.broadcast(3) == 3  # one process: no group


def test_global_batchnorm_keeps_the_state_dict():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.BatchNorm1d(2))
    keys = list(net.state_dict())
    distributed.sync_batchnorm(net)
    assert isinstance(net[1], distributed.GlobalBatchNorm) and list(net.state_dict()) == keys
    x = torch.randn(5, 4, 6, 6)
    plain = torch.nn.BatchNorm2d(4)
    assert torch.allclose(net[1](x), plain(x), atol=1e-6)  # one process: plain BatchNorm
    distributed.unsync_batchnorm(net)
    assert type(net[1]) is torch.nn.BatchNorm2d and type(net[2]) is torch.nn.BatchNorm1d
    assert list(net.state_dict()) == keys


def test_corpus_build_bytes_equal_one_process_and_resume(tmp_path):
    args = ["corpus", "build", "--train", "96", "--val", "32", "--test", "32", "--device", "cpu"]
    fakescope(*args, "--out", tmp_path / "one")
    fakescope(*args, "--out", tmp_path / "two", procs=2)
    for name in ("manifest.jsonl", "corpus.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert not (tmp_path / "two" / ".ranks").exists()
    # a killed build: rank 1's shard half done (its journal), rank 0's not started; --resume finishes it
    from fakescope.generators.corpus import CorpusSpec, build_corpus, generate_fakes
    from fakescope.generators.corpus.plan import Shard
    from fakescope.generators.corpus.ranks import rank_folder

    class Killed(Exception):
        pass

    def dies_after_one_batch(request):  # the first batch is written and journaled, then the process "dies"
        batches = generate_fakes(request)
        yield next(batches)
        raise Killed

    spec = CorpusSpec(real="digits", generator="vanilla-digits", counts={"train": 96, "val": 32, "test": 32})
    scratch = rank_folder(tmp_path / "killed", 1, 2)
    with pytest.raises(Killed):
        build_corpus(spec, scratch, shard=Shard(1, 2), device="cpu", batch_size=16, generate=dies_after_one_batch)
    assert not (scratch / "manifest.jsonl").exists() and any(scratch.rglob("*.png"))  # half done
    refused = fakescope(*args, "--out", tmp_path / "killed", procs=2, check=False)
    assert refused.returncode != 0 and "--resume" in refused.stderr
    fakescope(*args, "--out", tmp_path / "killed", "--resume", procs=2)
    assert (tmp_path / "killed" / "manifest.jsonl").read_bytes() == (tmp_path / "one" / "manifest.jsonl").read_bytes()

    # killed during rank 0's merge: both shards complete, some of shard 0's files already moved into the corpus
    from fakescope.core.corpus import read_manifest

    merging = tmp_path / "merging"
    for r in range(2):
        build_corpus(spec, rank_folder(merging, r, 2), shard=Shard(r, 2), device="cpu")
    for row in read_manifest(rank_folder(merging, 0, 2))[:10]:
        (merging / row["path"]).parent.mkdir(parents=True, exist_ok=True)
        (rank_folder(merging, 0, 2) / row["path"]).replace(merging / row["path"])
    fakescope(*args, "--out", merging, "--resume", procs=2)
    for name in ("manifest.jsonl", "corpus.json"):
        assert (merging / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert not (merging / ".ranks").exists()


def test_score_output_equal_one_process(tmp_path, tiny_corpus):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, p in enumerate(sorted((tiny_corpus / "test").rglob("*.png"))[:40]):
        (inputs / f"{i:03d}.png").write_bytes(p.read_bytes())
    (inputs / "020-bad.png").write_bytes(b"not an image")
    args = ["score", inputs, "--format", "json", "--device", "cpu", "--batch-size", "8"]
    one = fakescope(*args, "--output", tmp_path / "one.json", check=False)
    two = fakescope(*args, "--output", tmp_path / "two.json", procs=2, check=False)
    assert one.returncode == 1 and two.returncode != 0  # the bad input: exit status 1 (torchrun passes it on)
    a, b = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert [r["path"] for r in a] == [r["path"] for r in b] and len(a) == 41
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()  # the same bytes


def test_detector_training_equal_one_process(tmp_path, tiny_corpus):
    args = ["train", "npr", "--corpus", tiny_corpus, "--epochs", "2", "--set", "width=8", "--set", "batch_size=32",
            "--device", "cpu"]
    fakescope(*args, "--out", tmp_path / "one")
    fakescope(*args, "--out", tmp_path / "two", procs=2)
    assert _max_diff(tmp_path / "one" / "model.safetensors", tmp_path / "two" / "model.safetensors") \
        < WEIGHT_TOLERANCE
    h1, h2 = (json.loads((tmp_path / d / "config.json").read_text())["training"] for d in ("one", "two"))
    assert h2["processes"] == 2 and h1["steps"] == h2["steps"]
    for e1, e2 in zip(h1["history"], h2["history"], strict=True):
        assert abs(e1["loss"] - e2["loss"]) < LOSS_TOLERANCE
    # a run stopped after its first epoch (its state kept in --out, as a killed one leaves it), resumed under
    # torchrun with 2 processes: it ends as the uninterrupted one-process run
    from fakescope.detector.base import create_detector
    from fakescope.detector.training import train_detector

    train_detector(create_detector("npr", width=8, batch_size=32, epochs=1), [tiny_corpus],
                   state=tmp_path / "three" / "train_state.pt")
    fakescope(*args, "--out", tmp_path / "three", "--resume", procs=2)
    assert not (tmp_path / "three" / "train_state.pt").exists()
    assert _max_diff(tmp_path / "one" / "model.safetensors", tmp_path / "three" / "model.safetensors") \
        < WEIGHT_TOLERANCE
    h3 = json.loads((tmp_path / "three" / "config.json").read_text())["training"]
    assert h3["steps"] == h1["steps"] and len(h3["history"]) == 2


def _gan_args(out: Path) -> list:
    return ["gan", "train", "vanilla", "--data", "digits", "--size", "8", "--set", "batch_size=200", "--epochs", "2",
            "--device", "cpu", "--out", out]


def test_gan_training_equal_one_process(tmp_path):
    fakescope(*_gan_args(tmp_path / "one"))
    fakescope(*_gan_args(tmp_path / "two"), procs=2)
    assert _max_diff(tmp_path / "one" / "checkpoint" / "model.safetensors",
                     tmp_path / "two" / "checkpoint" / "model.safetensors") < WEIGHT_TOLERANCE
    rows = [[json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
            for d in ("one", "two")]
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]]
    for a, b in zip(*rows, strict=True):
        assert abs(a["loss_d"] - b["loss_d"]) < LOSS_TOLERANCE and abs(a["loss_g"] - b["loss_g"]) < LOSS_TOLERANCE


def test_progan_training_equal_one_process(tmp_path):
    """ProGAN's minibatch-standard-deviation layer sees the global batch under torchrun (gathered
    differentiably, also through the gradient penalty's double backward): 2 processes train as one does."""
    sets = {"latent_dim": 16, "fmap_base": 64, "fmap_max": 16, "images_per_phase": 64, "batch_sizes": [16],
            "checkpoint_images": 1000, "metric_images": 0, "mbstd_group": 4}
    args = ["gan", "train", "progan", "--data", "digits", "--size", "8", "--device", "cpu",
            *[x for k, v in sets.items() for x in ("--set", f"{k}={json.dumps(v)}")]]
    fakescope(*args, "--out", tmp_path / "one")
    fakescope(*args, "--out", tmp_path / "two", procs=2)
    # measured: 3e-8 (losses 1e-6); with each rank's stddev over its own slice instead, 5.5e-5 (losses 0.023):
    # the losses are what tells them apart; the weights leave room for Adam's sign steps on other CPUs
    assert _max_diff(tmp_path / "one" / "checkpoint" / "model.safetensors",
                     tmp_path / "two" / "checkpoint" / "model.safetensors") < 1e-5
    rows = [[json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
            for d in ("one", "two")]
    for a, b in zip(*rows, strict=True):
        assert abs(a["loss_d"] - b["loss_d"]) < LOSS_TOLERANCE and abs(a["loss_g"] - b["loss_g"]) < LOSS_TOLERANCE
    uneven = fakescope(*args, "--out", tmp_path / "three", procs=3, check=False)  # 16 images, 3 processes
    assert uneven.returncode != 0 and "divisible by the 3 processes" in uneven.stderr


def test_gan_training_killed_resumes_under_torchrun_with_another_process_count(tmp_path):
    fakescope(*_gan_args(tmp_path / "one"))
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "fakescope",
           *map(str, _gan_args(run))]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not (run / "train_state.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks
    proc.wait()
    assert (run / "options.json").exists()
    fakescope(*_gan_args(run), "--resume", procs=3)
    assert _max_diff(tmp_path / "one" / "checkpoint" / "model.safetensors",
                     run / "checkpoint" / "model.safetensors") < WEIGHT_TOLERANCE
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [7, 14]
