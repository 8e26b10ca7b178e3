"""Which INT8 GEMM kernels XNNPACK runs on the phone's emulated core, and what the guest tells it (issue 22).

For each QEMU core (cortex-a76, cortex-a710), one boot of emu-phone-arm's image with QEMU's translation log on
(`-d in_asm,nochain -dfilter` user space only: every block of guest user code QEMU translates, with its instruction
words), then:
- the guest's view of the core: /sys/.../regs/identification/midr_el1, /proc/cpuinfo, AT_HWCAP/AT_HWCAP2 (what
  XNNPACK's cpuinfo reads: the ISA from the hwcaps, the core type from /proc/cpuinfo);
- ek_pte_runner on a two-layer INT8 1x1-convolution model (a pure XNNPACK QS8 GEMM, 19.3 M MACs): instructions per
  inference (guest PMU, user space, the fewest of 3) and its stderr (ExecuTorch's own cpuinfo probe);
- the distinct SMMLA (i8mm) and SDOT (dot product) instructions in the translated user code, decoded from the
  instruction words (QEMU's capstone 4 prints neither mnemonic).

The log is diagnostic only, so it is switched on here, by wrapping the VM's QEMU command line, not in the product.

    .venv/bin/python bench/bench_phone_kernels.py        # -> bench/results/phone_kernels.json (about 5 minutes)
"""
from __future__ import annotations

import collections
import dataclasses
import re
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

import edgekit  # noqa: E402
from edgekit.emulators import arm_vm  # noqa: E402
from edgekit.transport import make_transport  # noqa: E402

TARGET = "emu-phone-arm"
CORES = ("cortex-a76", "cortex-a710")
USER_SPACE = "0x0000aaaa00000000..0x0000ffffffffffff"  # PIE binaries at 0xaaaa..., shared libraries at 0xffff...
# (mask, value) of the A64 encodings counted; SDOT's vector and by-element forms, Q=0 and Q=1.
ENCODINGS = {"smmla": (0xffe0fc00, 0x4e80a400), "ummla": (0xffe0fc00, 0x6e80a400),
             "usmmla": (0xffe0fc00, 0x4e80ac00), "sdot_vector": (0xbfe0fc00, 0x0e809400),
             "sdot_element": (0xbfc0f400, 0x0f80e000)}
LOG_LINE = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{8})\s")
FACTS = r"""
printf 'kernel\t%s\n' "$(uname -r)"
printf 'midr_el1\t%s\n' "$(cat /sys/devices/system/cpu/cpu0/regs/identification/midr_el1 2>&1)"
printf 'soc0_image_version\t%s\n' "$(cat /sys/devices/soc0/image_version 2>&1)"
LD_SHOW_AUXV=1 /bin/true | sed -nE 's/^(AT_HWCAP2?):[[:space:]]+/\1\t/p'
sed -nE 's/^(Features|CPU part|CPU variant|CPU revision)[[:space:]]*:[[:space:]]*/\1\t/p' /proc/cpuinfo
"""
HWCAP2_I8MM, HWCAP2_SME = 1 << 13, 1 << 23  # Linux arch/arm64/include/uapi/asm/hwcap.h


def gemm_model() -> edgekit.Artifact:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(64, 128, 1), torch.nn.ReLU(), torch.nn.Conv2d(128, 128, 1)).eval()
    cal = torch.randn(16, 64, 28, 28).numpy()
    work = Path(tempfile.mkdtemp(prefix="edgekit-kernels-"))
    return edgekit.compile_model(model, (torch.randn(1, 64, 28, 28),), TARGET, work / "gemm",
                                 recipe=[edgekit.Int8StaticConfig(calibration_samples=16)],
                                 calibration=edgekit.Dataset(cal))


def on_core(core: str) -> edgekit.Profile:
    profile = edgekit.load_profile(TARGET)
    emulation = dataclasses.replace(profile.emulation, options={**profile.emulation.options, "cpu": core})
    return dataclasses.replace(profile, emulation=emulation)


def decoded(log: Path) -> dict[str, int]:
    """Distinct guest addresses holding each counted instruction, over every translated user-space block."""
    seen: dict[str, set[int]] = collections.defaultdict(set)
    with open(log, errors="replace") as f:
        for line in f:
            m = LOG_LINE.match(line)
            if m:
                word = int(m.group(2), 16)
                for name, (mask, value) in ENCODINGS.items():
                    if word & mask == value:
                        seen[name].add(int(m.group(1), 16))
    return {name: len(seen[name]) for name in ENCODINGS}


def on(core: str, pte: Path, logdir: Path) -> dict:
    log = logdir / f"in_asm-{core}.log"
    plain = arm_vm.ArmLinuxVM._argv

    def logged(vm: arm_vm.ArmLinuxVM) -> list[str]:
        return plain(vm) + ["-d", "in_asm,nochain", "-D", str(log), "-dfilter", USER_SPACE]

    arm_vm.ArmLinuxVM._argv = logged
    try:
        with make_transport(on_core(core), None, {}) as link:
            _, out, err = link.run(["sh", "-c", FACTS], "read the guest's CPU facts", 120)
            link.put(pte, "/tmp/gemm.pte")
            rc, run_out, run_err = link.run(
                ["sh", "-c", "printf 'run 3\\ninsns\\nquit\\n' | /opt/edgekit/bin/ek_pte_runner /tmp/gemm.pte"],
                "run the GEMM model", 600)
    finally:
        arm_vm.ArmLinuxVM._argv = plain
    facts = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    hwcap2 = int(facts.get("AT_HWCAP2", "0"), 16)
    counts = [int(x) for x in run_out.splitlines()[-1].split()[1:]] if rc == 0 else []
    return {"guest": {**facts, "hwcap2_i8mm": bool(hwcap2 & HWCAP2_I8MM), "hwcap2_sme": bool(hwcap2 & HWCAP2_SME),
                      "facts_stderr": err.strip()},
            "runner_stderr": run_err.strip().splitlines(),
            "gemm_instructions": min(counts) if counts else None,
            "gemm_instructions_source": "guest PMU, user space, fewest of 3 runs",
            "translated_user_code": decoded(log)}


def main() -> None:
    art = gemm_model()
    pte = Path(art.path) / "model.pte" if Path(art.path).is_dir() else Path(art.path)
    with tempfile.TemporaryDirectory(prefix="edgekit-inasm-") as logdir:
        cores = {core: on(core, pte, Path(logdir)) for core in CORES}
    for core, r in cores.items():
        print(core, r["gemm_instructions"], r["translated_user_code"], file=sys.stderr)
    path = write_result("phone_kernels", {
        "target": TARGET, "model": "Conv2d(64,128,1) -> ReLU -> Conv2d(128,128,1) on 1x64x28x28, static INT8 "
                                   "(XNNPACK QS8/QC8W GEMM, 19.3 M MACs)",
        "runtime": "ek_pte_runner (ExecuTorch 1.5.1 C++ runtime, XNNPACK, 1 thread)",
        "qemu": "qemu-system-aarch64 10.0.2 (Debian bookworm-backports), -icount shift=0, -d in_asm,nochain",
        "cores": cores})
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
