"""Building labeled corpora: real images beside generated fakes, in the format of :mod:`fakescope.core.corpus`.

By job: :mod:`.plan` (blocks and shards), :mod:`.batches` (generating and writing one batch: the seam a build, a
benchmark or a new kind plugs into), :mod:`.build` (the pipeline: device thread and writer pool),
:mod:`.journal` (resuming an interrupted build), :mod:`.merge` (joining shards), :mod:`.ranks` (a build on many
processes under torchrun: a shard per rank, joined by rank 0), :mod:`.regenerate` (images made again from their
manifest rows, compared byte for byte). Reading, verifying and counting
a corpus is the format's job (:mod:`fakescope.core.corpus`).
"""

from .batches import FakeBatch, FakeRequest, GenerateFakes, WriteContext, generate_fakes, write_fakes, write_reals
from .build import build_corpus
from .journal import JOURNAL_FILE, STATE_FILE
from .merge import merge_corpora
from .plan import BLOCK, MAX_IMAGES, CorpusSpec, Shard, Unit, check_corpus_size, plan_units, planned_count, shard_units
from .ranks import RANKS_DIR, build_corpus_ranks
from .regenerate import check_regeneration, regenerate

__all__ = [
    "BLOCK", "JOURNAL_FILE", "MAX_IMAGES", "RANKS_DIR", "STATE_FILE", "CorpusSpec", "FakeBatch", "FakeRequest",
    "GenerateFakes", "Shard", "Unit", "WriteContext", "build_corpus", "build_corpus_ranks", "check_corpus_size",
    "check_regeneration", "regenerate",
    "generate_fakes", "merge_corpora", "plan_units", "planned_count", "shard_units", "write_fakes", "write_reals",
]
