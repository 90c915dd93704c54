"""Training configs: dataclasses whose defaults are the single source of truth, and overrides.

Every training application (``train_form``, ``train_pose``, ``train_action``) describes a run
with one dataclass (``FormTrainConfig``, ``PoseTrainConfig``, ``ActionTrainConfig``); its
docstring's ``Attributes:`` section documents each field. Overrides may only name existing
fields, and each value is checked against the field's type (nanoGPT's configurator rule), so a
typo or a wrong type is a one-line error instead of a silently ignored setting:

- on the command line, ``--set key=value`` (repeatable) reaches every field, and the older
  flags (``--epochs 3``) are shorthands for it; the two apply in command-line order;
- in code, ``override(config, {"epochs": 3})``; a saved config (a checkpoint's ``config``
  dict) comes back through ``from_dict``.

Values on the command line: numbers and strings as written; booleans ``true``/``false`` (also
``1``/``0``, ``yes``/``no``); ``none`` for an optional field; lists and tuples as
comma-separated items or a JSON list; dicts as a JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

Config = TypeVar("Config")

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class ConfigError(ValueError):
    """An override names no field of the config, or its value does not fit the field's type."""


def field_types(config_class: type) -> dict[str, Any]:
    """Field name -> resolved type annotation of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def type_name(kind: Any) -> str:
    """A short human name for a field type ("int", "list of str", "str or none", ...)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("none" if a is type(None) else type_name(a) for a in args)
    if origin in (list, tuple):
        return f"{origin.__name__} of {type_name(args[0])}" if args else origin.__name__
    if kind is dict or origin is dict:
        return "JSON object"
    return getattr(kind, "__name__", str(kind))


def coerce(value: Any, kind: Any) -> Any:
    """``value`` checked against (and, from a string, parsed into) the type ``kind``.

    Accepts the field's own type (an int where a float is expected; a list for a tuple), or a
    string written as described in the module docstring.

    Raises:
        ConfigError: the value does not fit; the message names the expected type.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if type(None) in args and (
            value is None or isinstance(value, str) and value.lower() in ("none", "null")
        ):
            return None
        for option in options:
            try:
                return coerce(value, option)
            except ConfigError:
                continue
        raise ConfigError(f"expected {type_name(kind)}, got {value!r}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str | os.PathLike):
            return os.fspath(value)
    elif kind in (list, tuple) or origin in (list, tuple):
        container = origin or kind
        item = args[0] if args else Any
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as error:
                    raise ConfigError(f"expected a JSON list, got {value!r} ({error})") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return container(coerce(element, item) for element in value)
    elif kind is dict or origin is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ConfigError(f"expected a JSON object, got {value!r} ({error})") from None
        if isinstance(value, Mapping):
            return dict(value)
    else:
        raise TypeError(f"config fields of type {kind!r} are not supported")
    raise ConfigError(f"expected {type_name(kind)}, got {value!r}")


def _unknown_key(key: str, known: Iterable[str]) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {key!r}{hint}")


def check_value(config_class: type, key: str, value: Any) -> Any:
    """``value`` coerced to the type of ``config_class``'s field ``key``.

    Raises:
        ConfigError: no such field, or the value does not fit it; the message names the key.
    """
    kinds = field_types(config_class)
    if key not in kinds:
        raise _unknown_key(key, kinds)
    try:
        return coerce(value, kinds[key])
    except ConfigError as error:
        raise ConfigError(f"config key {key!r}: {error}") from None


def override(
    config: Config, overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]
) -> Config:
    """A copy of ``config`` with ``overrides`` applied in order (later ones win).

    Args:
        config: a config dataclass instance (left unchanged).
        overrides: field -> value, or (field, value) pairs; values as ``coerce`` accepts.

    Raises:
        ConfigError: an unknown field or a value of the wrong type.
    """
    pairs = overrides.items() if isinstance(overrides, Mapping) else overrides
    changes = {key: check_value(type(config), key, value) for key, value in pairs}
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


def from_dict(config_class: type[Config], values: Mapping[str, Any]) -> Config:
    """A config from a saved dict (``dataclasses.asdict`` of one, e.g. a checkpoint's).

    Keys the class no longer has are skipped (configs of older checkpoints); missing ones
    take their defaults; the others are checked like overrides.
    """
    kinds = field_types(config_class)
    return override(config_class(), {k: v for k, v in values.items() if k in kinds})


def field_docs(config_class: type) -> dict[str, str]:
    """Field -> its description in the class docstring's ``Attributes:`` section."""
    docs: dict[str, str] = {}
    section = re.split(r"\n\s*Attributes:\s*\n", config_class.__doc__ or "", maxsplit=1)
    if len(section) < 2:
        return docs
    current = None
    for line in section[1].splitlines():
        match = re.match(r"\s{4,8}(\w+): (.*)", line)
        if match and match.group(1) in config_class.__dataclass_fields__:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.strip():
            docs[current] += " " + line.strip()
        elif not line.strip():
            current = None
    return docs


def describe(config_class: type) -> str:
    """One line per field: name, type, default and description (the ``--help`` epilog)."""
    defaults = config_class()
    docs = field_docs(config_class)
    lines = []
    for name, kind in field_types(config_class).items():
        default = getattr(defaults, name)
        lines.append(f"  {name} ({type_name(kind)}, default {default!r}): {docs.get(name, '')}")
    return "\n".join(line.rstrip(": ") for line in lines)


class _Override(argparse.Action):
    """Appends a (key, value) override to ``namespace.overrides``, type-checked at parse time.

    ``--set key=value`` passes no ``key``; a shorthand flag passes its field as ``key`` and,
    for a switch, the value as ``const``.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, *, config_class: type,
                 key: str | None = None, **kwargs: Any) -> None:
        self.config_class = config_class
        self.key = key
        super().__init__(option_strings, "overrides", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if self.key is None:
            key, sep, value = str(values).partition("=")
            if not sep or not key:
                raise argparse.ArgumentError(self, f"expected KEY=VALUE, got {values!r}")
            key = key.strip()
        else:
            key, value = self.key, self.const if self.nargs == 0 else values
        try:
            value = check_value(self.config_class, key, value)
        except ConfigError as error:
            raise argparse.ArgumentError(self, str(error)) from None
        overrides = list(getattr(namespace, "overrides", None) or [])
        namespace.overrides = [*overrides, (key, value)]


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps paragraphs as usual but keeps indented lines (the field listing) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        fill = super()._fill_text
        return "\n\n".join(
            paragraph if "\n  " in paragraph else fill(paragraph, width, indent)
            for paragraph in text.split("\n\n")
        )


def add_set_argument(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Adds ``--set KEY=VALUE`` and lists every field of ``config_class`` in the help epilog."""
    parser.formatter_class = _HelpFormatter
    parser.add_argument("--set", action=_Override, config_class=config_class, metavar="KEY=VALUE",
                        help="override any config field (repeatable; see the list below)")
    listing = f"config fields (--set KEY=VALUE):\n{describe(config_class)}"
    parser.epilog = f"{parser.epilog}\n\n{listing}" if parser.epilog else listing


def add_shorthand(
    parser: argparse.ArgumentParser, *flags: str, key: str, config_class: type, help: str,
    switch: Any = None, nargs: int | str | None = None, metavar: str | None = None,
) -> None:
    """Adds a flag that stands for ``--set key=...``; its help ends with the field's default.

    Args:
        parser: the parser (``add_set_argument`` called on it first).
        flags: the option strings.
        key: the config field it sets.
        config_class: the config dataclass.
        help: what the flag does.
        switch: for a flag without a value, the value it sets (e.g. ``True``).
        nargs: argparse ``nargs`` for a flag taking several values.
        metavar: argparse ``metavar``.
    """
    default = getattr(config_class(), key)
    extra: dict[str, Any] = {"nargs": 0, "const": switch} if switch is not None else {
        "nargs": nargs, "metavar": metavar,
    }
    parser.add_argument(*flags, action=_Override, config_class=config_class, key=key,
                        help=f"{help} (--set {key}=...; default {default!r})", **extra)


def from_args(defaults: Config, args: argparse.Namespace) -> Config:
    """``defaults`` with the overrides parsed by ``--set`` and the shorthand flags applied."""
    return override(defaults, getattr(args, "overrides", None) or [])
