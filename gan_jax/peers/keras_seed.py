"""The seed's Keras models, on Keras 3, for parity tests and the benchmark.

Keras 3 reads ``layer.trainable`` at every call, whereas Keras 2 froze it at
``compile``.  The seed sets ``discriminator.trainable = False`` once, before
building the composite model, so on Keras 3 its ``d.train_on_batch`` never
updates D.  ``SeedKeras.train_iteration`` toggles the flag around each update,
which is what the seed means.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
from keras import layers  # noqa: E402


def adam(lr: float = 2e-4, beta1: float = 0.5) -> keras.optimizers.Optimizer:
  return keras.optimizers.Adam(learning_rate=lr, beta_1=beta1)


def define_discriminator(dropout: float = 0.4) -> keras.Model:
  model = keras.Sequential([
      keras.Input((28, 28, 1)),
      layers.Conv2D(128, 3, strides=2, padding="same"),
      layers.LeakyReLU(negative_slope=0.2),
      layers.Conv2D(128, 3, strides=2, padding="same"),
      layers.LeakyReLU(negative_slope=0.2),
      layers.Flatten(),
      layers.Dropout(dropout),
      layers.Dense(1, activation="sigmoid"),
  ])
  model.compile(loss="binary_crossentropy", optimizer=adam(), metrics=["accuracy"])
  return model


def define_generator(latent_dim: int = 100) -> keras.Model:
  return keras.Sequential([
      keras.Input((latent_dim,)),
      layers.Dense(128 * 7 * 7),
      layers.LeakyReLU(negative_slope=0.2),
      layers.Reshape((7, 7, 128)),
      layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
      layers.LeakyReLU(negative_slope=0.2),
      layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
      layers.LeakyReLU(negative_slope=0.2),
      layers.Conv2D(1, 7, activation="tanh", padding="same"),
  ])


def define_gan(generator: keras.Model, discriminator: keras.Model) -> keras.Model:
  discriminator.trainable = False
  model = keras.Sequential([generator, discriminator])
  model.compile(loss="binary_crossentropy", optimizer=adam())
  return model


# Flax <-> Keras weights.  Conv2DTranspose keeps (kh, kw, out, in) and applies
# the spatially flipped kernel relative to Flax's ConvTranspose default.
def _convt_to_keras(kernel: np.ndarray) -> np.ndarray:
  return np.asarray(kernel)[::-1, ::-1].transpose(0, 1, 3, 2)


def set_discriminator_weights(model: keras.Model, d_params) -> None:
  p = {k: {n: np.asarray(v) for n, v in layer.items()} for k, layer in d_params.items()}
  model.set_weights([p["conv1"]["kernel"], p["conv1"]["bias"], p["conv2"]["kernel"], p["conv2"]["bias"],
                     p["dense"]["kernel"], p["dense"]["bias"]])


def set_generator_weights(model: keras.Model, g_params) -> None:
  p = {k: {n: np.asarray(v) for n, v in layer.items()} for k, layer in g_params.items()}
  model.set_weights([p["dense"]["kernel"], p["dense"]["bias"],
                     _convt_to_keras(p["convt1"]["kernel"]), p["convt1"]["bias"],
                     _convt_to_keras(p["convt2"]["kernel"]), p["convt2"]["bias"],
                     p["conv_out"]["kernel"], p["conv_out"]["bias"]])


def discriminator_params(model: keras.Model) -> dict:
  w = model.get_weights()
  names = ("conv1", "conv2", "dense")
  return {n: {"kernel": w[2 * i], "bias": w[2 * i + 1]} for i, n in enumerate(names)}


def generator_params(model: keras.Model) -> dict:
  w = model.get_weights()
  out = {}
  for i, n in enumerate(("dense", "convt1", "convt2", "conv_out")):
    kernel = w[2 * i]
    out[n] = {"kernel": _convt_to_keras(kernel) if n.startswith("convt") else kernel, "bias": w[2 * i + 1]}
  return out


class SeedKeras:
  """The seed's iteration as written: train_on_batch x3 + predict, with the Keras 3 toggle."""

  def __init__(self, latent_dim: int = 100, dropout: float = 0.4):
    self.latent_dim = latent_dim
    self.d = define_discriminator(dropout)
    self.g = define_generator(latent_dim)
    self.gan = define_gan(self.g, self.d)

  def train_iteration(self, real: np.ndarray, z_fake: np.ndarray, z_gan: np.ndarray):
    half = len(real)
    self.d.trainable = True
    d1, _ = self.d.train_on_batch(real, np.ones((half, 1), np.float32))
    fake = self.g.predict(z_fake, verbose=0)
    d2, _ = self.d.train_on_batch(fake, np.zeros((half, 1), np.float32))
    self.d.trainable = False
    g = self.gan.train_on_batch(z_gan, np.ones((len(z_gan), 1), np.float32))
    return float(d1), float(d2), float(g)
