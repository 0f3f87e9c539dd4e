"""An immutable, hashable mapping for frozen option values (metadata, tags, an SSE-KMS context)."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Tuple, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenMapping(Mapping[K, V]):
    """A copy of a mapping that cannot change: the caller's dict may be mutated afterwards without effect.

    Order is kept (it is the order headers and tags are sent in); equality is a mapping's (any order, and
    equal to a ``dict`` with the same items), and so is the hash.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, source: Mapping[K, V]) -> None:
        self._items: Tuple[Tuple[K, V], ...] = tuple(source.items())
        self._index = dict(self._items)

    def __getitem__(self, key: K) -> V:
        return self._index[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._index == dict(other.items())
        return NotImplemented

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return (type(self), (self._index,))

    def __repr__(self) -> str:
        return f"FrozenMapping({self._index!r})"


def freeze(value: Any) -> Any:
    """``value`` as a :class:`FrozenMapping` when it is a mapping; anything else unchanged (validated later)."""
    if isinstance(value, Mapping) and not isinstance(value, FrozenMapping):
        return FrozenMapping(value)
    return value
