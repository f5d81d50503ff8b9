"""GAN kinds: what a family's generator maps from and to, one small interface per kind.

- :class:`~fakescope.generators.kinds.noise.NoiseToImage` — latent → image (``vanilla``, ``progan``);
- :class:`~fakescope.generators.kinds.image.ImageToImage` — image → image between two domains (``cyclegan``);
- :class:`~fakescope.generators.kinds.resynth.SameSizeImage` — image → image of the same size, the real image
  redrawn through a generator's decoder (``resynth``).

A family subclasses the interface of its kind. Corpus building, recipes, translation and the CLI dispatch on
the type: the hooks every kind implements (:meth:`GANFamily.corpus_fakes`, :meth:`GANFamily.entry_problem`,
:meth:`GANFamily.training_data`) or ``isinstance``. A new kind is one new module here plus its families;
this package does not list its modules, so nothing else is edited (docs/architecture.md walks through it).
"""
