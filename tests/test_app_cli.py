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
