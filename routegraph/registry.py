"""A small name -> object registry with helpful lookup errors."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a ``kind`` name to an object (usually a builder function).

    Each registry documents its builders' signature in its ``doc``. Looking up
    an unknown name raises :class:`~routegraph.errors.UnknownNameError` listing
    the known names and the closest one.

    >>> r = Registry("layer kind", "builder(x) -> int")
    >>> @r.register("double")
    ... def _double(x): return 2 * x
    >>> r.get("double")(3)
    6
    """

    def __init__(self, what: str, doc: str = ""):
        self.what = what
        self.__doc__ = f"Registry of {what}s. Signature: {doc}" if doc else f"Registry of {what}s."
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name(self.what, name, self._items) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)
