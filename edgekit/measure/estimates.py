"""Labelled estimates: energy from a profile's power model, latency on the real device from its throughput."""
from __future__ import annotations

from typing import Any, Sequence

from ..profiles import Profile


_ARCH_FAMILY = {"aarch64": "arm", "arm64": "arm", "armv7l": "arm", "armv8l": "arm", "x86_64": "x86", "amd64": "x86",
                "i686": "x86"}


def counts_device_isa(profile: Profile, arch: str | None) -> bool:
    """Whether instructions counted on a machine of `arch` are the profile's ISA (an x86 stand-in's are not)."""
    family = _ARCH_FAMILY.get((arch or "").lower())
    return family is None or profile.hardware.isa.startswith(family)


def device_latency_estimate(profile: Profile, macs: int | None, int8_share: float,
                            instructions: int | None = None, macs_not_counted: Sequence[str] = ()
                            ) -> dict[str, Any] | None:
    """Latency on the real device: instructions x cycles per instruction / clock when the instructions were
    counted (an MCU under QEMU), else 2 x MACs / the profile's effective throughput, int8 MACs at its int8 rate and
    the rest at its FP32 rate (`int8_share` of the MACs run in int8); None without figures."""
    perf = profile.performance
    if instructions and perf is not None and perf.cycles_per_instruction:
        cycles = instructions * perf.cycles_per_instruction
        return {"latency_ms": cycles / profile.hardware.clock_hz * 1e3, "estimated": True,
                "basis": f"{instructions:,} instructions x {perf.cycles_per_instruction:g} cycles/instruction / "
                         f"{profile.hardware.clock_hz / 1e6:g} MHz", "source": perf.source}
    if not macs or perf is None:
        return None
    parts = [(round(macs * int8_share), perf.int8_ops, "GOPS int8"), (macs - round(macs * int8_share),
                                                                     perf.fp32_flops, "GFLOPS fp32")]
    parts = [p for p in parts if p[0]]
    if any(not rate for _, rate, _ in parts):
        return None
    seconds = sum(2 * n / rate for n, rate, _ in parts)
    basis = " + ".join(f"2 x {n:,} MACs / {rate / 1e9:g} {unit}" for n, rate, unit in parts)
    if macs_not_counted:
        basis += f" (a lower bound: MACs of {', '.join(macs_not_counted)} not counted)"
    return {"latency_ms": seconds * 1e3, "estimated": True, "basis": basis, "source": perf.source}


def energy_estimate(profile: Profile, latency_ms: float, basis: str) -> dict[str, Any]:
    """Energy per inference = (active - idle) power x latency: the extra energy one inference costs."""
    power = profile.power
    joules = (power.active_w - power.idle_w) * latency_ms / 1e3
    return {"per_inference_mj": joules * 1e3, "estimated": True,
            "basis": f"({power.active_w:g} W active - {power.idle_w:g} W idle) x {basis}",
            "source": power.source}
