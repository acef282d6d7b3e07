"""Shared test setup: a fixed NumPy seed per test and a deterministic hypothesis profile."""

import numpy as np
import pytest
from hypothesis import settings

# Deterministic property tests: the same examples on every run and every machine, no
# deadline (the first call of a transform pays for imports and warm-up).
settings.register_profile("tracegrad", derandomize=True, deadline=None, max_examples=50)
settings.load_profile("tracegrad")


@pytest.fixture(autouse=True)
def _seed_numpy():
    """Seed the legacy global NumPy generator so tests using np.random repeat exactly."""
    np.random.seed(0)
