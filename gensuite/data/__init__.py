"""Datasets: the data root, fingerprints, data containers and the built-in builders.

Importing a builder module (``gensuite.data.mnist``...) registers its datasets;
``gensuite.plugins`` imports every module of this package, so a new dataset is a new file here.
This package's own import registers nothing.
"""

from gensuite.data.containers import FewShotData, FixedEpisode, ImageClassData
from gensuite.data.episodes import EpisodeSampler
from gensuite.data.fingerprint import fingerprint, sha256_file
from gensuite.data.root import DataRoot, download_root

__all__ = [
    "DataRoot",
    "EpisodeSampler",
    "FewShotData",
    "FixedEpisode",
    "ImageClassData",
    "download_root",
    "fingerprint",
    "sha256_file",
]
