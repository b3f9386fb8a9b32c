"""Each matmul form equals lax's convolution, in forward and in both gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gan_jax import convs

DN = ("NHWC", "HWIO", "NHWC")


def lax_conv(stride):
  return lambda x, w: lax.conv_general_dilated(x, w, (stride, stride), "SAME", dimension_numbers=DN)


def lax_conv_transpose(x, w):
  return lax.conv_transpose(x, w, (2, 2), "SAME", dimension_numbers=DN)


CASES = [
    ("d_conv1", convs.conv3x3_s2, lax_conv(2), (3, 28, 28, 1), (3, 3, 1, 16)),
    ("d_conv2", convs.conv3x3_s2, lax_conv(2), (3, 14, 14, 24), (3, 3, 24, 16)),
    ("odd_size", convs.conv3x3_s2, lax_conv(2), (2, 7, 9, 4), (3, 3, 4, 5)),
    ("g_convt1", convs.conv_transpose4x4_s2, lax_conv_transpose, (3, 7, 7, 24), (4, 4, 24, 16)),
    ("g_convt2", convs.conv_transpose4x4_s2, lax_conv_transpose, (2, 14, 14, 16), (4, 4, 16, 24)),
    ("g_conv_out", convs.conv7x7_to1, lax_conv(1), (2, 28, 28, 24), (7, 7, 24, 1)),
]


@pytest.mark.parametrize("name,fast,ref,x_shape,w_shape", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_lax(name, fast, ref, x_shape, w_shape):
  kx, kw, kc = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, x_shape)
  w = jax.random.normal(kw, w_shape) / np.sqrt(np.prod(w_shape[:3]))
  y_fast, y_ref = jax.jit(fast)(x, w), ref(x, w)
  assert y_fast.shape == y_ref.shape
  np.testing.assert_allclose(y_fast, y_ref, atol=1e-5, rtol=1e-5)

  cotangent = jax.random.normal(kc, y_ref.shape)
  g_fast = jax.jit(jax.grad(lambda x, w: jnp.vdot(fast(x, w), cotangent), (0, 1)))(x, w)
  g_ref = jax.grad(lambda x, w: jnp.vdot(ref(x, w), cotangent), (0, 1))(x, w)
  for a, b in zip(g_fast, g_ref):
    np.testing.assert_allclose(a, b, atol=1e-4 * float(jnp.abs(b).max()), rtol=1e-5)
