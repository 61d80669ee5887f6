"""An immutable sequence that is cheap to snapshot after a small change.

The tuner hands schedulers a new :class:`~tunelab.trial.History` at every report, and each
must be a snapshot (a scheduler may compare it with an older one). Copying a tuple of every
trial's view per report made the loop's cost grow with the job; here the items live in
chunks of 64, a change copies one chunk, and a snapshot copies only the list of chunks.

    >>> b = ChunkedBuilder[int]()
    >>> for i in range(100):
    ...     b.append(i)
    >>> snap = b.snapshot()
    >>> b[5] = -1
    >>> snap[5], b.snapshot()[5], len(snap), list(snap)[-1]
    (5, -1, 100, 99)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Generic, TypeVar, overload

T = TypeVar("T")

_BITS = 6
_SIZE = 1 << _BITS
_MASK = _SIZE - 1


class Chunked(Sequence[T]):
    """A read-only snapshot (equal to a tuple of the same items)."""

    __slots__ = ("_chunks", "_len")

    def __init__(self, chunks: tuple[tuple[T, ...], ...], length: int) -> None:
        self._chunks = chunks
        self._len = length

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[T, ...]: ...

    def __getitem__(self, i: int | slice) -> T | tuple[T, ...]:
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if step != 1:
                return tuple(self)[i]
            out: list[T] = []
            while start < stop:  # only the chunks the slice covers
                part = self._chunks[start >> _BITS][start & _MASK:(start & _MASK) + stop - start]
                out.extend(part)
                start += len(part)
            return tuple(out)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        return self._chunks[i >> _BITS][i & _MASK]

    def __iter__(self) -> Iterator[T]:
        return chain.from_iterable(self._chunks)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Chunked({list(self)!r})"


class ChunkedBuilder(Generic[T]):
    """The mutable side: append and replace items, take :meth:`snapshot`\\ s."""

    def __init__(self) -> None:
        self._chunks: list[tuple[T, ...]] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, item: T) -> None:
        if self._len & _MASK == 0:
            self._chunks.append((item,))
        else:
            self._chunks[-1] = (*self._chunks[-1], item)
        self._len += 1

    def __setitem__(self, i: int, item: T) -> None:
        chunk = list(self._chunks[i >> _BITS])
        chunk[i & _MASK] = item
        self._chunks[i >> _BITS] = tuple(chunk)

    def __getitem__(self, i: int) -> T:
        return self._chunks[i >> _BITS][i & _MASK]

    def clear(self) -> None:
        self._chunks.clear()
        self._len = 0

    def snapshot(self) -> Chunked[T]:
        return Chunked(tuple(self._chunks), self._len)


__all__ = ["Chunked", "ChunkedBuilder"]
