"""Datasets: the data root, fingerprints, few-shot containers and the built-in builders.

Importing this package registers the built-in datasets (``omniglot-vinyals``, ``omniglot-lake``,
``mnist``, ``fashion-mnist``, ``lfw-faces``, ``celeba``, ``mnist-m``, ``svhn``, ``cifar10-jpeg``);
a new dataset module is added to the imports below (importing a module registers its builders).
"""

import gensuite.data.binarized_mnist  # noqa: F401 (registers mnist-binarized)
from gensuite.data import celeba, cifar10_jpeg, lfw, mnist, mnist_m, omniglot, svhn  # noqa: F401
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
