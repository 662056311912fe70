"""Shared test set-up: one torch thread (this 2-core VM stalls with two)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the Mapper engine tests do not need torch
    pass
