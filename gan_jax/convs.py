"""The seed's three convolution shapes written as matmuls, with hand-written VJPs.

Why this file exists: XLA:CPU lowers convolution weight gradients (and the
lhs-dilated convolutions behind ConvTranspose) to a slow generic loop, about
0.5 GFLOP/s here, while its matmuls run near the machine's peak.  Each op below
keeps Flax's kernel layout and the exact ``lax`` semantics (tested against
``lax.conv_general_dilated`` / ``lax.conv_transpose`` in forward and gradient),
so parameters and checkpoints do not depend on which implementation ran.

Shapes go in names: B batch, H/W spatial, C channels, K taps*channels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _im2col(xp_BxHpxWpxC: jax.Array, k: int, stride: int, ho: int, wo: int) -> jax.Array:
  """Patches of a padded input, taps major and channels minor: (B, ho, wo, k*k*C)."""
  b, hp, wp, c = xp_BxHpxWpxC.shape
  if stride == 2:
    # Strided slices as unit-stride slices of a (row, phase) view: XLA then fuses
    # them into the stack instead of materialising each tap first.
    hp2, wp2 = hp + hp % 2, wp + wp % 2
    xp = jnp.pad(xp_BxHpxWpxC, ((0, 0), (0, hp2 - hp), (0, wp2 - wp), (0, 0)))
    x6 = xp.reshape(b, hp2 // 2, 2, wp2 // 2, 2, c)
    cols = [
        x6[:, i // 2 : i // 2 + ho, i % 2, j // 2 : j // 2 + wo, j % 2, :]
        for i in range(k)
        for j in range(k)
    ]
    return _concat_channels(cols)
  span_h, span_w = stride * (ho - 1) + 1, stride * (wo - 1) + 1
  cols = [
      xp_BxHpxWpxC[:, i : i + span_h : stride, j : j + span_w : stride, :]
      for i in range(k)
      for j in range(k)
  ]
  return _concat_channels(cols)


def _concat_channels(xs: list[jax.Array]) -> jax.Array:
  """Same result as concatenate(axis=-1); XLA:CPU copies a stack on axis -2 ~2.5x faster."""
  stacked = jnp.stack(xs, axis=-2)
  return stacked.reshape(*stacked.shape[:-2], -1)


def _col2im(cols_BxHoxWoxK: jax.Array, k: int, stride: int, hp: int, wp: int) -> jax.Array:
  """Transpose of ``_im2col``: scatter-add the taps back into the padded input."""
  b, ho, wo, kc = cols_BxHoxWoxK.shape
  c = kc // (k * k)
  taps = cols_BxHoxWoxK.reshape(b, ho, wo, k * k, c)
  span_h, span_w = stride * (ho - 1) + 1, stride * (wo - 1) + 1
  out = None
  for t in range(k * k):
    i, j = divmod(t, k)
    # Interior padding places a stride-s tap grid without a scatter op.
    piece = lax.pad(
        taps[:, :, :, t, :],
        jnp.zeros((), taps.dtype),
        ((0, 0, 0), (i, hp - i - span_h, stride - 1), (j, wp - j - span_w, stride - 1), (0, 0, 0)),
    )
    out = piece if out is None else out + piece
  return out


# --------------------------------------------------------------------------
# Conv k3 s2 SAME (the discriminator's two convolutions).  For even H, lax's
# SAME pads (0, 1): out[o] = sum_k xpad[2o + k] @ W[k].
# --------------------------------------------------------------------------


@jax.custom_vjp
def conv3x3_s2(x_BxHxWxC: jax.Array, w_3x3xCxO: jax.Array) -> jax.Array:
  return _conv3x3_s2_fwd(x_BxHxWxC, w_3x3xCxO)[0]


def _conv3x3_s2_fwd(x, w):
  b, h, wd, c = x.shape
  ho, wo = (h + 1) // 2, (wd + 1) // 2
  ph, pw = max(2 * (ho - 1) + 3 - h, 0), max(2 * (wo - 1) + 3 - wd, 0)
  xp = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
  cols_BxHoxWoxK = _im2col(xp, 3, 2, ho, wo)
  y = cols_BxHoxWoxK @ w.reshape(9 * c, -1)
  return y, (cols_BxHoxWoxK, w, x.shape)


def _conv3x3_s2_bwd(res, dy_BxHoxWoxO):
  cols, w, (b, h, wd, c) = res
  o = w.shape[-1]
  dw = jnp.einsum("bhwk,bhwo->ko", cols, dy_BxHoxWoxO).reshape(3, 3, c, o)
  dcols = dy_BxHoxWoxO @ w.reshape(9 * c, o).T
  ho, wo = dy_BxHoxWoxO.shape[1:3]
  ph, pw = max(2 * (ho - 1) + 3 - h, 0), max(2 * (wo - 1) + 3 - wd, 0)
  dxp = _col2im(dcols, 3, 2, h + ph, wd + pw)
  dx = dxp[:, ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + wd, :]
  return dx, dw


conv3x3_s2.defvjp(_conv3x3_s2_fwd, _conv3x3_s2_bwd)


# --------------------------------------------------------------------------
# ConvTranspose k4 s2 SAME, Flax layout (kh, kw, in, out), transpose_kernel=False.
# lax pads the dilated input by 2, so out[o] = sum_{i,k: o = 2i + 2 - k} x[i] @ W[k].
# Sub-pixel form: output phase r of o = 2m + r reads xpad[m + r + a] @ W[2a + r]
# for a in {0, 1} (xpad = x padded by 1): four matmuls with K = 4C, no zero taps.
# --------------------------------------------------------------------------


def _phase_kernels(w_4x4xCxO: jax.Array) -> jax.Array:
  c, o = w_4x4xCxO.shape[2:]
  w6 = w_4x4xCxO.reshape(2, 2, 2, 2, c, o)  # (a, rh, b, rw, C, O): k = 2a + r
  return w6.transpose(1, 3, 0, 2, 4, 5).reshape(2, 2, 4 * c, o)


@jax.custom_vjp
def conv_transpose4x4_s2(x_BxHxWxC: jax.Array, w_4x4xCxO: jax.Array) -> jax.Array:
  return _convt_fwd(x_BxHxWxC, w_4x4xCxO)[0]


def _convt_fwd(x, w):
  b, h, wd, c = x.shape
  o = w.shape[-1]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  wp = _phase_kernels(w)
  rows = []
  for rh in range(2):
    cols = []
    for rw in range(2):
      p_BxHxWxK = _concat_channels(
          [xp[:, rh + a : rh + a + h, rw + bb : rw + bb + wd, :] for a in range(2) for bb in range(2)]
      )
      cols.append(p_BxHxWxK @ wp[rh, rw])
    rows.append(jnp.stack(cols, axis=3))  # (B, H, W, rw, O)
  y = jnp.stack(rows, axis=2)  # (B, H, rh, W, rw, O)
  return y.reshape(b, 2 * h, 2 * wd, o), (x, w)


def _convt_bwd(res, dy_Bx2Hx2WxO):
  x, w = res
  b, h, wd, c = x.shape
  o = w.shape[-1]
  # dx[i] = sum_t dypad[2i + t] @ W[3 - t]^T: a stride-2 4x4 conv of dy.
  dyp = jnp.pad(dy_Bx2Hx2WxO, ((0, 0), (1, 1), (1, 1), (0, 0)))
  dcols_BxHxWxK = _im2col(dyp, 4, 2, h, wd)  # taps t = 3 - k
  wf = w[::-1, ::-1].transpose(0, 1, 3, 2).reshape(16 * o, c)
  dx = dcols_BxHxWxK @ wf
  dwf = jnp.einsum("bhwc,bhwk->ck", x, dcols_BxHxWxK).reshape(c, 4, 4, o)
  dw = dwf[:, ::-1, ::-1, :].transpose(1, 2, 0, 3)
  return dx, dw


conv_transpose4x4_s2.defvjp(_convt_fwd, _convt_bwd)


# --------------------------------------------------------------------------
# Conv k7 s1 SAME to a single channel (the generator's output layer).
# out[o] = sum_k x[o + k - 3] @ W[k]: one C->49 matmul, then 49 shifted adds.
# The VJP is written out because autodiff of the 49 channel slices pads each
# one back to all 49 channels and sums 49 full-size tensors.
# --------------------------------------------------------------------------


@jax.custom_vjp
def conv7x7_to1(x_BxHxWxC: jax.Array, w_7x7xCx1: jax.Array) -> jax.Array:
  return _conv7_fwd(x_BxHxWxC, w_7x7xCx1)[0]


def _conv7_fwd(x, w):
  b, h, wd, c = x.shape
  wm_Cx49 = w[..., 0].transpose(2, 0, 1).reshape(c, 49)
  y_BxHxWx49 = x @ wm_Cx49
  yp = jnp.pad(y_BxHxWx49, ((0, 0), (3, 3), (3, 3), (0, 0)))
  out = sum(yp[:, i : i + h, j : j + wd, 7 * i + j] for i in range(7) for j in range(7))
  return out[..., None], (x, w)


def _conv7_bwd(res, dy_BxHxWx1):
  x, w = res
  b, h, wd, c = x.shape
  dyp = jnp.pad(dy_BxHxWx1[..., 0], ((0, 0), (3, 3), (3, 3)))
  # dY[i, k] = dy[i - k + 3] = dypad[i + 6 - k], built in both layouts (two cheap
  # passes over a 49-channel tensor) so that neither matmul transposes an operand;
  # otherwise XLA transposes the 128-channel x (2.6x more bytes) for dW.
  taps = [dyp[:, 6 - i : 6 - i + h, 6 - j : 6 - j + wd] for i in range(7) for j in range(7)]
  dy_BxHxWx49 = jnp.stack(taps, axis=-1)
  dy_49xBHW = jnp.stack(taps, axis=0).reshape(49, -1)
  wm_Cx49 = w[..., 0].transpose(2, 0, 1).reshape(c, 49)
  dx = dy_BxHxWx49 @ wm_Cx49.T
  dwm_49xC = dy_49xBHW @ x.reshape(-1, c)
  dw = dwm_49xC.reshape(7, 7, c)[..., None]
  return dx, dw


conv7x7_to1.defvjp(_conv7_fwd, _conv7_bwd)
