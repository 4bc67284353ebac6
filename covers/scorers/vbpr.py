"""VBPR (He & McAuley 2016): BPR with a visual term, the canonical "covers + CF" model, from Cornac.

score(u, i) = b_i + beta' . f_i + gamma_u . gamma_i + theta_u . (E f_i), with f_i the run's own
cover features (the normalised matrix the index sees) in place of the paper's CNN features.
Not a "content" method: it reads every item's own thumbs through b_i and gamma_i; it answers
"do covers add anything to CF?". Cornac trains it with PyTorch (the optional ``deep`` extra).
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd

from covers.scorers.base import Context, Scorer, Scores
from covers.scorers.cf import cornac_dataset, ups_matrix


def require_torch(part: str):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{part} needs PyTorch: pip install -e '.[deep]' (make setup-dev installs it)") from None
    return torch


class VBPRScorer(Scorer):
    tune_grid = {"lambda_w": (0.001, 0.01, 0.1)}

    def __init__(self, factors: int = 10, visual_factors: int = 10, epochs: int = 30, batch_size: int = 1000,
                 learning_rate: float = 0.01, lambda_w: float = 0.01, lambda_b: float = 0.01,
                 lambda_e: float = 0.0, seed: int = 0) -> None:
        self.factors = factors
        self.visual_factors = visual_factors
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lambda_w = lambda_w
        self.lambda_b = lambda_b
        self.lambda_e = lambda_e
        self.seed = seed

    def check(self) -> None:
        self._require_int("factors", "visual_factors", "epochs", "batch_size")
        for name in ("learning_rate",):
            if not getattr(self, name) > 0:
                raise ValueError(f"VBPRScorer: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("lambda_w", "lambda_b", "lambda_e"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"VBPRScorer: {name} must be >= 0, got {getattr(self, name)!r}")

    def fit(self, train: pd.DataFrame, ctx: Context) -> "VBPRScorer":
        self.check()
        torch = require_torch("VBPRScorer")
        from cornac.data import ImageModality
        from cornac.models import VBPR

        if ctx.features is None:
            raise ValueError("VBPRScorer needs the feature matrix in the context")
        m = ups_matrix(train, ctx.n_users, ctx.n_items)
        data = cornac_dataset(m)
        data.add_modalities(item_image=ImageModality(features=np.asarray(ctx.features, np.float32),
                                                     ids=list(range(ctx.n_items))))
        torch.manual_seed(self.seed)  # Cornac seeds numpy, not torch's own generator
        model = VBPR(k=self.factors, k2=self.visual_factors, n_epochs=self.epochs, batch_size=self.batch_size,
                     learning_rate=self.learning_rate, lambda_w=self.lambda_w, lambda_b=self.lambda_b,
                     lambda_e=self.lambda_e, use_gpu=False, verbose=False, seed=self.seed)
        with contextlib.redirect_stdout(io.StringIO()):  # Cornac prints "Optimization finished!" regardless
            model.fit(data)
        self.item_score_ = np.asarray(model.beta_item, np.float64).ravel() + np.asarray(model.visual_bias, np.float64)
        self.user_f_ = np.hstack([model.gamma_user, model.theta_user]).astype(np.float64)
        self.item_f_ = np.hstack([model.gamma_item, model.theta_item]).astype(np.float64)
        self.user_seen_ = np.diff(m.indptr) > 0
        return self

    def score(self, test: pd.DataFrame) -> Scores:
        u = test["user"].to_numpy()
        it = test["item"].to_numpy()
        covered = self.user_seen_[u]  # the visual term scores cold items too
        s = self.item_score_[it] + (self.user_f_[u] * self.item_f_[it]).sum(1)
        return Scores(np.where(covered, s, 0.0), covered)
