"""The benchmark command runs (it times nothing here: timings belong to `python -m gan_jax.bench`)."""

import json

import pytest

from gan_jax import bench


def test_iteration_flop_count_matches_the_issue():
  assert bench.iteration_gflop(128) == pytest.approx(72.1, abs=0.1)


def test_bench_runs_and_reports_json(capsys):
  assert bench.main(["--batch-size", "8", "--iters", "2", "--repeats", "1", "--data-size", "256",
                     "--only", "gan_jax_fused,keras_seed", "--json"]) == 0
  report = json.loads(capsys.readouterr().out)
  assert set(report["results"]) == {"gan_jax_fused", "keras_seed"}
  for r in report["results"].values():
    assert r["it_per_s"] > 0 and r["peak_rss_mb"] > 0 and r["x_keras_seed"] > 0
  assert report["matmul_peak_gflop_per_s"] > 0 and report["batch_size"] == 8


def test_bench_rejects_unknown_implementation():
  with pytest.raises(SystemExit) as err:
    bench.main(["--only", "caffe", "--iters", "1", "--repeats", "1"])
  assert err.value.code == 2
