"""GAN families, one module each, registered by name when first used.

``MODULES`` is what lets ``fakescope gan list`` answer without loading torch: ``GANS`` knows these names and
imports a family's module (which registers the family) on first use. A new family is one line here;
``tests/generators/test_gan_families_catalog.py`` checks the table against what the modules register.
"""

MODULES = {
    "cyclegan": f"{__name__}.cyclegan",
    "progan": f"{__name__}.progan",
    "resynth": f"{__name__}.resynth",
    "upscaler": f"{__name__}.upscaler",
    "vanilla": f"{__name__}.vanilla",
}
