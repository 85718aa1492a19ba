"""Toy sides for tests/serving/test_serving_process_rss.py, in a module of their own: a serving process
unpickles a side by importing its class, which a test module imported by pytest (importlib mode) is not
importable as. Numpy only: no TensorFlow."""
from __future__ import annotations

import threading

import numpy as np


class SmallSide:
    def __init__(self, name: str) -> None:
        self.name = name

    def featurize(self, batch):
        return None

    def predict(self, batch):
        return 1.0 / (1.0 + np.exp(-batch["x"].to_numpy()))

    def config(self):
        return {}


class BallastSide(SmallSide):
    """A side whose model holds ``mb`` megabytes (pages written, so resident in whichever process holds it)."""

    def __init__(self, name: str, mb: int) -> None:
        super().__init__(name)
        self.ballast = np.ones(mb * 2**20 // 8)


class UnpicklableSide(SmallSide):
    """A side holding a lock, which pickle refuses (as a loaded SavedModel or an open session would be)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.lock = threading.Lock()


class FailingSide(SmallSide):
    def predict(self, batch):
        raise RuntimeError("scorer is down")


class ZeroSide(SmallSide):
    """Zeros for any columns (the golden frame of a real dataset has no ``x``)."""

    def predict(self, batch):
        return np.zeros(len(batch))
