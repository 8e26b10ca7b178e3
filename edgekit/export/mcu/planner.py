"""Plan one static tensor arena from buffer lifetimes (greedy by size, as TFLite Micro's GreedyMemoryPlanner),
and the lower bound any plan must meet: the largest total of buffers alive at the same step."""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 8  # LDRD/STRD on the im2col scratch need 8-byte alignment; int8 tensors need none


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    name: str
    size: int
    first: int   # first op step that needs it (written or read)
    last: int    # last op step that needs it
    offset: int = -1

    def alive_with(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class Plan:
    buffers: list[Buffer]
    arena_bytes: int
    lower_bound: int

    def offset(self, name: str) -> int:
        return next(b.offset for b in self.buffers if b.name == name)


def lower_bound(buffers: list[Buffer]) -> int:
    steps = {s for b in buffers for s in (b.first, b.last)}
    return max((sum(_align(b.size) for b in buffers if b.first <= s <= b.last) for s in steps), default=0)


def plan_arena(buffers: list[Buffer]) -> Plan:
    """Place the largest buffers first, each at the lowest offset free for its whole lifetime."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        conflicts = sorted((p for p in placed if p.alive_with(buf)), key=lambda p: p.offset)
        offset = 0
        for p in conflicts:
            if offset + _align(buf.size) <= p.offset:
                break
            offset = max(offset, p.offset + _align(p.size))
        buf.offset = offset
        placed.append(buf)
    arena = max((b.offset + _align(b.size) for b in buffers), default=0)
    return Plan(buffers, arena, lower_bound(buffers))
