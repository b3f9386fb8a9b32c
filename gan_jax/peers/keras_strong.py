"""The seed's iteration written the strong way in TensorFlow/Keras: one tf.function."""

from __future__ import annotations

import keras
import tensorflow as tf

from gan_jax.peers import keras_seed


class StrongKeras:
  def __init__(self, latent_dim: int = 100, batch_size: int = 128):
    self.latent_dim, self.batch_size = latent_dim, batch_size
    self.d = keras_seed.define_discriminator()
    self.g = keras_seed.define_generator(latent_dim)
    self.d_opt, self.g_opt = keras_seed.adam(), keras_seed.adam()
    self.bce = keras.losses.BinaryCrossentropy()

  def _d_update(self, images, label):
    with tf.GradientTape() as tape:
      p = self.d(images, training=True)
      loss = self.bce(tf.fill(tf.shape(p), label), p)
    grads = tape.gradient(loss, self.d.trainable_variables)
    self.d_opt.apply_gradients(zip(grads, self.d.trainable_variables))
    return loss

  @tf.function
  def train_iteration(self, dataset, n_data):
    half = self.batch_size // 2
    real = tf.gather(dataset, tf.random.uniform([half], 0, n_data, tf.int32))
    d1 = self._d_update(real, 1.0)
    fake = self.g(tf.random.normal([half, self.latent_dim]), training=False)
    d2 = self._d_update(fake, 0.0)
    z = tf.random.normal([self.batch_size, self.latent_dim])
    with tf.GradientTape() as tape:
      p = self.d(self.g(z, training=True), training=True)
      g = self.bce(tf.ones_like(p), p)
    grads = tape.gradient(g, self.g.trainable_variables)
    self.g_opt.apply_gradients(zip(grads, self.g.trainable_variables))
    return d1, d2, g
