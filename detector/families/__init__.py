"""Detector families; importing this package registers each of them."""

from . import discriminator, npr, spectrum, timm_backbone  # noqa: F401
