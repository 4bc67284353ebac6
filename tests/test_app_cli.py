"""``python -m covers`` (covers.app.cli): the cache command's report and clearing, and the
commands' usage."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ENV, ROOT
from covers.app.cli import main


def test_cache_command_reports_and_clears(tmp_path):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "a.npy").write_bytes(b"0" * 2048)
    (tmp_path / "features" / "a.npy.lock").write_bytes(b"")  # a lock is not an entry
    (tmp_path / "index").mkdir()
    info = subprocess.run([sys.executable, "-m", "covers", "cache", "info", "--cache-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=60)
    lines = {line.split()[0]: line.split()[1:] for line in info.stdout.splitlines()}
    assert lines["features"][:2] == ["1", "entries"] and lines["index"][:2] == ["0", "entries"], info.stdout
    subprocess.run([sys.executable, "-m", "covers", "cache", "clear", "--cache-dir", str(tmp_path), "--kind", "features"],
                   cwd=ROOT, env=ENV, check=True, capture_output=True, timeout=60)
    assert not (tmp_path / "features").exists() and (tmp_path / "index").exists()


def test_cache_command_in_process(tmp_path, capsys):
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "none")]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'none'}: no cache"
    for kind in ("features", "worlds"):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "x").write_bytes(b"0" * 2**20)  # 1 MiB each
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "features          1 entries        1.0 MiB" in out and out.splitlines()[-1].split()[:2] == ["total", "2.0"]
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0  # every kind
    assert sorted(capsys.readouterr().out.split("\n")[:-1]) == [f"removed {tmp_path / 'features'} (1.0 MiB)",
                                                                 f"removed {tmp_path / 'worlds'} (1.0 MiB)"]
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["cache", "shrink"])
    assert e.value.code == 2


def test_cache_info_imports_neither_mlflow_nor_hydra(tmp_path):
    """``python -m covers cache info`` stays light (the README says so): checked in a fresh interpreter."""
    code = ("import sys; from covers.app.cli import main; main(['cache', 'info', '--cache-dir', sys.argv[1]]); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'hydra', 'omegaconf'}))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_paired_command_runs_two_logged_runs_and_names_a_bad_id(tmp_path, capsys):
    import mlflow
    import numpy as np
    import pandas as pd

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    rng = np.random.default_rng(0)
    n = 400
    base = pd.DataFrame({"user_id": [f"u{i % 40}" for i in range(n)], "item_id": [f"i{i}" for i in range(n)],
                         "user": np.arange(n) % 40, "item": np.arange(n), "thumb": rng.integers(0, 2, n)})
    ids = []
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("t")
    for k, s in enumerate((base["thumb"] + rng.normal(0, 1, n), rng.normal(0, 1, n))):
        p = tmp_path / f"r{k}" / "scores.parquet"
        p.parent.mkdir()
        base.assign(score_method=s).to_parquet(p)
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(p))
            ids.append(run.info.run_id)
    assert main(["paired", ids[0], ids[1], "--tracking-uri", uri, "--n-boot", "50"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith("user_auc ") and f"({ids[0]}) minus" in out and "over 40 users" in out, out
    diff = float(out.split("users: ")[1].split()[0])
    assert diff > 0.1  # the first run's scores follow the thumbs, the second's are noise
    assert main(["paired", ids[0], "nope", "--tracking-uri", uri]) == 2
    assert "run 'nope' has no scores.parquet" in capsys.readouterr().out
