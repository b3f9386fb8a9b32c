import gzip
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gan_jax.input_pipeline import DEBIAN_IDX_DIR, FILES

ROOT = Path(__file__).resolve().parents[1]

# One persistent XLA cache for this test run, shared by pytest-xdist workers and the
# run.py subprocesses: the tests compile the same few programs (~5 s apiece on 2 cores).
_run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), f"gan_jax_xla_cache_{_run_id}") if _run_id
    else tempfile.mkdtemp(prefix="gan_jax_xla_cache_"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def idx_bytes(array: np.ndarray) -> bytes:
  magic = 0x803 if array.ndim == 3 else 0x801
  return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_idx(folder: Path, n_train: int = 256, n_test: int = 64, seed: int = 0) -> Path:
  """Small, valid Fashion-MNIST-format files: blobs whose brightness depends on the label."""
  rng = np.random.default_rng(seed)
  folder.mkdir(parents=True, exist_ok=True)
  for split, n in (("train", n_train), ("test", n_test)):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    yy, xx = np.mgrid[:28, :28]
    blob = np.exp(-((yy - 14) ** 2 + (xx - 14) ** 2) / 60.0)
    images = (blob[None] * (100 + 15 * labels[:, None, None]) + rng.integers(0, 20, (n, 28, 28))).clip(0, 255)
    img_name, lbl_name = FILES[split]
    (folder / img_name).write_bytes(gzip.compress(idx_bytes(images.astype(np.uint8))))
    (folder / lbl_name).write_bytes(gzip.compress(idx_bytes(labels)))
  return folder


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory) -> Path:
  return write_idx(tmp_path_factory.mktemp("idx"))


@pytest.fixture(scope="session")
def data_u8():
  """256 uint8 images, the shape the small IDX files give, so that compiled programs are shared."""
  import jax.numpy as jnp

  return jnp.asarray(np.random.default_rng(0).integers(0, 256, (256, 28, 28, 1), dtype=np.uint8))


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory) -> Path:
  return tmp_path_factory.mktemp("tfds")


@pytest.fixture
def real_idx_dir() -> Path:
  path = Path(DEBIAN_IDX_DIR)
  if not all((path / name).is_file() for split in FILES.values() for name in split):
    pytest.skip(f"real Fashion-MNIST not installed in {path} (apt-get install dataset-fashion-mnist)")
  return path


# The slowest files first, so that pytest-xdist's two workers finish together.
_SLOW_FIRST = ("test_multidevice.py", "test_resilience.py", "test_run.py", "test_beyond_seed.py")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(_SLOW_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
