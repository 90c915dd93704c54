"""The model registry: named variants built by small factory functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Registers a model factory under its function name.

    Raises:
        ValueError: a model of that name is already registered.
    """
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is already registered")
    _MODELS[fn.__name__] = fn
    return fn


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Builds the registered variant ``name``, overriding its keyword arguments with ``kwargs``.

    Raises:
        KeyError: no model of that name; the message lists the known ones.
    """
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name](**kwargs)


def list_models(pattern: str = "") -> list[str]:
    """Names of the registered variants containing ``pattern``, sorted."""
    return sorted(name for name in _MODELS if pattern in name)
