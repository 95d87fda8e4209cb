"""Character streams for char-level language models (report C-1): Tiny Shakespeare and War and
Peace, split contiguously by characters, with a vocabulary built from the training text.

- ``tiny-shakespeare``: karpathy/char-rnn's ``input.txt`` (1 115 394 characters, 65 distinct),
  the text of nanoGPT's character-level baseline. nanoGPT splits it 90/10 (first 90% train, last
  10% validation, no test split): ``split = "90/10/0"`` gives exactly that, and then the test
  stream *is* the validation stream (the description says so), which is what nanoGPT's
  reported validation loss is computed on.
- ``war-and-peace``: Project Gutenberg #2600 (Tolstoy, tr. Maude). The Gutenberg header and
  licence are cut (everything outside the ``*** START OF …`` / ``*** END OF …`` lines) before
  splitting, and the description says so. Report C-1 trained on "a novel-length text" with ~91
  distinct characters and does not name it; this is a stand-in of that kind, not its text.

Split: ``split = "A/B/C"`` percentages of characters, contiguous, in order train / validation /
test (default 90/5/5). Vocabulary: the sorted distinct characters of the *training* text only, so
nothing of the held-out text leaks into the model. Unknown-character policy (``unknown``):
``"map"`` (default) sends characters absent from the training text to one extra symbol, U+FFFD,
appended last to the vocabulary, and the description counts them per split; ``"error"`` refuses
such a text in one line. The files are checked against their published sha256 (``verify``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gensuite.api import DatasetInfo
from gensuite.data.containers import TokenStreamData
from gensuite.data.fingerprint import sha256_file
from gensuite.data.root import DataRoot
from gensuite.errors import GensuiteError
from gensuite.registry import register_dataset

UNKNOWN = "\ufffd"  # the symbol unknown characters are mapped to (policy "map")
POLICIES = ("map", "error")


@dataclass(frozen=True)
class TextSource:
    name: str
    title: str
    relpaths: tuple[str, ...]  # under a data root
    sha256: str
    how_to_get: str
    default_split: str = "90/5/5"
    gutenberg: bool = False  # cut the Project Gutenberg header and licence


TINY_SHAKESPEARE = TextSource(
    name="tiny-shakespeare", title="Tiny Shakespeare",
    relpaths=("tinyshakespeare/input.txt", "tiny_shakespeare/input.txt"),
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    how_to_get="get input.txt from https://raw.githubusercontent.com/karpathy/char-rnn/master/"
               "data/tinyshakespeare/input.txt into <root>/tinyshakespeare/",
    default_split="90/10/0",
)
WAR_AND_PEACE = TextSource(
    name="war-and-peace", title="War and Peace",
    relpaths=("warandpeace/war_and_peace_pg2600.txt", "warandpeace/warandpeace.txt"),
    sha256="bf5b273d9246268f96663c43c00a1055ae2e42c2262be32f7e43b48dd123451a",
    how_to_get="get the plain-text UTF-8 edition of Project Gutenberg ebook #2600 "
               "(https://www.gutenberg.org/ebooks/2600) into <root>/warandpeace/ as "
               "war_and_peace_pg2600.txt",
    gutenberg=True,
)


def parse_split(split: str) -> tuple[float, float, float]:
    """"90/5/5" → (0.9, 0.05, 0.05); the three must be ≥ 0, sum to 100, train and val > 0."""
    try:
        parts = [float(p) for p in str(split).split("/")]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 0 or abs(sum(parts) - 100) > 1e-9 or not (
            parts[0] > 0 and parts[1] > 0):
        raise GensuiteError(f"split {split!r}: give three percentages train/val/test summing to "
                            f"100, train and val above 0 (e.g. '90/5/5')")
    return parts[0] / 100, parts[1] / 100, parts[2] / 100


def read_text(path: Path, dataset: str) -> str:
    """The file as UTF-8 text; empty or undecodable files are one-line errors."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GensuiteError(f"dataset {dataset!r}: {path} is not UTF-8 text (byte "
                            f"{exc.start}: {data[exc.start:exc.start + 1]!r})") from None
    if not text:
        raise GensuiteError(f"dataset {dataset!r}: {path} is empty")
    return text


def strip_gutenberg(text: str, dataset: str, path: Path) -> str:
    """The text between Project Gutenberg's ``*** START OF`` and ``*** END OF`` lines."""
    start, end = text.find("*** START OF"), text.find("*** END OF")
    if start < 0 or end < start:
        raise GensuiteError(f"dataset {dataset!r}: {path} has no Project Gutenberg START/END "
                            f"lines to cut the header and licence at")
    body = text[text.index("\n", start) + 1 : end]
    # many editions close the book with an "End of the Project Gutenberg EBook …" line too
    closing = body.rfind("End of the Project Gutenberg")
    if closing >= 0 and len(body) - closing < 500:
        body = body[:closing]
    return body.strip("\r\n") + "\n"


def encode(text: str, vocab: tuple[str, ...], *, unknown: str, dataset: str, split: str
           ) -> tuple[torch.Tensor, int]:
    """Characters → int64 ids; (ids, number of unknown characters)."""
    index = {c: i for i, c in enumerate(vocab)}
    unk = index.get(UNKNOWN)
    missing = sorted({c for c in set(text) if c not in index})
    if missing and (unknown == "error" or unk is None):
        shown = ", ".join(repr(c) for c in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise GensuiteError(f"dataset {dataset!r}: the {split} text has {len(missing)} "
                            f"character(s) not in the training text ({shown}); use "
                            f"unknown='map' to map them to U+FFFD")
    ids = torch.tensor([index.get(c, unk) for c in text], dtype=torch.long)
    n_unknown = sum(text.count(c) for c in missing)
    return ids, n_unknown


def split_text(text: str, fractions: tuple[float, float, float]) -> tuple[str, str, str]:
    """Contiguous train / val / test by characters (the test part empty when its share is 0)."""
    n = len(text)
    n_train = int(n * fractions[0])
    n_val = n - n_train if fractions[2] == 0 else int(n * fractions[1])
    return text[:n_train], text[n_train : n_train + n_val], text[n_train + n_val :]


@functools.lru_cache(maxsize=8)
def _build_cached(path: str, size: int, mtime_ns: int, source: TextSource, split: str,
                  unknown: str, verify: bool) -> TokenStreamData:
    p = Path(path)
    if verify:
        digest = sha256_file(p)
        if digest != source.sha256:
            raise GensuiteError(
                f"dataset {source.name!r}: {p} has sha256 {digest[:16]}…, not the published "
                f"{source.sha256[:16]}… (another edition changes every number); "
                f"{' '.join(source.how_to_get.split())}, or pass verify=False")
    text = read_text(p, source.name)
    cut = ""
    if source.gutenberg:
        text = strip_gutenberg(text, source.name, p)
        cut = "Project Gutenberg header and licence cut; "
    fractions = parse_split(split)
    train, val, test = split_text(text, fractions)
    vocab = tuple(sorted(set(train)))
    if unknown == "map":
        vocab += (UNKNOWN,)
    streams, unknowns = {}, {}
    for name, part in (("train", train), ("val", val), ("test", test or val)):
        streams[name], unknowns[name] = encode(part, vocab, unknown=unknown,
                                               dataset=source.name, split=name)
    test_note = ("test = the validation stream (no test split: nanoGPT's setting)"
                 if not test else f"test {len(test):,}")
    description = (
        f"{source.title}, {cut}{len(text):,} characters split {split} contiguously: train "
        f"{len(train):,}, validation {len(val):,}, {test_note}; vocabulary = the "
        f"{len(vocab) - (unknown == 'map')} distinct characters of the training text"
        + (f" + U+FFFD for unknown ones (validation {unknowns['val']}, test "
           f"{unknowns['test']} mapped)" if unknown == "map" else "")
        + f"; file sha256 {sha256_file(p)[:16]}"
    )
    info = DatasetInfo(name=source.name, description=description, files=(p,))
    return TokenStreamData(info=info, vocab=vocab, unit="char", **streams)


def build_text(root: DataRoot, source: TextSource, *, split: str | None = None,
               unknown: str = "map", verify: bool = True) -> TokenStreamData:
    if unknown not in POLICIES:
        raise GensuiteError(f"unknown={unknown!r}: choose one of {', '.join(POLICIES)}")
    path = root.locate(source.name, *source.relpaths, how_to_get=source.how_to_get)
    st = os.stat(path)
    data = _build_cached(str(path.resolve()), st.st_size, st.st_mtime_ns, source,
                         split or source.default_split, unknown, verify)
    # clones: callers may modify what they get without corrupting the cache
    return TokenStreamData(info=data.info, train=data.train.clone(), val=data.val.clone(),
                           test=data.test.clone(), vocab=data.vocab, unit="char")


def _probe(source: TextSource):
    def probe(root: DataRoot) -> Path:
        return root.locate(source.name, *source.relpaths, how_to_get=source.how_to_get)

    return probe


@register_dataset("tiny-shakespeare", probe=_probe(TINY_SHAKESPEARE))
def build_tiny_shakespeare(root: DataRoot, **options) -> TokenStreamData:
    return build_text(root, TINY_SHAKESPEARE, **options)


@register_dataset("war-and-peace", probe=_probe(WAR_AND_PEACE))
def build_war_and_peace(root: DataRoot, **options) -> TokenStreamData:
    return build_text(root, WAR_AND_PEACE, **options)
