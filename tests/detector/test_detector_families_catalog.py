"""The detector family table (name → module, read without importing torch) agrees with what the modules register."""

import importlib
import sys

from fakescope.detector.base import DETECTORS
from fakescope.detector.families import MODULES, USAGE, about


def test_the_table_names_every_registered_family_and_its_module():
    DETECTORS.load_all()
    assert sorted(DETECTORS._entries) == sorted(MODULES)
    for name in MODULES:
        cls = DETECTORS.get(name)
        assert cls.__module__ == MODULES[name]
        needs_variant = cls.variant_field is not None and cls.default_variant is None
        assert USAGE.get(name, name) == (f"{name}:<{cls.variant_field}>" if needs_variant else name)
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        assert about(name) == doc[0].split(": ", 1)[-1]


def test_a_family_loads_on_first_use():
    assert "npr" in DETECTORS and DETECTORS.get("npr") is importlib.import_module(MODULES["npr"]).NPRDetector


def test_npr_blocks_match_torchvision():
    """npr's own residual blocks are torchvision's, parameter for parameter and output for output."""
    import torch
    from fakescope.detector.families import npr
    from torch import nn
    from torchvision.models import resnet

    torch.manual_seed(0)
    x = torch.randn(2, 16, 12, 12)
    for ours, theirs, args in ((npr.BasicBlock, resnet.BasicBlock, (16, 32, 2)),
                               (npr.Bottleneck, resnet.Bottleneck, (16, 8, 2))):
        out = args[1] * ours.expansion
        down = nn.Sequential(nn.Conv2d(16, out, 1, stride=2, bias=False), nn.BatchNorm2d(out))
        a, b = ours(*args, downsample=down), theirs(*args, downsample=down)
        b.load_state_dict(a.state_dict())
        assert list(a.state_dict()) == list(b.state_dict())
        assert torch.equal(a.eval()(x), b.eval()(x))
