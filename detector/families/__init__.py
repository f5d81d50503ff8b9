"""Detector families; importing this package registers each of them."""

from . import discriminator  # noqa: F401
