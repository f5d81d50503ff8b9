"""The lowest layer: what every other layer uses, and nothing of ours below it.

Registry (:mod:`.registry`), checkpoint folders (:mod:`.checkpoint`), image reading/writing with the one atomic
write (:mod:`.imageio`), seed derivation (:mod:`.seeding`), the perturbations shared by recipes, detector
augmentation and benchmarks (:mod:`.perturb`), the corpus format: manifest rows, reading, verifying and
statistics (:mod:`.corpus`), the one folder walker (:mod:`.walk`), and the guards against hostile inputs:
path safety, file types, output folders and config digests (:mod:`.safety`), image formats and video headers
(:mod:`.formats`), and many processes under torchrun (:mod:`.distributed`).
"""
