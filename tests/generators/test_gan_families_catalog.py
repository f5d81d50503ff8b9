"""The GAN family table (name → module, read without importing torch) agrees with what the modules register."""

from fakescope.generators.families import MODULES
from fakescope.generators.gan import GANS


def test_the_table_names_every_registered_family_and_its_module():
    GANS.load_all()
    assert sorted(GANS._entries) == sorted(MODULES)
    for name in MODULES:
        assert GANS.get(name).__module__ == MODULES[name]
