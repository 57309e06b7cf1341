"""Differences between two sorted id streams: what one c1z (or snapshot) has that the other
has not, counted in one pass with a few examples, in constant memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from litmos_pipeline.c1.c1z.errors import C1zError

_END = object()


@dataclass
class IdDiff:
    """`only_left` / `only_right`: how many ids one side has and the other has not."""

    both: int = 0
    only_left: int = 0
    only_right: int = 0
    left_examples: list[str] = field(default_factory=list)
    right_examples: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.only_left or self.only_right)


def diff_sorted(left: Iterable[str], right: Iterable[str], examples: int = 5) -> IdDiff:
    """Merge two streams of ids, each in byte order (code point order for str)."""
    out = IdDiff()
    a, b = _ordered(left, "left"), _ordered(right, "right")
    x, y = next(a, _END), next(b, _END)
    while x is not _END or y is not _END:
        if y is _END or (x is not _END and x < y):  # type: ignore[operator]
            out.only_left += 1
            if len(out.left_examples) < examples:
                out.left_examples.append(str(x))
            x = next(a, _END)
        elif x is _END or y < x:  # type: ignore[operator]
            out.only_right += 1
            if len(out.right_examples) < examples:
                out.right_examples.append(str(y))
            y = next(b, _END)
        else:
            out.both += 1
            x, y = next(a, _END), next(b, _END)
    return out


def _ordered(ids: Iterable[str], side: str) -> Iterator[str]:
    """The ids, refusing a stream that is not strictly increasing (a merge would lie)."""
    previous: str | None = None
    for value in ids:
        if previous is not None and value <= previous:
            raise C1zError(f"the {side} ids are not in order ({previous!r} then {value!r})")
        previous = value
        yield value
