"""The Arm-faithful emulated Pi: arm64 Debian under qemu-system-aarch64 (Cortex-A72, -icount), reached over SSH.

`make test` builds the image first (`edgekit targets prepare emu-rpi4`); here it must exist or be buildable."""
import json

import pytest

from edgekit.compiler import compile_model
from edgekit.emulators.arm_image import ImageRecipe, cached_image
from edgekit.emulators.arm_vm import unavailable_reason
from edgekit.emulators.initramfs import module_closure
from edgekit.profiles import load_profile
from tests.helpers import run_cli


def _bench_fp32_digits(target: str, digits, digits_example, digits_npz, tmp_path) -> dict:
    """Compile the digits CNN for `target` and bench it there through the CLI: the report."""
    if unavailable_reason():
        pytest.skip(unavailable_reason())
    image = load_profile(target).emulation.options["image"]
    if cached_image(ImageRecipe.load(image)) is None:
        pytest.skip(f"the image {image} is not built: `edgekit targets prepare {target}` (make test runs it first)")
    model, _ = digits
    art = compile_model(model, digits_example, target, tmp_path / "fp32")
    proc = run_cli("bench", art.path, "--target", target, "--eval", digits_npz[1], "--runs", "20", "--json",
                   "--min-cosine", "0.9999", timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_initramfs_loads_dependencies_first_and_skips_builtins(tmp_path):
    (tmp_path / "modules.dep").write_text(
        "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko\n"
        "kernel/fs/jbd2/jbd2.ko:\nkernel/lib/crc16.ko:\n"
        "kernel/drivers/block/virtio_blk.ko:\nkernel/drivers/net/virtio_net.ko:\n")
    # virtio_pci and crc32c_generic are absent from modules.dep: built into that kernel, nothing to load.
    assert module_closure(tmp_path) == ["kernel/drivers/block/virtio_blk.ko", "kernel/fs/jbd2/jbd2.ko",
                                        "kernel/lib/crc16.ko", "kernel/fs/ext4/ext4.ko"]


def test_recipe_digest_ignores_comments_but_not_content(tmp_path, monkeypatch):
    from edgekit.emulators import arm_image
    source = (arm_image.IMAGES_DIR / "debian-arm64-pi.toml").read_text()
    monkeypatch.setattr(arm_image, "IMAGES_DIR", tmp_path)
    (tmp_path / "a.toml").write_text("# a comment\n" + source.replace('name = "debian-arm64-pi"', 'name = "a"'))
    (tmp_path / "b.toml").write_text(source.replace('name = "debian-arm64-pi"', 'name = "a"'))
    (tmp_path / "c.toml").write_text(source.replace('name = "debian-arm64-pi"', 'name = "a"')
                                     .replace("tflite-runtime==2.14.0", "tflite-runtime==2.13.0"))
    digests = [ImageRecipe.load(n).digest for n in "abc"]
    assert digests[0] == digests[1] != digests[2]


@pytest.mark.emulator
def test_cli_bench_on_arm_pi_counts_instructions(digits, digits_example, digits_npz, tmp_path):
    """`edgekit bench ART --target emu-rpi4` boots the Arm VM, runs the Pi's runtime on the emulated Cortex-A72, and
    reports the instructions the guest's PMU counted, with an estimate from the profile's CPI."""
    report = _bench_fp32_digits("emu-rpi4", digits, digits_example, digits_npz, tmp_path)
    target, lat, counters = report["target"], report["latency_ms"], report["counters"]
    assert target["emulator"] == "qemu-system-aarch64" and target["virtual_time"] is True
    assert report["measured_on"]["arch"] == "aarch64"  # the agent really ran on the Arm guest
    assert target["device_python"]["ai_edge_litert"] == "2.3.0" and report["runtime"]["name"] == "ai-edge-litert"
    assert lat["time_base"] == "emulated-virtual-time" and "cortex-a72" in lat["time_base_label"]
    # The guest's PMU counts the runtime's user-space instructions: nearly the same in every run, and close to the
    # guest clock's reading (1 ns per instruction), which also holds the guest kernel's work.
    count = counters["instructions_per_inference"]
    assert "perf_event_open" in counters["instructions_note"] and 10_000 < count < 50_000_000
    assert count <= counters["instructions_median"] <= count * 1.05
    assert 0.5 * lat["min"] * 1e6 < count < 1.02 * lat["min"] * 1e6
    estimate = report["device_estimate"]
    rpi4 = load_profile("rpi4")
    cpi = rpi4.performance.cycles_per_instruction
    assert estimate["latency_ms"] == pytest.approx(
        counters["instructions_per_inference"] * cpi / rpi4.hardware.clock_hz * 1e3)
    assert "instructions" in estimate["basis"]
    assert report["accuracy"]["top1"] > 0.9 and report["fidelity"]["vs_host"]["cosine"] > 0.9999


@pytest.mark.emulator
def test_cli_bench_pte_on_arm_phone_runs_the_cpp_runtime(digits, digits_example, digits_npz, tmp_path):
    """`edgekit bench ART --target emu-phone-arm`: the .pte runs in ExecuTorch's C++ runtime (ek_pte_runner, as an
    app links it) on an emulated Cortex-A710 (Armv9, as the Pixel 8's cores are); memory is that process's peak RSS,
    not a Python with torch."""
    report = _bench_fp32_digits("emu-phone-arm", digits, digits_example, digits_npz, tmp_path)
    assert report["measured_on"]["arch"] == "aarch64" and "cortex-a710" in report["latency_ms"]["time_base_label"]
    assert report["target"]["device_python"]["ek_pte_runner"] == "/opt/edgekit/bin/ek_pte_runner"
    assert report["target"]["device_python"]["executorch"] is None  # no Python runtime: the C++ one ran it
    memory = report["memory"]
    assert memory["process"] == "ek_pte_runner" and 1 << 20 < memory["peak_rss_bytes"] < 64 << 20
    count = report["counters"]["instructions_per_inference"]
    assert "perf_event_open" in report["counters"]["instructions_note"]
    assert 0.5 * report["latency_ms"]["min"] * 1e6 < count < 1.02 * report["latency_ms"]["min"] * 1e6
    assert report["accuracy"]["top1"] > 0.9 and report["fidelity"]["vs_host"]["cosine"] > 0.9999


@pytest.mark.emulator
def test_phone_core_shows_armv9_int8_features_and_its_midr_to_the_runtime():
    """The phone's emulated core is what XNNPACK's cpuinfo is told: dot product and i8mm in the hwcaps (its INT8
    kernels are chosen by them), no SME (whose kernels gave wrong INT8 outputs under `-cpu max`), and the A710's
    MIDR readable in sysfs, where ExecuTorch's thread-pool probe looks for it."""
    from edgekit.transport import make_transport
    if unavailable_reason():
        pytest.skip(unavailable_reason())
    profile = load_profile("emu-phone-arm")
    if cached_image(ImageRecipe.load(profile.emulation.options["image"])) is None:
        pytest.skip("the image debian-arm64-phone is not built: `edgekit targets prepare emu-phone-arm`")
    with make_transport(profile, None, {}) as link:
        rc, out, err = link.run(["sh", "-c", "grep -m1 '^Features' /proc/cpuinfo; "
                                 "cat /sys/devices/system/cpu/cpu0/regs/identification/midr_el1"], "cpu facts", 60)
    assert rc == 0, err
    features_line, midr = out.splitlines()[:2]
    features = set(features_line.split(":", 1)[1].split())
    assert {"asimddp", "i8mm", "bf16", "sve2"} <= features and not {f for f in features if f.startswith("sme")}
    assert (int(midr, 16) >> 24, (int(midr, 16) >> 4) & 0xFFF) == (0x41, 0xD47)  # Arm, Cortex-A710


def test_removing_an_interrupted_build_never_reaches_through_a_mount(tmp_path):
    """A killed mmdebstrap can leave host folders mounted inside its root: removing the build unmounts them first,
    so what they show (here a stand-in for /dev) survives."""
    import os
    import subprocess
    from edgekit.emulators.arm_image import _remove_build
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    host_dev = tmp_path / "host-dev"
    host_dev.mkdir()
    (host_dev / "null").write_text("precious")
    work = tmp_path / ".build-x"
    (work / "root" / "dev").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(host_dev), str(work / "root" / "dev")], check=True)
    _remove_build(work)
    assert not work.exists() and (host_dev / "null").read_text() == "precious"
