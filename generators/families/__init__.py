"""GAN families; importing this package registers each of them."""

from . import (
    cyclegan,  # noqa: F401
    progan,  # noqa: F401
    resynth,  # noqa: F401
    vanilla,  # noqa: F401
)
