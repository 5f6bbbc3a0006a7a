"""Built-in mutations of a model's weights: noise, round-trip quantization, zeroed attention heads.

They need an in-process torch model (``adapter.model``, as the transformers
adapter has). Random choices come from a ``torch.Generator`` seeded by the
``seed`` setting and drawn on the CPU in a fixed parameter order, so a spec
gives the same weights bit for bit on every run and device.
"""

from __future__ import annotations

import random
from typing import Any

from .base import Mutate, mutation, torch_model


def _matrices(model: Any, *, skip_embeddings: bool = False) -> list[tuple[str, Any]]:
    """Floating-point weights with two or more dimensions, in a fixed order (tied ones once)."""
    out = []
    for name, parameter in model.named_parameters():
        if parameter.ndim < 2 or not parameter.is_floating_point():
            continue
        if skip_embeddings and ("embed" in name or name.endswith(("wte.weight", "wpe.weight"))):
            continue
        out.append((name, parameter))
    return out


@mutation("noise")
def noise(scale: float = 0.05, seed: int = 0) -> Mutate:
    """Gaussian noise on every weight matrix, with standard deviation ``scale`` x the matrix's RMS."""
    if not 0 <= float(scale) <= 10:
        raise ValueError(f"scale={scale} must lie in [0, 10] (a fraction of each matrix's RMS)")

    def apply(adapter: Any) -> Any:
        import torch

        model = torch_model(adapter, "noise")
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        with torch.no_grad():
            for _, weight in _matrices(model):
                rms = weight.detach().float().pow(2).mean().sqrt().cpu()
                drawn = torch.randn(weight.shape, generator=generator, dtype=torch.float32)
                weight.add_((drawn * (float(scale) * rms)).to(device=weight.device, dtype=weight.dtype))
        return adapter

    return apply


@mutation("quantize")
def quantize(bits: int = 8, group_size: int = 0) -> Mutate:
    """Round-trip symmetric integer quantization of linear weights (absmax per row, or per group)."""
    if int(bits) not in range(2, 17):
        raise ValueError(f"bits={bits} must be an integer from 2 to 16 (8 and 4 are the usual ones)")
    if int(group_size) < 0:
        raise ValueError(f"group_size={group_size} must be 0 (one scale per output row) or a positive group length")

    def apply(adapter: Any) -> Any:
        import torch

        model = torch_model(adapter, "quantize")
        levels = 2 ** (int(bits) - 1) - 1
        with torch.no_grad():
            for _, weight in _matrices(model, skip_embeddings=True):
                rows = weight.detach().float().reshape(weight.shape[0], -1)
                size = int(group_size) or rows.shape[1]
                if rows.shape[1] % size:
                    raise ValueError(f"group_size={group_size} does not divide a row of {rows.shape[1]} weights")
                groups = rows.reshape(rows.shape[0], -1, size)
                scale = groups.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / levels
                restored = (groups / scale).round().clamp(-levels, levels) * scale
                weight.copy_(restored.reshape(weight.shape).to(weight.dtype))
        return adapter

    return apply


@mutation("zero_heads")
def zero_heads(fraction: float = 0.25, seed: int = 0) -> Mutate:
    """Silence a seeded ``fraction`` of the attention heads in every layer (their output projection zeroed)."""
    if not 0 < float(fraction) <= 1:
        raise ValueError(f"fraction={fraction} must lie in (0, 1]")

    def apply(adapter: Any) -> Any:
        import torch

        from .layers import decoder_layers

        model = torch_model(adapter, "zero_heads")
        config = model.config
        heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0))
        rng = random.Random(int(seed))
        with torch.no_grad():
            for layer in decoder_layers(model, "zero_heads"):
                weight, heads_on_rows = _output_projection(layer)
                width = weight.shape[0 if heads_on_rows else 1]
                head_dim = width // heads
                chosen = rng.sample(range(heads), max(1, round(float(fraction) * heads)))
                for head in chosen:
                    span = slice(head * head_dim, (head + 1) * head_dim)
                    if heads_on_rows:
                        weight[span, :] = 0
                    else:
                        weight[:, span] = 0
        return adapter

    return apply


def _output_projection(layer: Any) -> tuple[Any, bool]:
    """The attention output weight and whether heads index its rows (GPT-2 Conv1D) or columns (Linear)."""
    for attention_name, projection_name in (("self_attn", "o_proj"), ("self_attn", "dense"), ("attn", "c_proj")):
        projection = getattr(getattr(layer, attention_name, None), projection_name, None)
        if projection is not None:
            return projection.weight, type(projection).__name__ == "Conv1D"
    raise ValueError(f"zero_heads does not know the attention output projection of {type(layer).__name__}")
