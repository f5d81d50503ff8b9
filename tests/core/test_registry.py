import pytest
from fakescope.generators.gan import GANS, create_gan, list_gans

from fakescope.core.registry import Registry, UnknownNameError


def test_duplicate_name_is_refused():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)


def test_unknown_name_lists_the_known_ones():
    reg: Registry[int] = Registry("thing")
    reg.add("alpha", 1)
    reg.add("beta", 2)
    with pytest.raises(UnknownNameError, match="unknown thing 'gamma'; known: alpha, beta"):
        reg.get("gamma")


def test_gan_registry_has_vanilla_and_refuses_unknown():
    assert "vanilla" in list_gans()
    with pytest.raises(UnknownNameError, match="vanilla"):
        create_gan("no-such-gan")
    with pytest.raises(ValueError):
        GANS.add("vanilla", GANS.get("vanilla"))


def test_register_files_a_class_under_its_own_name():
    reg: Registry[type] = Registry("thing")

    @reg.register
    class Alpha:
        name = "alpha"

    assert reg.get("alpha") is Alpha
    with pytest.raises(ValueError, match="already registered"):
        reg.register(type("Other", (), {"name": "alpha"}))
