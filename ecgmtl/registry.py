"""Named registries: one per kind of component (encoders, weightings, schedules, constraints, tasks)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from ecgmtl.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a name to a class or factory; refuses duplicate names, and names the choices on a miss.

    With `imports=True` a name of the form `package.module:attribute` that is not registered is imported
    (a component that lives outside ecgmtl, e.g. a task in a user's own package)."""

    def __init__(self, kind: str, imports: bool = False) -> None:
        self.kind = kind
        self.imports = imports
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        def add(obj: T) -> T:
            for n in (name, *aliases):
                if n in self._items or n in self._aliases:
                    raise ValueError(f"{self.kind} {n!r} is registered twice")
            self._items[name] = obj
            self._aliases.update({a: name for a in aliases})
            return obj

        return add

    def get(self, name: str) -> T:
        name = self._aliases.get(name, name)
        if name in self._items:
            return self._items[name]
        if self.imports and ":" in name:
            return self._import(name)
        raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._items))}")

    def _import(self, spec: str) -> T:
        module, _, attr = spec.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"{self.kind} {spec!r} cannot be imported ({e})") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items or name in self._aliases
