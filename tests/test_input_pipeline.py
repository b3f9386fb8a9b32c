"""The tfds pipeline on small IDX files written here, valid and broken, and on the real data."""

import gzip
import shutil

import numpy as np
import pytest

from conftest import idx_bytes, write_idx
from gan_jax.input_pipeline import DataError, load_dataset, load_split, parse_idx


def test_small_idx_files_load_through_tfds(idx_dir, tfds_dir):
  images, labels = load_split("train", idx_dir=str(idx_dir), data_dir=str(tfds_dir))
  assert images.shape == (256, 28, 28, 1) and images.dtype == np.uint8
  assert labels.shape == (256,) and set(np.unique(labels)) <= set(range(10))
  test = load_dataset("test", idx_dir=str(idx_dir), data_dir=str(tfds_dir))
  assert test.shape == (64, 28, 28, 1) and test.dtype == np.float32
  assert -1.0 <= test.min() and test.max() <= 1.0
  # Prepared once: the tfds folder now holds the dataset and later loads read it.
  assert list(tfds_dir.glob("fashion_mnist_idx/*/1.0.0/dataset_info.json"))


def broken(tmp_path, idx_dir, name, content: bytes):
  folder = tmp_path / "broken"
  shutil.copytree(idx_dir, folder)
  (folder / name).write_bytes(content)
  return folder


TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"


@pytest.mark.parametrize(
    "name,make,message",
    [
        (TRAIN_IMAGES, lambda good: good[: len(good) // 2], "truncated or corrupt"),
        (TRAIN_IMAGES, lambda good: b"this is not gzip" * 10, "truncated or corrupt"),
        (TRAIN_IMAGES, lambda good: gzip.compress(b"\x00\x00\x08\x01" + gzip.decompress(good)[4:]), "magic"),
        (TRAIN_IMAGES, lambda good: gzip.compress(idx_bytes(np.zeros((3, 32, 32), np.uint8))), "32x32"),
        (TRAIN_IMAGES, lambda good: gzip.compress(gzip.decompress(good)[:-5]), "header promises"),
        (TRAIN_LABELS, lambda good: gzip.compress(idx_bytes(np.zeros(7, np.uint8))), "256 images but 7 labels"),
        (TRAIN_LABELS, lambda good: gzip.compress(idx_bytes(np.full(256, 12, np.uint8))), "outside 0..9"),
    ],
    ids=["truncated_gz", "not_gzip", "wrong_magic", "wrong_shape", "short_body", "count_mismatch", "bad_label"],
)
def test_broken_files_get_a_clear_error_naming_the_file(tmp_path, idx_dir, name, make, message):
  folder = broken(tmp_path, idx_dir, name, make((idx_dir / name).read_bytes()))
  with pytest.raises(DataError, match=message) as err:
    load_split("train", idx_dir=str(folder), data_dir=str(tmp_path / "tfds"))
  assert str(folder) in str(err.value)
  assert not list((tmp_path / "tfds").glob("**/dataset_info.json"))  # nothing prepared from bad data


def test_missing_file_and_folder(tmp_path, idx_dir):
  folder = broken(tmp_path, idx_dir, TRAIN_LABELS, b"")
  (folder / TRAIN_LABELS).unlink()
  with pytest.raises(DataError, match=f"{TRAIN_LABELS}: file not found.*apt-get install dataset-fashion-mnist"):
    load_split("train", idx_dir=str(folder), data_dir=str(tmp_path / "tfds"))
  with pytest.raises(DataError, match="no such folder"):
    load_split("train", idx_dir=str(tmp_path / "nowhere"), data_dir=str(tmp_path / "tfds"))


def test_changed_files_are_prepared_again(tmp_path):
  """The prepared dataset is keyed by the files' contents, so a stale cache is never read."""
  folder, data_dir = tmp_path / "idx", str(tmp_path / "tfds")
  write_idx(folder, n_train=20, n_test=4, seed=1)
  assert load_split("train", idx_dir=str(folder), data_dir=data_dir)[0].shape[0] == 20
  write_idx(folder, n_train=30, n_test=4, seed=2)
  assert load_split("train", idx_dir=str(folder), data_dir=data_dir)[0].shape[0] == 30


def test_parse_idx_reads_what_idx_bytes_wrote():
  array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
  np.testing.assert_array_equal(parse_idx(idx_bytes(array), "x", images=True), array)
