"""Built-in mutations of a model's depth: decoder layers dropped (a truncated checkpoint) or duplicated."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .base import Mutate, mutation, torch_model

_LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layer", "num_layers")


def decoder_layers(model: Any, mutation_name: str) -> Any:
    """The ``nn.ModuleList`` of decoder blocks: the longest module list whose length is the layer count."""
    count = next((getattr(model.config, k) for k in _LAYER_COUNT_KEYS if getattr(model.config, k, None)), None)
    lists = [m for m in model.modules() if type(m).__name__ == "ModuleList" and len(m) == count]
    if not lists:
        raise ValueError(f"{mutation_name}: cannot find the decoder layers of {type(model).__name__}")
    return lists[0]


def _positions(total: int, count: int, at: str | int) -> list[int]:
    if not 0 < count < total:
        raise ValueError(f"count={count} must leave at least one of the model's {total} layers")
    if at == "middle":
        start = (total - count) // 2
    elif at == "end":
        start = total - count
    elif isinstance(at, int) and 0 <= at <= total - count:
        start = at
    else:
        raise ValueError(f"at={at} must be 'middle', 'end' or a layer index from 0 to {total - count}")
    return list(range(start, start + count))


def _reorder(adapter: Any, mutation_name: str, order: Callable[[int], list[int]]) -> Any:
    """Rebuild the decoder stack as ``order(depth)``, a list of old layer indices (a repeat is a copy).

    Everything that indexes the KV cache is renumbered (each attention's ``layer_idx``,
    the config's layer count and ``layer_types``), so cached generation still works.
    """
    model = torch_model(adapter, mutation_name)
    stack = decoder_layers(model, mutation_name)
    layers = list(stack)
    indices = order(len(layers))
    seen: set[int] = set()
    new_layers = []
    for index in indices:
        new_layers.append(copy.deepcopy(layers[index]) if index in seen else layers[index])
        seen.add(index)
    del stack[:]  # emptied and refilled in place: the parent module keeps its reference to the list
    stack.extend(new_layers)
    for position, layer in enumerate(new_layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = position
    for key in _LAYER_COUNT_KEYS:
        if getattr(model.config, key, None):
            setattr(model.config, key, len(new_layers))
    types = getattr(model.config, "layer_types", None)
    if types:
        model.config.layer_types = [types[index] for index in indices]
    return adapter


def _check_options(count: int, at: str | int) -> None:
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count={count} must be a positive whole number of layers")
    if not (at in ("middle", "end") or isinstance(at, int)):
        raise ValueError(f"at={at} must be 'middle', 'end' or a layer index")


@mutation("drop_layers")
def drop_layers(count: int = 1, at: str | int = "middle") -> Mutate:
    """Remove ``count`` consecutive decoder layers (from the ``middle``, the ``end`` or an index)."""
    _check_options(count, at)

    def apply(adapter: Any) -> Any:
        def order(depth: int) -> list[int]:
            dropped = set(_positions(depth, count, at))
            return [i for i in range(depth) if i not in dropped]

        return _reorder(adapter, "drop_layers", order)

    return apply


@mutation("duplicate_layers")
def duplicate_layers(count: int = 1, at: str | int = "middle") -> Mutate:
    """Repeat ``count`` consecutive decoder layers right after themselves (a botched merge or export)."""
    _check_options(count, at)

    def apply(adapter: Any) -> Any:
        def order(depth: int) -> list[int]:
            chosen = _positions(depth, count, at)
            return list(range(chosen[-1] + 1)) + chosen + list(range(chosen[-1] + 1, depth))

        return _reorder(adapter, "duplicate_layers", order)

    return apply
