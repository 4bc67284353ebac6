"""covers.scorers.vbpr: VBPR (He & McAuley 2016) from Cornac with the run's cover features: scores
equal to Cornac's formula from the fitted arrays and to Cornac's own ``score``, the same scores
for the same seed, cold items scored through their covers, and a clear ImportError naming the
``deep`` extra without PyTorch. Tiny data (30 users, 40 items, 3 epochs) to stay fast."""
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import need, thumbs_frame
from covers.scorers.base import Context
from covers.scorers.vbpr import VBPRScorer, require_torch

KW = dict(factors=4, visual_factors=3, epochs=3, batch_size=32, learning_rate=0.01, seed=7)


def world():
    rng = np.random.default_rng(0)
    t = thumbs_frame(rng, 30, 40, 12)
    t = t[(t["item"] != 39) & (t["user"] != 29)]  # item 39 cold, user 29 without train thumbs
    X = rng.normal(size=(40, 8)).astype(np.float32)
    test = pd.DataFrame({"user": np.repeat(np.arange(30), 3), "item": np.tile([0, 20, 39], 30)})
    return t, X, test


def test_vbpr_scores_are_cornacs_formula_and_seeded():
    need("torch", "deep")
    t, X, test = world()
    ctx = Context(30, 40, features=X)
    m = VBPRScorer(**KW).fit(t, ctx)
    sc = m.score(test)
    u, i = test["user"].to_numpy(), test["item"].to_numpy()
    want = m.item_score_[i] + (m.user_f_[u] * m.item_f_[i]).sum(1)
    covered = u != 29
    assert sc.covered.tolist() == covered.tolist()  # the cold item 39 is scored, from its cover
    np.testing.assert_allclose(sc.scores, np.where(covered, want, 0.0), rtol=1e-12)
    assert np.all(sc.scores[~covered] == 0.0) and np.isfinite(sc.scores).all()
    # the same seed: the same scores; the torch generator is seeded too, not only numpy's
    again = VBPRScorer(**KW).fit(t, ctx).score(test).scores
    assert np.array_equal(again, sc.scores)
    assert not np.allclose(VBPRScorer(**{**KW, "seed": 8}).fit(t, ctx).score(test).scores, sc.scores)


def test_vbpr_equals_a_cornac_model_fitted_the_same_way():
    torch = need("torch", "deep")
    import contextlib
    import io

    from cornac.data import ImageModality
    from cornac.models import VBPR

    from covers.scorers.cf import cornac_dataset, ups_matrix

    t, X, test = world()
    sc = VBPRScorer(**KW).fit(t, Context(30, 40, features=X)).score(test)
    data = cornac_dataset(ups_matrix(t, 30, 40))
    data.add_modalities(item_image=ImageModality(features=X, ids=list(range(40))))
    torch.manual_seed(7)
    ref = VBPR(k=4, k2=3, n_epochs=3, batch_size=32, learning_rate=0.01, lambda_w=0.01, lambda_b=0.01, lambda_e=0.0,
               use_gpu=False, verbose=False, seed=7)
    with contextlib.redirect_stdout(io.StringIO()):
        ref.fit(data)
    keep = test["user"].to_numpy() != 29
    want = [ref.score(a, b) for a, b in zip(test["user"][keep], test["item"][keep])]
    np.testing.assert_allclose(sc.scores[keep], want, rtol=1e-5, atol=1e-6)


def test_vbpr_without_torch_names_the_deep_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"\[deep\]"):
        require_torch("VBPRScorer")
    t, X, _ = world()
    with pytest.raises(ImportError, match="VBPRScorer needs PyTorch.*deep"):
        VBPRScorer(**KW).fit(t, Context(30, 40, features=X))


def test_vbpr_refuses_what_it_cannot_use():
    t = pd.DataFrame({"user": [0], "item": [0], "thumb": [1]})
    for kw, match in ((dict(factors=0), "VBPRScorer: factors"), (dict(learning_rate=0.0), "VBPRScorer: learning_rate"),
                      (dict(lambda_e=-1.0), "VBPRScorer: lambda_e"), (dict(epochs=0), "VBPRScorer: epochs")):
        with pytest.raises(ValueError, match=match):
            VBPRScorer(**kw).fit(t, Context(1, 1, features=np.ones((1, 2))))
    need("torch", "deep")
    with pytest.raises(ValueError, match="needs the feature matrix"):
        VBPRScorer().fit(t, Context(1, 1))
