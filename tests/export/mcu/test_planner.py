"""Arena planning: no two buffers alive together share bytes, and the arena meets the lower bound."""
import random

from edgekit.export.mcu.planner import Buffer, lower_bound, plan_arena


def _check(plan):
    for a in plan.buffers:
        assert a.offset >= 0 and a.offset % 8 == 0
        assert a.offset + a.size <= plan.arena_bytes
        for b in plan.buffers:
            if a is not b and a.alive_with(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


def test_chain_reuses_memory_down_to_the_bound():
    # a -> b -> c -> d: only neighbours are alive together
    sizes = [1024, 2048, 512, 64]
    bufs = [Buffer(f"t{i}", s, max(0, i - 1), i) for i, s in enumerate(sizes)]
    plan = plan_arena(bufs)
    _check(plan)
    assert plan.lower_bound == 1024 + 2048
    assert plan.arena_bytes == plan.lower_bound
    assert plan.arena_bytes < sum(sizes)


def test_random_lifetimes_never_overlap():
    rng = random.Random(1)
    for _ in range(50):
        bufs = []
        for i in range(rng.randint(1, 25)):
            first = rng.randint(0, 20)
            bufs.append(Buffer(f"b{i}", rng.randint(1, 5000), first, first + rng.randint(0, 6)))
        plan = plan_arena(bufs)
        _check(plan)
        assert plan.arena_bytes >= lower_bound(bufs) == plan.lower_bound
