"""The evaluation's central claims on the synthetic world: CF beats chance when items are warm and
is blind on cold items, where covers (and the cover->CF mapping) still carry signal; and with
thumbs independent of covers, every content scorer stays within its interval of 0.5."""
from __future__ import annotations

import pytest

from conftest import compose
from covers.app.task import run_job

WORLD = ["dataset.n_items=1600", "dataset.n_users=400", "dataset.mean_thumbs_per_user=60", "isolate=false",
         "eval.n_bootstrap=300", "eval.recall_queries=100"]


def job(tmp_path, *extra):
    return run_job(compose(tmp_path, [*WORLD, *extra]), tmp_path / "out")["metrics"]


@pytest.mark.slow
def test_cf_collapses_on_cold_items_while_covers_do_not(tmp_path):
    warm = job(tmp_path, "+dataset.signal=4.0")
    for cf in ("als", "bpr"):
        assert warm[f"user_auc_lo_{cf}"] > 0.5, cf  # clearly above chance on warm items
    cold = job(tmp_path, "+dataset.signal=4.0", "split=cold_items")
    for cf in ("als", "bpr", "item_knn_cf", "popularity"):
        assert cold[f"coverage_{cf}"] == 0.0 and cold[f"user_auc_{cf}"] == 0.5, cf  # no evidence at all
    assert cold["user_auc_lo"] > 0.5  # cover kNN
    assert cold["user_auc_lo_content_to_cf"] > 0.5  # the mapping scores cold items from their covers
    assert cold["split_train_items"] + cold["split_test_items"] <= 1600


@pytest.mark.slow
@pytest.mark.parametrize("scorer", ["knn", "centroid"])
def test_content_scorers_stay_at_chance_when_thumbs_ignore_covers(tmp_path, scorer):
    m = job(tmp_path, "+dataset.signal=0.0", "+dataset.quality_weight=0.0", f"scorer={scorer}", "baselines=simple")
    assert m["user_auc_lo"] <= 0.5 <= m["user_auc_hi"], (m["user_auc_lo"], m["user_auc_hi"])
