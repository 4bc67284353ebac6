"""Experiment tracking: the only package that imports MLflow.

``write`` logs a job's run (and a sweep's parent run), ``read`` finds and compares logged runs,
``reproduce`` re-runs one from what it logged. This ``__init__`` imports no MLflow, so commands
that only need the store's address (``python -m covers cache info``) stay light.
"""
from __future__ import annotations

import os

from covers.utils import PROJECT_ROOT


def resolve_uri(configured: str | None) -> str:
    """``tracking.uri`` if set, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<project>/mlflow.db``."""
    if configured:
        return str(configured)
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
