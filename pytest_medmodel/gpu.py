"""One GPU per xdist worker, and a fair share of CPU threads when there is no GPU.

Worker ``gwK`` sees only GPU ``K mod n`` (``CUDA_VISIBLE_DEVICES``, set before
CUDA starts); parallel CPU workers split the cores instead of each grabbing all.
"""

from __future__ import annotations

import os
import sys
import warnings

import pytest

from .models.devices import visible_gpus

_PINNED = pytest.StashKey[bool]()


def pin_worker_gpu(config: pytest.Config) -> str | None:
    """On xdist worker ``gwK``, expose only GPU ``K mod n``; once, before CUDA starts."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or config.stash.get(_PINNED, False):
        return None
    config.stash[_PINNED] = True
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        warnings.warn(
            "pytest-medmodel: CUDA was initialised before worker GPU pinning; this worker sees every GPU", stacklevel=1
        )
        return None
    return pin_to(str(workerinput.get("workerid", "")))


def pin_to(worker_id: str) -> str | None:
    """Set ``CUDA_VISIBLE_DEVICES`` for worker ``gwK``; returns the GPU chosen (None: nothing to pin)."""
    gpus = visible_gpus()
    if not gpus or not worker_id.startswith("gw"):
        return None
    try:
        index = int(worker_id[2:])
    except ValueError:
        return None
    chosen = gpus[index % len(gpus)]
    os.environ["CUDA_VISIBLE_DEVICES"] = chosen
    return chosen


def limit_cpu_threads(config: pytest.Config, device: str) -> None:
    """Parallel CPU workers would each grab every core; give each its share (before a model loads)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or device not in ("auto", "cpu"):
        return
    count = int(workerinput.get("workercount", 1) or 1)
    if count > 1 and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        import torch

        if not torch.cuda.is_available():
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // count))
