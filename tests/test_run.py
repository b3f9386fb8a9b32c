"""End to end: `python run.py` in a subprocess, as users run it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT


def run(*args, env_extra=None, timeout=240):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env_extra or {})}
  return subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args)], capture_output=True, text=True,
                        timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def small_run(idx_dir, tfds_dir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run") / "w"
  result = run("--epochs", 2, "--steps-per-epoch", 2, "--batch-size", 8, "--idx-dir", idx_dir,
               "--data-dir", tfds_dir, "--workdir", workdir, "--no-progress", "--log-every", 1)
  return workdir, result


def test_run_leaves_checkpoints_metrics_samples_and_generator(small_run):
  workdir, result = small_run
  assert result.returncode == 0, result.stderr
  assert (workdir / "checkpoints" / "4").is_dir()
  assert (workdir / "samples" / "epoch_0001.png").is_file() and (workdir / "samples" / "epoch_0002.png").is_file()
  assert (workdir / "generator.msgpack").is_file()
  assert "epoch 2/2: d1=" in result.stderr
  lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines if l.get("kind") == "epoch"] == [2, 4]
  assert [l["step"] for l in lines if "kind" not in l] == [1, 2, 3, 4]
  assert all(l["d1"] > 0 and l["g"] > 0 for l in lines)
  # Resuming is covered end to end in test_resilience.py (SIGKILL and SIGINT, then a rerun).


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", 0], "--epochs: must be positive"),
        (["--batch-size", 7], "--batch-size: must be even"),
        (["--lr", "fast"], "--lr: 'fast' is not a number"),
        (["--sampling", "sometimes"], "invalid choice"),
    ],
)
def test_bad_flags_exit_2_with_one_message(tmp_path, args, message):
  result = run(*args, "--workdir", tmp_path / "w", timeout=60)
  assert result.returncode == 2 and message in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "w").exists()


def test_batch_larger_than_dataset_and_missing_data_exit_2(tmp_path, idx_dir, tfds_dir):
  result = run("--batch-size", 512, "--idx-dir", idx_dir, "--data-dir", tfds_dir, "--workdir", tmp_path / "w")
  assert result.returncode == 2 and "larger than the training set (256 images)" in result.stderr
  result = run("--idx-dir", tmp_path / "nothing", "--data-dir", tfds_dir, "--workdir", tmp_path / "w")
  assert result.returncode == 2 and "no such folder" in result.stderr and "apt-get install" in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "w").exists()
