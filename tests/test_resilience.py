"""Interruptions, bad checkpoints, divergence and bad workdirs (issue: training that survives)."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT
from gan_jax import Config
from gan_jax import checkpointing as ckpt
from gan_jax.train import TrainingError, WorkdirError, train_and_evaluate

RUN_ARGS = ["--batch-size", 8, "--steps-per-epoch", 10, "--epochs", 3, "--chunk", 1, "--log-every", 1, "--no-progress"]


def tiny(idx_dir, tfds_dir, **kw) -> Config:
  base = dict(batch_size=8, steps_per_epoch=2, epochs=1, idx_dir=str(idx_dir), data_dir=str(tfds_dir),
              progress=False, log_every=1)
  return Config(**{**base, **kw})


def start(workdir, idx_dir, tfds_dir, *extra):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  args = [sys.executable, str(ROOT / "run.py"), *map(str, RUN_ARGS), "--idx-dir", str(idx_dir),
          "--data-dir", str(tfds_dir), "--workdir", str(workdir), *map(str, extra)]
  return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for_epoch(workdir, epoch: int, proc, timeout=120.0) -> int:
  """Block until the previous epoch's checkpoint is committed and metrics.jsonl
  shows an iteration of ``epoch``; returns that iteration's step."""
  path, deadline = workdir / "metrics.jsonl", time.time() + timeout
  committed = workdir / "checkpoints" / str(10 * (epoch - 1))
  while time.time() < deadline:
    if path.exists() and committed.is_dir():
      for line in reversed(path.read_text().splitlines()):
        try:
          record = json.loads(line)
        except ValueError:
          continue
        if record.get("epoch") == epoch and "kind" not in record:
          return record["step"]
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.005)
  raise TimeoutError(f"epoch {epoch} never started")


def final_params(workdir):
  config, g_params, _ = ckpt.load_generator(workdir / ckpt.GENERATOR_FILE)
  manager = ckpt.make_manager(workdir, config)
  state = ckpt.restore(manager, config, manager.latest_step())
  manager.close()
  assert np.array_equal(np.asarray(g_params["convt2"]["kernel"]), np.asarray(state.g_params["convt2"]["kernel"]))
  return state


def assert_bit_identical(a, b):
  import jax

  assert int(a.step) == int(b.step)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def committed_steps(workdir) -> list[int]:
  return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.fixture(scope="module")
def straight(idx_dir, tfds_dir, tmp_path_factory):
  """The uninterrupted run, in-process (same program as run.py's, minus the start-up cost)."""
  workdir = tmp_path_factory.mktemp("straight") / "w"
  train_and_evaluate(tiny(idx_dir, tfds_dir, steps_per_epoch=10, epochs=3, chunk=1), workdir)
  return workdir, final_params(workdir)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(straight, idx_dir, tfds_dir, tmp_path):
  workdir = tmp_path / "w"
  proc = start(workdir, idx_dir, tfds_dir)
  killed_at = wait_for_epoch(workdir, 2, proc)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  assert proc.returncode == -signal.SIGKILL
  assert 10 < killed_at < 20 and committed_steps(workdir) == [10]

  resumed = start(workdir, idx_dir, tfds_dir, "--seed-log")
  out, err = resumed.communicate(timeout=240)
  assert resumed.returncode == 0, err
  assert "Resuming from" in err and "(step 10)" in err
  assert ">2, 1/10, d1=" in out and ">3, 10/10, d1=" in out and ">1," not in out
  assert (workdir / "samples" / "epoch_0003.png").is_file() and committed_steps(workdir)[-1] == 30
  assert_bit_identical(final_params(workdir), straight[1])
  lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines if "kind" not in l] == list(range(1, 31))  # no duplicates from the killed run


def test_sigint_checkpoints_exits_130_and_resumes_exactly(straight, idx_dir, tfds_dir, tmp_path):
  workdir = tmp_path / "w"
  proc = start(workdir, idx_dir, tfds_dir)
  wait_for_epoch(workdir, 2, proc)
  proc.send_signal(signal.SIGINT)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err
  assert "checkpoint saved. Resume with the same command" in err and "Traceback" not in err
  steps = committed_steps(workdir)
  assert steps[0] == 10 and 10 < steps[-1] < 30  # a checkpoint of the interrupted, mid-epoch step

  # Resumed in-process (the SIGKILL test above resumes through run.py).
  train_and_evaluate(tiny(idx_dir, tfds_dir, steps_per_epoch=10, epochs=3, chunk=1), workdir)
  assert_bit_identical(final_params(workdir), straight[1])


def test_second_ctrl_c_exits_at_once():
  code = ("import time\nfrom gan_jax.train import _StopRequests\nwith _StopRequests():\n"
          "  print('ready', flush=True)\n  time.sleep(60)\n")
  proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == "ready"
  proc.send_signal(signal.SIGINT)
  time.sleep(0.2)
  assert proc.poll() is None  # the first one only asks for a stop at the next chunk boundary
  t0 = time.time()
  proc.send_signal(signal.SIGINT)
  proc.wait(timeout=10)
  assert proc.returncode == 130 and time.time() - t0 < 5
  assert "send it again to exit at once" in proc.stderr.read()


KILL_DURING_SAVE = """
import sys, time
import jax.numpy as jnp, numpy as np, orbax.checkpoint as ocp
manager = ocp.CheckpointManager(sys.argv[1], options=ocp.CheckpointManagerOptions(enable_async_checkpointing=False))
manager.save(1, args=ocp.args.StandardSave({"w": jnp.ones(4)}))
print("saved 1", flush=True)
big = {f"w{i}": np.random.default_rng(i).standard_normal(2**24, dtype=np.float32) for i in range(8)}  # 512 MB
manager.save(2, args=ocp.args.StandardSave(big))
print("saved 2", flush=True)
"""


def test_kill_during_checkpoint_write_leaves_no_usable_partial(tmp_path):
  import orbax.checkpoint as ocp

  proc = subprocess.Popen([sys.executable, "-c", KILL_DURING_SAVE, str(tmp_path)], stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == "saved 1"
  deadline = time.time() + 60
  while not any("2" in p.name for p in tmp_path.iterdir()) and time.time() < deadline:
    time.sleep(0.002)  # wait for step 2's write to begin
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  assert proc.returncode == -signal.SIGKILL
  leftovers = [p.name for p in tmp_path.iterdir() if p.name != "1"]
  assert leftovers and all("tmp" in name for name in leftovers)  # an uncommitted temporary folder
  manager = ocp.CheckpointManager(tmp_path)
  assert manager.all_steps() == [1] and manager.latest_step() == 1
  assert np.array_equal(manager.restore(1, args=ocp.args.StandardRestore({"w": np.zeros(4)}))["w"], np.ones(4))


# orbax leaves un-awaited read coroutines behind when a restore fails part-way.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_corrupt_latest_checkpoint_falls_back_with_a_warning(idx_dir, tfds_dir, tmp_path, caplog):
  workdir = tmp_path / "w"
  train_and_evaluate(tiny(idx_dir, tfds_dir, epochs=2), workdir)  # checkpoints 2 and 4
  data_files = sorted((workdir / "checkpoints" / "4" / "state").rglob("d/*"), key=lambda p: p.stat().st_size)
  biggest = data_files[-1]
  biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 3])  # truncate
  with caplog.at_level(logging.WARNING, logger="gan_jax"):
    state = train_and_evaluate(tiny(idx_dir, tfds_dir, epochs=2), workdir)
  message = caplog.text
  assert f"{workdir / 'checkpoints' / '4'}" in message and f"previous good one, {workdir / 'checkpoints' / '2'}" in message
  assert int(state.step) == 4 and list((workdir / "checkpoints_corrupt").iterdir())
  assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [2, 4]


def test_nan_stops_with_step_and_loss_and_keeps_the_last_checkpoint(idx_dir, tfds_dir, tmp_path):
  workdir = tmp_path / "w"
  train_and_evaluate(tiny(idx_dir, tfds_dir), workdir)
  before = {p: p.stat().st_mtime_ns for p in (workdir / "checkpoints").rglob("*")}
  with pytest.raises(TrainingError, match=r"non-finite loss at step [34]: (d1|d2|g)=(nan|inf)"):
    train_and_evaluate(tiny(idx_dir, tfds_dir, epochs=2, lr=1e38), workdir, allow_config_change=True)
  assert {p: p.stat().st_mtime_ns for p in (workdir / "checkpoints").rglob("*")} == before


def test_checkpoint_from_another_architecture_is_refused(idx_dir, tfds_dir, tmp_path):
  workdir = tmp_path / "w"
  train_and_evaluate(tiny(idx_dir, tfds_dir), workdir)
  with pytest.raises(ckpt.CheckpointError, match="latent_dim: checkpoint 100 vs this run 64"):
    train_and_evaluate(tiny(idx_dir, tfds_dir, epochs=2, latent_dim=64), workdir)
  with pytest.raises(ckpt.CheckpointError, match="lr: .*--allow-config-change"):
    train_and_evaluate(tiny(idx_dir, tfds_dir, epochs=2, lr=1e-3), workdir)


def test_unwritable_workdir_fails_before_training(idx_dir, tfds_dir, tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("")
  with pytest.raises(WorkdirError, match="not writable"):
    train_and_evaluate(tiny(idx_dir, tfds_dir), blocker / "w")


def test_full_disk_fails_before_training(idx_dir, tfds_dir, tmp_path):
  mount_point = tmp_path / "small_disk"
  mount_point.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                    capture_output=True).returncode:
    pytest.skip("cannot mount a small tmpfs here (needs root)")
  try:
    with pytest.raises(WorkdirError, match="(No space left|MiB free)"):
      train_and_evaluate(tiny(idx_dir, tfds_dir), mount_point / "w")
  finally:
    subprocess.run(["umount", str(mount_point)], check=True)
