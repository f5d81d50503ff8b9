"""GAN families; importing this package registers each of them."""

from . import vanilla  # noqa: F401
