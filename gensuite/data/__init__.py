"""Datasets: the data root, fingerprints, few-shot containers and the built-in builders.

Importing this package registers the built-in datasets (``omniglot-vinyals``, ``omniglot-lake``,
``mnist``, ``fashion-mnist``);
a new dataset module is added to the imports below.
"""

from gensuite.data import mnist, omniglot  # noqa: F401 (importing a module registers its builders)
from gensuite.data.episodes import EpisodeSampler, FewShotData, FixedEpisode
from gensuite.data.fingerprint import fingerprint, sha256_file
from gensuite.data.root import DataRoot, download_root

__all__ = [
    "DataRoot",
    "EpisodeSampler",
    "FewShotData",
    "FixedEpisode",
    "download_root",
    "fingerprint",
    "omniglot",
    "sha256_file",
]
