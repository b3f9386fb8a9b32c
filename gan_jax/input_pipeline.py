"""Fashion-MNIST through tensorflow-datasets, online or from local IDX files.

Offline machines get the four original IDX files from Debian's
``dataset-fashion-mnist`` package.  tfds' own ``fashion_mnist`` builder rejects
them through ``manual_dir`` (re-compressed .gz files fail its checksums), so
this module adds a small tfds builder that reads local IDX files, checks their
*decompressed* contents, and is prepared once into the tfds data dir.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import logging
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

DEBIAN_IDX_DIR = "/usr/share/datasets/fashion-mnist"
IDX_DIR_ENV = "FASHION_MNIST_IDX_DIR"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# SHA-256 of the decompressed originals (the .gz bytes differ between mirrors).
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
HOW_TO_GET = (
    "Get Fashion-MNIST with `apt-get install dataset-fashion-mnist` (IDX files in "
    f"{DEBIAN_IDX_DIR}), point --idx-dir or ${IDX_DIR_ENV} at a folder holding the four "
    "original *-ubyte.gz files, or run once with internet so tfds can download it."
)
log = logging.getLogger(__name__)


class DataError(Exception):
  """Missing or malformed data; the message says which file and how to fix it."""


def default_idx_dir() -> str:
  return os.environ.get(IDX_DIR_ENV) or DEBIAN_IDX_DIR


def _read_gz(path: Path) -> bytes:
  try:
    with gzip.open(path, "rb") as f:
      return f.read()
  except FileNotFoundError:
    raise DataError(f"{path}: file not found. {HOW_TO_GET}") from None
  except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError.
    raise DataError(f"{path}: not a readable gzip file ({e}); it is truncated or corrupt. {HOW_TO_GET}") from None


def parse_idx(raw: bytes, path: Path, *, images: bool) -> np.ndarray:
  """IDX bytes -> uint8 array (N, 28, 28) or (N,), checking magic, shape and length."""
  want_magic, ndim = (0x803, 3) if images else (0x801, 1)
  if len(raw) < 4 + 4 * ndim:
    raise DataError(f"{path}: {len(raw)} bytes is too short for an IDX header. {HOW_TO_GET}")
  magic = struct.unpack(">I", raw[:4])[0]
  if magic != want_magic:
    kind = "image" if images else "label"
    raise DataError(f"{path}: IDX magic number {magic:#010x}, expected {want_magic:#010x} for an {kind} file.")
  dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
  if images and dims[1:] != (28, 28):
    raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28.")
  body = raw[4 + 4 * ndim :]
  if len(body) != int(np.prod(dims)):
    raise DataError(f"{path}: header promises {int(np.prod(dims))} bytes of data, file holds {len(body)}.")
  arr = np.frombuffer(body, np.uint8).reshape(dims)
  if not images and arr.size and arr.max() > 9:
    raise DataError(f"{path}: label {arr.max()} is outside 0..9.")
  return arr


def read_idx_split(idx_dir: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
  """Validated (images uint8 (N, 28, 28), labels uint8 (N,)) of one split's IDX files."""
  img_name, lbl_name = FILES[split]
  out = []
  for name, is_images in ((img_name, True), (lbl_name, False)):
    path = Path(idx_dir) / name
    raw = _read_gz(path)
    if hashlib.sha256(raw).hexdigest() != OFFICIAL_SHA256[name]:
      log.warning("%s is valid IDX but not the official Fashion-MNIST contents.", path)
    out.append(parse_idx(raw, path, images=is_images))
  images, labels = out
  if len(images) != len(labels):
    raise DataError(f"{Path(idx_dir) / img_name}: {len(images)} images but {len(labels)} labels in {lbl_name}.")
  return images, labels


def _source_fingerprint(idx_dir: Path) -> str:
  h = hashlib.sha256()
  for split in ("train", "test"):
    for name in FILES[split]:
      path = idx_dir / name
      if not path.is_file():
        raise DataError(f"{path}: file not found. {HOW_TO_GET}")
      h.update(path.read_bytes())
  return h.hexdigest()[:16]


@contextlib.contextmanager
def _quiet_stderr_fd():
  """TensorFlow's C++ start-up banner ignores TF_CPP_MIN_LOG_LEVEL; drop fd 2 while it loads.

  Python exceptions raised by the import still reach the user.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, "wb") as devnull:
      os.dup2(devnull.fileno(), 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


def _import_tfds():
  # TensorFlow must not claim the GPU (or its memory) that JAX will use.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if "tensorflow" not in sys.modules:
    with _quiet_stderr_fd():
      import tensorflow  # noqa: F401
  import tensorflow as tf
  import tensorflow_datasets as tfds

  tf.config.set_visible_devices([], "GPU")
  # tfds warns on every load about our builder's dynamic config and empty variant folders.
  logging.getLogger("absl").setLevel(logging.ERROR)
  return tfds


@functools.cache  # tfds registers builder classes by name: define it once.
def _idx_builder_class():
  tfds = _import_tfds()

  class FashionMnistIdx(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST from local IDX files; one builder config per source fingerprint."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Local IDX files, checked by decompressed content."}

    def __init__(self, *, idx_dir: str, **kwargs):
      self._idx_dir = Path(idx_dir)
      super().__init__(**kwargs)

    def _info(self):
      return self.dataset_info_from_configs(
          description="Fashion-MNIST (Xiao et al. 2017) read from local IDX files.",
          features=tfds.features.FeaturesDict({
              "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
              "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
          }),
          supervised_keys=("image", "label"),
          homepage="https://github.com/zalandoresearch/fashion-mnist",
      )

    def _split_generators(self, dl_manager):
      del dl_manager  # nothing to download
      return {split: self._generate_examples(split) for split in FILES}

    def _generate_examples(self, split):
      images, labels = read_idx_split(self._idx_dir, split)
      for i in range(len(images)):
        yield i, {"image": images[i, :, :, None], "label": int(labels[i])}

  return FashionMnistIdx


def _as_arrays(builder, split: str) -> tuple[np.ndarray, np.ndarray]:
  tfds = _import_tfds()
  data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  images, labels = data["image"], data["label"]
  return images.reshape(-1, 28, 28, 1).astype(np.uint8), labels.astype(np.int32)


def _idx_builder(idx_dir: Path, data_dir: str | None):
  fingerprint = _source_fingerprint(idx_dir)
  tfds = _import_tfds()
  config = tfds.core.BuilderConfig(name=f"src{fingerprint}", description=f"IDX files from {idx_dir}")
  builder = _idx_builder_class()(idx_dir=str(idx_dir), data_dir=data_dir, config=config)
  if not builder.is_prepared():
    for split in FILES:  # fail with a clear message before tfds writes anything
      read_idx_split(idx_dir, split)
    log.info("Preparing Fashion-MNIST from %s into %s (once).", idx_dir, builder.data_dir)
    builder.download_and_prepare()
  return builder


def load_split(
    split: str = "train", *, data_dir: str | None = None, idx_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """(images uint8 (N, 28, 28, 1), labels int32 (N,)) of ``split``.

  Order of sources: ``idx_dir`` if given; else an already prepared official
  ``fashion_mnist`` in ``data_dir``; else local IDX files
  (``$FASHION_MNIST_IDX_DIR`` or Debian's folder); else tfds' download.
  """
  if split not in FILES:
    raise ValueError(f"split must be train or test, not {split!r}")
  if idx_dir is not None:
    if not Path(idx_dir).is_dir():
      raise DataError(f"{idx_dir}: no such folder (from --idx-dir). {HOW_TO_GET}")
    return _as_arrays(_idx_builder(Path(idx_dir), data_dir), split)
  tfds = _import_tfds()
  official = tfds.builder("fashion_mnist", data_dir=data_dir)
  if official.is_prepared():
    return _as_arrays(official, split)
  local = Path(default_idx_dir())
  if local.is_dir():
    return _as_arrays(_idx_builder(local, data_dir), split)
  try:
    official.download_and_prepare()
  except Exception as e:  # noqa: BLE001 - any download failure means "no data here"
    raise DataError(f"Fashion-MNIST is not available: no IDX files in {local} and the tfds download failed "
                    f"({type(e).__name__}). {HOW_TO_GET}") from None
  return _as_arrays(official, split)


def scale(images_u8: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1], the seed's (x - 127.5) / 127.5."""
  return (images_u8.astype(np.float32) - 127.5) / 127.5


def load_dataset(split: str = "train", **kwargs) -> np.ndarray:
  """The seed's ``load_real_samples``: float32 (N, 28, 28, 1) in [-1, 1]."""
  images, _ = load_split(split, **kwargs)
  return scale(images)
