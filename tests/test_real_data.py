"""Tests on the real Fashion-MNIST (Debian's dataset-fashion-mnist): skipped where it is absent.

Kept in one file so that one pytest-xdist worker prepares the real data once.
"""

import json

import numpy as np
import pytest

from gan_jax import classifier
from gan_jax.input_pipeline import load_dataset, load_split, scale


def test_real_fashion_mnist(real_idx_dir, tfds_dir):
  train = load_dataset("train", idx_dir=str(real_idx_dir), data_dir=str(tfds_dir))
  assert train.shape == (60000, 28, 28, 1) and train.dtype == np.float32
  assert train.min() == -1.0 and train.max() == 1.0
  _, labels = load_split("test", idx_dir=str(real_idx_dir), data_dir=str(tfds_dir))
  assert labels.shape == (10000,) and np.bincount(labels).tolist() == [1000] * 10


def test_committed_classifier_reaches_92_percent(real_idx_dir, tfds_dir):
  card = json.loads(classifier.asset_path(classifier.CARD).read_text())
  assert card["test_accuracy"] >= 0.92
  images, labels = load_split("test", idx_dir=str(real_idx_dir), data_dir=str(tfds_dir))
  acc = classifier.accuracy(classifier.load(), scale(images), labels)
  assert acc >= 0.92 and acc == pytest.approx(card["test_accuracy"], abs=2e-3)
