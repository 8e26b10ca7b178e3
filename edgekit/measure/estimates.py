"""Labelled estimates: energy from a profile's power model, latency on the real device from its throughput."""
from __future__ import annotations

from typing import Any

from ..profiles import Profile


_ARCH_FAMILY = {"aarch64": "arm", "arm64": "arm", "armv7l": "arm", "armv8l": "arm", "x86_64": "x86", "amd64": "x86",
                "i686": "x86"}


def counts_device_isa(profile: Profile, arch: str | None) -> bool:
    """Whether instructions counted on a machine of `arch` are the profile's ISA (an x86 stand-in's are not)."""
    family = _ARCH_FAMILY.get((arch or "").lower())
    return family is None or profile.hardware.isa.startswith(family)


def device_latency_estimate(profile: Profile, macs: int | None, int8: bool,
                            instructions: int | None = None) -> dict[str, Any] | None:
    """Latency on the real device: instructions x cycles per instruction / clock when the instructions were
    counted (an MCU under QEMU), else 2 x MACs / the profile's effective throughput; None without figures."""
    perf = profile.performance
    if instructions and perf is not None and perf.cycles_per_instruction:
        cycles = instructions * perf.cycles_per_instruction
        return {"latency_ms": cycles / profile.hardware.clock_hz * 1e3, "estimated": True,
                "basis": f"{instructions:,} instructions x {perf.cycles_per_instruction:g} cycles/instruction / "
                         f"{profile.hardware.clock_hz / 1e6:g} MHz", "source": perf.source}
    throughput = None if perf is None else (perf.int8_ops if int8 else perf.fp32_flops)
    if not macs or not throughput:
        return None
    return {"latency_ms": 2 * macs / throughput * 1e3, "estimated": True,
            "basis": f"2 x {macs:,} MACs / {throughput / 1e9:g} G{'OPS int8' if int8 else 'FLOPS fp32'}",
            "source": perf.source}


def energy_estimate(profile: Profile, latency_ms: float, basis: str) -> dict[str, Any]:
    """Energy per inference = (active - idle) power x latency: the extra energy one inference costs."""
    power = profile.power
    joules = (power.active_w - power.idle_w) * latency_ms / 1e3
    return {"per_inference_mj": joules * 1e3, "estimated": True,
            "basis": f"({power.active_w:g} W active - {power.idle_w:g} W idle) x {basis}",
            "source": power.source}
