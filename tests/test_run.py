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
        (["--batch-size", 7], "--batch-size: must be positive and even"),
        (["--lr", "fast"], "--lr: 'fast' is not a number"),
        (["--sampling", "sometimes"], "invalid choice"),
    ],
)
def test_bad_flags_exit_2_with_one_message(tmp_path, args, message):
  result = run(*args, "--workdir", tmp_path / "w", timeout=60)
  assert result.returncode == 2 and message in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "w").exists()


def test_batch_larger_than_dataset_and_missing_data_exit_2(tmp_path, idx_dir, tfds_dir, capsys):
  from gan_jax import cli  # run.py's main, in-process: TensorFlow's start-up is paid once

  with pytest.raises(SystemExit) as err:
    cli.main(["--batch-size", "512", "--idx-dir", str(idx_dir), "--data-dir", str(tfds_dir),
              "--workdir", str(tmp_path / "w")])
  assert err.value.code == 2 and "larger than the training set (256 images)" in capsys.readouterr().err
  assert cli.main(["--idx-dir", str(tmp_path / "nothing"), "--data-dir", str(tfds_dir),
                   "--workdir", str(tmp_path / "w")]) == 2
  message = capsys.readouterr().err
  assert "no such folder" in message and "apt-get install" in message and "Traceback" not in message
  assert not (tmp_path / "w").exists()


# --- sampling, evaluation and pictures on the run's workdir (in-process CLIs) ---


def test_sample_cli_writes_grid_npy_and_interpolation_deterministically(small_run, tmp_path):
  import numpy as np
  from PIL import Image

  from gan_jax import sample

  workdir, _ = small_run
  args = ["--workdir", str(workdir), "--seed", "3"]
  assert sample.main([*args, "--grid", str(tmp_path / "g.png"), "--n", "7", "--out", str(tmp_path / "a.npy"),
                      "--interpolate", str(tmp_path / "i.png"), "--seeds", "1", "2"]) == 0
  assert Image.open(tmp_path / "g.png").size == (604, 604)
  a = np.load(tmp_path / "a.npy")
  assert a.shape == (7, 28, 28, 1) and a.dtype == np.float32 and np.abs(a).max() <= 1
  assert sample.main([*args, "--n", "7", "--out", str(tmp_path / "b.npz")]) == 0
  np.testing.assert_array_equal(np.load(tmp_path / "b.npz")["images"], a)  # same seed, same checkpoint
  explicit = str(workdir / "checkpoints" / "4")
  assert sample.main(["--checkpoint", explicit, "--seed", "3", "--n", "7", "--out", str(tmp_path / "c.npy")]) == 0
  np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), a)
  assert sample.main(["--checkpoint", str(workdir / "generator.msgpack"), "--seed", "4", "--n", "7",
                      "--out", str(tmp_path / "d.npy")]) == 0
  assert not np.array_equal(np.load(tmp_path / "d.npy"), a)
  assert Image.open(tmp_path / "i.png").size[0] > Image.open(tmp_path / "i.png").size[1]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--n", "0", "--out", "x.npy"], "--n: must be positive"),
        (["--n", "-3", "--out", "x.npy"], "--n: must be positive"),
        (["--grid", "/no/such/folder/g.png"], "folder /no/such/folder does not exist"),
        (["--n", "5", "--out", "x.txt"], "must end in .npy or .npz"),
        ([], "nothing to write"),
        (["--grid", "g.png", "--class", "7"], "--class needs a conditional run"),
    ],
)
def test_sample_bad_input_exits_2_and_writes_nothing(small_run, tmp_path, capsys, args, message, monkeypatch):
  from gan_jax import sample

  monkeypatch.chdir(tmp_path)
  with pytest.raises(SystemExit) as err:
    sample.main(["--workdir", str(small_run[0]), *args])
  assert err.value.code == 2 and message in capsys.readouterr().err
  assert list(tmp_path.iterdir()) == []


def test_sample_without_a_run_exits_2(tmp_path, capsys):
  from gan_jax import sample

  assert sample.main(["--workdir", str(tmp_path), "--grid", str(tmp_path / "g.png")]) == 2
  assert "no checkpoint and no generator.msgpack" in capsys.readouterr().err


def test_evaluate_cli_scores_a_run_with_references(small_run, idx_dir, tfds_dir, capsys):
  from gan_jax import evaluate

  workdir, _ = small_run
  common = ["--idx-dir", str(idx_dir), "--data-dir", str(tfds_dir)]
  assert evaluate.main(["--workdir", str(workdir), "--n", "64", "--json", *common]) == 0
  result = json.loads(capsys.readouterr().out)
  for key in ("fd", "kid", "kid_std", "precision", "recall", "density", "coverage", "class_hist", "inception_score"):
    assert key in result and key in result["references"]["train_vs_test"]
  assert result["n"] == 64 and len(result["class_hist"]["shares"]) == 10
  floor, ceiling = result["references"]["train_vs_test"]["fd"], result["references"]["noise_vs_test"]["fd"]
  assert floor < ceiling
  assert evaluate.main(["--workdir", str(workdir), "--n", "64", "--no-references", *common]) == 0
  assert "| fd |" in capsys.readouterr().out


def test_plots_from_the_run(small_run):
  from PIL import Image

  from gan_jax import plots

  workdir, _ = small_run
  assert (workdir / "losses.png").is_file()  # refreshed by the training loop each epoch
  assert plots.main(["--workdir", str(workdir)]) == 0
  gif = Image.open(workdir / "progress.gif")
  assert gif.n_frames == 2


def test_eval_every_logs_metrics_and_keeps_the_best_checkpoint(idx_dir, tfds_dir, tmp_path):
  from gan_jax import Config
  from gan_jax.plots import read_metrics
  from gan_jax.train import train_and_evaluate

  config = Config(batch_size=8, steps_per_epoch=2, epochs=2, idx_dir=str(idx_dir), data_dir=str(tfds_dir),
                  progress=False, eval_every=1, eval_samples=64)
  train_and_evaluate(config, tmp_path / "w")
  evals = [r for r in read_metrics(tmp_path / "w" / "metrics.jsonl") if r.get("kind") == "eval"]
  assert [r["epoch"] for r in evals] == [1, 2]
  for r in evals:
    assert not r["ema"] and r["fd"] > 0 and 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
  assert evals[0]["best"]  # the first evaluation is the best so far
  best_steps = [p.name for p in (tmp_path / "w" / "checkpoints_best").iterdir() if p.name.isdigit()]
  assert len(best_steps) == 1 and int(best_steps[0]) in {r["step"] for r in evals if r.get("best")}
