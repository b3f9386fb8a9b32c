"""Image grids as PNG files (Pillow)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image


def to_uint8(images_NxHxWx1: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8 [0, 255], the inverse of the seed's scaling."""
  x = np.asarray(images_NxHxWx1, np.float32)[..., 0]
  return np.clip(np.rint(x * 127.5 + 127.5), 0, 255).astype(np.uint8)


def grid(images_NxHxWx1: np.ndarray, ncol: int = 10, pad: int = 2, scale: int = 2) -> np.ndarray:
  """Tile N images into rows of ``ncol``, white-padded, upscaled ``scale``x; uint8 (H, W)."""
  x = to_uint8(images_NxHxWx1)
  n, h, w = x.shape
  nrow = -(-n // ncol)
  canvas = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), 255, np.uint8)
  for i in range(n):
    r, c = divmod(i, ncol)
    top, left = pad + r * (h + pad), pad + c * (w + pad)
    canvas[top : top + h, left : left + w] = x[i]
  return np.kron(canvas, np.ones((scale, scale), np.uint8)) if scale > 1 else canvas


def save_png(pixels_HxW: np.ndarray, path: str | os.PathLike) -> Path:
  """Write atomically, so a watcher never sees half a PNG."""
  path = Path(path)
  tmp = path.with_name(path.name + ".tmp")
  Image.fromarray(pixels_HxW).save(tmp, format="PNG")
  os.replace(tmp, path)
  return path


def save_grid(images_NxHxWx1: np.ndarray, path: str | os.PathLike, ncol: int = 10) -> Path:
  return save_png(grid(images_NxHxWx1, ncol), path)
