"""Fault injection for the harness's own tests of failure isolation (not for experiments).

``features._target_=covers.app.faults.FaultyFeatures features.fault=sigkill`` makes a job's
work process die the way the OOM killer would kill it; ``fault=raise`` makes it fail.
"""
from __future__ import annotations

import os
import signal

import numpy as np

from covers.features.pixel import PixelFeatures


class FaultyFeatures(PixelFeatures):
    def __init__(self, size: int = 16, mode: str = "gray", fault: str = "raise") -> None:
        super().__init__(size, mode)
        self.fault = fault

    def check(self) -> None:
        super().check()
        if self.fault not in ("raise", "sigkill", "none"):
            raise ValueError(f"FaultyFeatures: fault must be raise, sigkill or none, got {self.fault!r}")

    def transform(self, images: np.ndarray) -> np.ndarray:
        if self.fault == "raise":
            raise RuntimeError("injected failure (covers.app.faults.FaultyFeatures)")
        if self.fault == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        return super().transform(images)
