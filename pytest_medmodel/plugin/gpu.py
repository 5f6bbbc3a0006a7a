"""GPUs per xdist worker, and a fair share of CPU threads when there is no GPU.

Worker ``gwK`` sees only its own group of ``g`` GPUs (``--medmodel-gpus-per-worker``,
default 1): group ``K mod (n // g)``, GPUs ``[group*g, group*g + g)`` of the ``n``
visible (``CUDA_VISIBLE_DEVICES``, set before CUDA starts). A model larger than
one GPU is spread over its worker's group with ``--medmodel-device-map auto``.
Parallel CPU workers split the cores instead of each grabbing all.
"""

from __future__ import annotations

import os
import sys
import warnings

import pytest

from ..models.devices import visible_gpus

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
    return pin_to(str(workerinput.get("workerid", "")), gpus_per_worker(config))


def gpus_per_worker(config: pytest.Config) -> int:
    """``--medmodel-gpus-per-worker`` (default 1), checked: a usage error names the flag."""
    value = config.getoption("medmodel_gpus_per_worker", None)
    if value is None:
        return 1
    if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
        raise pytest.UsageError(f"--medmodel-gpus-per-worker: expected a positive whole number, got {value}")
    return int(value)


def worker_groups(gpus: list[str], per_worker: int) -> list[list[str]]:
    """The visible GPUs cut into groups of ``per_worker`` (a remainder too small for a group is left idle)."""
    if per_worker > len(gpus):
        raise pytest.UsageError(
            f"--medmodel-gpus-per-worker {per_worker}: only {len(gpus)} GPU(s) visible ({','.join(gpus)})"
        )
    return [gpus[i : i + per_worker] for i in range(0, len(gpus) - per_worker + 1, per_worker)]


def pin_to(worker_id: str, per_worker: int = 1) -> str | None:
    """Set ``CUDA_VISIBLE_DEVICES`` for worker ``gwK``; returns the GPUs chosen (None: nothing to pin)."""
    gpus = visible_gpus()
    if not gpus or not worker_id.startswith("gw"):
        return None
    try:
        index = int(worker_id[2:])
    except ValueError:
        return None
    groups = worker_groups(gpus, per_worker)
    chosen = ",".join(groups[index % len(groups)])
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
