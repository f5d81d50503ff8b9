"""The lowest layer: what every other layer uses, and nothing of ours below it.

Registry (:mod:`.registry`), checkpoint folders (:mod:`.checkpoint`), image reading/writing with the one atomic
write (:mod:`.imageio`), seed derivation (:mod:`.seeding`), the perturbations shared by recipes, detector
augmentation and benchmarks (:mod:`.perturb`), and the corpus format: manifest rows, reading, verifying and
statistics (:mod:`.corpus`).
"""
