"""Built-in mutations of a model's depth: decoder layers dropped (a truncated checkpoint) or duplicated."""

from __future__ import annotations

import copy
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


def _relayer(model: Any, layers: list[Any], kept_types: list[Any] | None) -> None:
    """Install ``layers`` as the decoder stack and renumber what indexes the KV cache."""
    stack = decoder_layers(model, "layers")
    del stack[:]  # emptied and refilled in place: the parent module keeps its reference to the list
    stack.extend(layers)
    for index, layer in enumerate(layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = index
    for key in _LAYER_COUNT_KEYS:
        if getattr(model.config, key, None):
            setattr(model.config, key, len(layers))
    if kept_types is not None:
        model.config.layer_types = kept_types


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
        model = torch_model(adapter, "drop_layers")
        layers = list(decoder_layers(model, "drop_layers"))
        dropped = set(_positions(len(layers), count, at))
        types = getattr(model.config, "layer_types", None)
        kept_types = [t for i, t in enumerate(types) if i not in dropped] if types else None
        _relayer(model, [layer for i, layer in enumerate(layers) if i not in dropped], kept_types)
        return adapter

    return apply


@mutation("duplicate_layers")
def duplicate_layers(count: int = 1, at: str | int = "middle") -> Mutate:
    """Repeat ``count`` consecutive decoder layers right after themselves (a botched merge or export)."""
    _check_options(count, at)

    def apply(adapter: Any) -> Any:
        model = torch_model(adapter, "duplicate_layers")
        layers = list(decoder_layers(model, "duplicate_layers"))
        chosen = _positions(len(layers), count, at)
        types = getattr(model.config, "layer_types", None)
        new_layers: list[Any] = []
        new_types: list[Any] = []
        for index, layer in enumerate(layers):
            new_layers.append(layer)
            new_types.append(types[index] if types else None)
            if index == chosen[-1]:
                new_layers.extend(copy.deepcopy(layers[i]) for i in chosen)
                new_types.extend(types[i] if types else None for i in chosen)
        _relayer(model, new_layers, new_types if types else None)
        return adapter

    return apply
