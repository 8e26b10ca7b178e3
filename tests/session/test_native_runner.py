"""The native session's pieces without a phone: the runner bundle (it runs inside an empty root that has only /proc,
/sys and /dev, and opens no file outside its folder), device facts parsed from an Android-like shell, CPU masks and
the profile field that chooses the session. The session end to end through a stand-in adb: tests/transport/test_adb.py.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.emulators import pte_runner_build
from edgekit.emulators.pte_runner_build import (RunnerBundle, arm64_runtime_pins, bundle_unavailable_reason,
                                                elf_interpreter, elf_needed, runner_bundle)
from edgekit.errors import DeviceError
from edgekit.errors import InputError, ProfileError
from edgekit.profiles import load_profile, load_profile_file
from edgekit.session.native_runner import DeviceShell, cpu_mask, device_facts, read_thermal

# What a Pixel 8's shell answers (trimmed): Tensor G3, 4x A510 + 4x A715 + 1x X3.
PIXEL_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 49.15\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
    f"CPU variant\t: 0x1\nCPU part\t: {part}\nCPU revision\t: 0\n\n"
    for i, part in enumerate(["0xd46"] * 4 + ["0xd4d"] * 4 + ["0xd4e"]))
PIXEL_HELLO = ("arch aarch64\nkernel Linux 5.15.110-android14\nhostname localhost\nmodel Pixel 8\nandroid 14\n"
               "soc Tensor G3\ntaskset yes\nsha256sum yes\n"
               + "".join(f"maxfreq {i} {f}\n" for i, f in enumerate([1704000] * 4 + [2367000] * 4 + [2913000]))
               + "cpuinfo\n" + PIXEL_CPUINFO)
PIXEL_THERMAL = ("zone thermal_zone0 BIG 41500\nzone thermal_zone1 MID 40100\nzone thermal_zone2 battery 30000\n"
                 + "".join(f"cpu {i} {f}\n" for i, f in enumerate([820000] * 8 + [2913000])))


class FakeShell:
    """A link whose shell answers like a phone's."""

    def __init__(self, answers):
        self.answers = answers

    def run(self, argv, what, timeout=None):
        script = argv[-1]
        for needle, answer in self.answers.items():
            if needle in script:
                return 0, answer, ""
        return 1, "", "no"


def test_device_facts_name_each_core_and_its_clock():
    shell = DeviceShell(FakeShell({"cpuinfo": PIXEL_HELLO, "thermal_zone": PIXEL_THERMAL}))
    facts = device_facts(shell)
    machine = facts["machine"]
    assert machine["arch"] == "aarch64" and machine["cpu_count"] == 9 and machine["hostname"] == "Pixel 8"
    assert machine["cpu"] == "Tensor G3 (4x cortex-a510, 4x cortex-a715, 1x cortex-x3)"
    assert machine["platform"] == "Linux 5.15.110-android14 Android 14" and machine["python"] is None
    assert machine["cores"]["8"] == {"core": "cortex-x3", "max_hz": 2_913_000_000} and facts["taskset"]
    thermal = read_thermal(shell, [8])
    assert thermal["cpu_temp_c"] == 41.5 and thermal["zones_c"]["thermal_zone2:battery"] == 30.0
    assert thermal["cpu_clock_hz"] == 2_913_000_000 and thermal["cpu_clocks_hz"]["0"] == 820_000_000


def test_cpu_lists_become_taskset_masks():
    assert cpu_mask("8") == "100" and cpu_mask("4-7") == "f0" and cpu_mask("0,2") == "5"
    for bad in ("x", "7-4", "", "1-2-3"):
        with pytest.raises(InputError, match="bad CPU list"):
            cpu_mask(bad)


def test_the_profile_says_which_agent_runs_a_pte(tmp_path):
    assert load_profile("pixel8").agent == "native"  # stock Android: no Python
    assert load_profile("emu-phone").agent == "python" and load_profile("emu-phone-arm").agent == "python"
    text = load_profile("pixel8").path and Path(load_profile("pixel8").path).read_text()
    (tmp_path / "phone.toml").write_text(text.replace('name = "pixel8"', 'name = "phone"')
                                         .replace('agent = "native"', 'agent = "java"'))
    with pytest.raises(ProfileError, match="transport.agent.*one of python, native"):
        load_profile_file(tmp_path / "phone.toml")


def test_elf_reader_finds_interpreter_and_needed_libraries():
    ls = Path(shutil.which("ls")).resolve()
    assert Path(elf_interpreter(ls)).name.startswith("ld-linux")
    assert "libc.so.6" in elf_needed(ls)


def test_arm64_runtime_pins_are_the_phone_images_packages():
    """The aarch64 bundle's C runtime packages (.ci/apt-arm64-runtime.txt) at the versions the built emu-phone-arm
    image installed: a mirror that moved on since one of them was pinned shows here, before any count differs."""
    from edgekit.emulators.arm_image import ImageRecipe, cached_image
    image = cached_image(ImageRecipe.load("debian-arm64-phone"))
    if image is None:
        pytest.skip("the image debian-arm64-phone is not built: `edgekit targets prepare emu-phone-arm`")
    installed = dict(p.split("=", 1) for p in image.manifest["packages"])
    pins = arm64_runtime_pins()
    assert {"libc6", "libstdc++6", "libgcc-s1"} <= set(pins)
    assert pins == {p: installed.get(p) for p in pins}, "re-pin .ci/apt-arm64-runtime.txt to the image's versions"


def test_runtime_libraries_are_found_inside_the_unpacked_packages_only(tmp_path, monkeypatch):
    """An unpacked package's absolute symlink (Debian's /lib/ld-linux-aarch64.so.1) is followed inside the tree,
    never into this host's /lib; a missing .deb names its package and the set-up that downloads it."""
    tree = tmp_path / "tree"
    (tree / "lib" / "aarch64-linux-gnu").mkdir(parents=True)
    (tree / "usr" / "lib" / "aarch64-linux-gnu").mkdir(parents=True)
    (tree / "lib" / "aarch64-linux-gnu" / "ld-2.36.so").write_bytes(b"loader")
    (tree / "lib" / "ld-linux-aarch64.so.1").symlink_to("/lib/aarch64-linux-gnu/ld-2.36.so")
    (tree / "usr" / "lib" / "aarch64-linux-gnu" / "libstdc++.so.6").symlink_to("libstdc++.so.6.0.30")
    (tree / "usr" / "lib" / "aarch64-linux-gnu" / "libstdc++.so.6.0.30").write_bytes(b"c++")
    find = pte_runner_build._find_in_tree
    assert find(tree, "ld-linux-aarch64.so.1") == tree / "lib" / "aarch64-linux-gnu" / "ld-2.36.so"
    assert find(tree, "libstdc++.so.6").read_bytes() == b"c++" and find(tree, "libc.so.6") is None
    monkeypatch.setattr(pte_runner_build, "ARM64_RUNTIME_DIR", tmp_path / "none")
    reason = pte_runner_build.arm64_runtime_unavailable_reason()
    assert "libc6:arm64=" in reason and "make system-deps" in reason
    with pytest.raises(DeviceError, match="make system-deps"):
        pte_runner_build._unpack_arm64_runtime(arm64_runtime_pins(), tmp_path / "out")


@pytest.fixture(scope="module")
def host_bundle() -> RunnerBundle:
    reason = bundle_unavailable_reason(os.uname().machine)
    if reason:
        pytest.skip(reason)
    return runner_bundle()


@pytest.fixture(scope="module")
def tiny_pte(tmp_path_factory) -> Path:
    import torch
    import edgekit
    out = tmp_path_factory.mktemp("pte")
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    return edgekit.compile_model(model.eval(), (torch.randn(1, 1, 8, 8),), "emu-phone", out / "art").path / "model.pte"


def _empty_root(tmp_path: Path, bundle: RunnerBundle, pte: Path) -> Path:
    root = tmp_path / "root"
    for d in ("proc", "sys", "dev"):
        (root / d).mkdir(parents=True)
    shutil.copytree(bundle.path, root / "b", ignore=shutil.ignore_patterns("bundle.json"))
    shutil.copyfile(pte, root / "m.pte")
    return root


def _in_root(root: Path, argv: list[str], stdin: bytes, binds: str = "") -> subprocess.CompletedProcess:
    """argv run chrooted into `root`, which gets only /proc, /sys and /dev, in a mount namespace of its own."""
    script = ('set -e; r="$1"; shift; for d in proc sys dev; do mount --rbind "/$d" "$r/$d"; done; '
              + binds + 'exec chroot "$r" "$@"')
    as_root = [] if os.geteuid() == 0 else ["--map-root-user"]
    return subprocess.run(["unshare", *as_root, "--mount", "sh", "-c", script, "sh", str(root), *argv],
                          input=stdin, capture_output=True, timeout=120)


def _needs_chroot():
    if shutil.which("unshare") is None or shutil.which("chroot") is None:
        pytest.skip("no unshare/chroot here")
    if os.geteuid() != 0 and subprocess.run(["unshare", "--map-root-user", "--mount", "true"]).returncode != 0:
        pytest.skip("neither root nor user namespaces: cannot make an empty root")


@pytest.mark.runtime
def test_bundle_runs_in_an_empty_root_and_opens_nothing_outside_it(host_bundle, tiny_pte, tmp_path):
    """This host's bundle, the same shape as the phone's: in a root that has nothing but the bundle, the model and
    /proc, /sys, /dev, it loads the .pte, runs it and answers; traced on the host, every file it opens is its own."""
    _needs_chroot()
    assert sorted(host_bundle.files) == sorted(
        ["bin/ek_pte_runner", host_bundle.loader, *(f"lib/{n}" for n in (
            "libc.so.6", "libdl.so.2", "libexecutorch.so", "libexecutorch_backend_xnnpack.so",
            "libexecutorch_etdump.so", "libexecutorch_kernels_optimized.so", "libexecutorch_kernels_quantized.so",
            "libexecutorch_threadpool.so", "libgcc_s.so.1", "libm.so.6", "libpthread.so.0", "libstdc++.so.6"))])
    root = _empty_root(tmp_path, host_bundle, tiny_pte)
    proc = _in_root(root, [*host_bundle.argv("/b"), "/m.pte"], b"run 3\nmem\ngenerate 2 1\nquit\n")
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == 0 and lines[0].startswith("ready "), proc.stderr.decode()[-500:]
    assert lines[1:3] == ["in 0 f32 1,1,8,8", "out 0 f32 1,3"]
    assert lines[3].startswith("ok ") and len(lines[3].split()) == 4 and lines[4].startswith("ok ")
    assert lines[5].startswith("error generate needs a cached decoder")  # not a decoder: refused, runner goes on

    if shutil.which("strace") is None:
        return
    log = tmp_path / "trace"
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat,execve", "-o", str(log),
                           *host_bundle.argv(str(host_bundle.path)), str(tiny_pte)],
                          input=b"run 1\nquit\n", capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    opened = {line.split('"')[1] for line in log.read_text().splitlines()
              if '"' in line and " = -1 " not in line and "resumed>" not in line}
    outside = {p for p in opened if not p.startswith((str(host_bundle.path) + "/", "/proc/", "/sys/", "/dev/"))
               and p not in (str(tiny_pte), "")}
    assert not outside, f"the runner opened files outside its bundle: {sorted(outside)}"


@pytest.mark.emulator
def test_arm64_bundle_runs_in_an_empty_root(tiny_pte, tmp_path):
    """The phone's bundle (aarch64: Debian's native arm64 glibc, libstdc++ and libgcc_s at the pinned versions, the
    aarch64 wheel's ExecuTorch) in an empty root, under qemu-user, with an Arm /proc/cpuinfo as a phone has
    (cpuinfo reads it to pick XNNPACK's kernels)."""
    if bundle_unavailable_reason("aarch64") or shutil.which("qemu-aarch64-static") is None:
        pytest.skip(bundle_unavailable_reason("aarch64") or "no qemu-aarch64-static (qemu-user-static)")
    _needs_chroot()
    bundle = runner_bundle("aarch64")  # the aarch64 wheel from pip's cache, cross-compiled: ~30 s the first time
    assert bundle.loader == "lib/ld-linux-aarch64.so.1" and 10e6 < bundle.size_bytes < 30e6
    assert bundle.c_runtime == arm64_runtime_pins()
    root = _empty_root(tmp_path, bundle, tiny_pte)
    shutil.copyfile(shutil.which("qemu-aarch64-static"), root / "qemu")
    (root / "qemu").chmod(0o755)
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\n"
                                      "CPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\n\n")
    proc = _in_root(root, ["/qemu", *bundle.argv("/b"), "/m.pte"], b"run 2\nquit\n",
                    binds=f'mount --bind {tmp_path / "cpuinfo"} "$r/proc/cpuinfo"; ')
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == 0 and lines[0].startswith("ready ") and lines[3].startswith("ok "), \
        proc.stderr.decode()[-500:]


@pytest.mark.emulator
def test_arm64_bundle_in_an_empty_root_of_the_arm_phone_through_adb(digits, digits_example, tmp_path, monkeypatch):
    """Issue 22's done-when, on the digits CNN: `edgekit bench --target pixel8` through the stand-in adb, whose
    commands run in the emu-phone-arm VM inside an empty root (only /proc, /sys, /dev, and a static busybox as
    Android's shell: tests/transport/fake_adb.py). The arm64 bundle is pushed there, hash-checked, and benched:
    its outputs are bit for bit emu-phone-arm's (the Python agent driving the image's own runner, in the same VM)
    and within float rounding of the host's, and its instruction count per inference is emu-phone-arm's, INT8 (all
    in XNNPACK) and FP32 (a few operators outside XNNPACK: the C runtime's code counts too). A few minutes: one VM
    boot."""
    import json
    from edgekit import Int8StaticConfig
    from edgekit.compiler import compile_model
    from edgekit.emulators.arm_image import ImageRecipe, cached_image
    from edgekit.emulators.arm_vm import ArmLinuxVM, unavailable_reason
    from edgekit.measure.runner import benchmark
    from edgekit.modelio import Dataset
    from edgekit.session import open_session
    from edgekit.transport import make_transport
    from tests.helpers import run_cli
    from tests.transport.fake_adb import prepare_vm_root, vm_env
    import edgekit.session.native_runner  # noqa: F401  (registers the native session for .pte)
    if unavailable_reason() or bundle_unavailable_reason("aarch64"):
        pytest.skip(unavailable_reason() or bundle_unavailable_reason("aarch64"))
    if cached_image(ImageRecipe.load("debian-arm64-phone")) is None:
        pytest.skip("the image debian-arm64-phone is not built: `edgekit targets prepare emu-phone-arm`")
    image = cached_image(ImageRecipe.load("debian-arm64-phone"))
    # Equal counts need the same C runtime build on both sides: the bundle's packages are the image's.
    installed = dict(p.split("=", 1) for p in image.manifest["packages"])
    bundle = runner_bundle("aarch64")
    assert bundle.c_runtime == {p: installed.get(p) for p in bundle.c_runtime}
    model, split = digits
    art = compile_model(model, digits_example, "pixel8", tmp_path / "int8", recipe=[Int8StaticConfig()],
                        calibration=Dataset(split.x_train, split.y_train))
    fp32 = compile_model(model, digits_example, "pixel8", tmp_path / "fp32", recipe=[])
    np.savez(tmp_path / "eval.npz", x=split.x_test[:20], y=split.y_test[:20])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "adb").write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).parents[1] / 'transport' / 'fake_adb.py'}"
                                 f' "$@"\n')
    (bin_dir / "adb").chmod(0o755)
    x = art.reference().inputs[0]
    with ArmLinuxVM(load_profile("emu-phone-arm")) as vm:
        prepare_vm_root(vm.transport_options())
        reference = benchmark(art, "emu-phone-arm", runs=3, warmup=1, transport_options={"emulator": vm})
        reference_fp32 = benchmark(fp32, "emu-phone-arm", runs=1, warmup=1, transport_options={"emulator": vm})
        with make_transport(load_profile("emu-phone-arm"), None, {"emulator": vm}) as link:
            session, _ = open_session(link, art, timeout=300)
            try:
                session.load()
                arm_outputs = session.predict([x])[0]
            finally:
                session.close()
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_ADB_DEVICES": "EMU1:device",
               **vm_env(vm.transport_options())}
        proc = run_cli("bench", art.path, "-t", "pixel8", "--runs", "3", "--warmup", "1", "--eval",
                       tmp_path / "eval.npz", "--timeout", "300", "--json", env=env)
        assert proc.returncode == 0, proc.stderr[-800:]
        report = json.loads(proc.stdout)
        proc = run_cli("bench", fp32.path, "-t", "pixel8", "--runs", "1", "--warmup", "1", "--timeout", "300",
                       "--json", env=env)
        assert proc.returncode == 0, proc.stderr[-800:]
        report_fp32 = json.loads(proc.stdout)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with make_transport(load_profile("pixel8"), "adb", {"adb": str(bin_dir / "adb")}) as link:
            session, _ = open_session(link, art, timeout=300)
            try:
                assert session.facts["runner_bundle"]["cached_on_device"]  # pushed once, by the bench
                session.load()
                adb_outputs = session.predict([x])[0]
            finally:
                session.close()
    target = report["target"]
    assert target["transport"] == "adb" and target["device_agent"] == "native"
    assert target["runner_bundle"]["arch"] == "aarch64" and report["measured_on"]["arch"] == "aarch64"
    assert report["measured_on"]["cpu"] == vm.cpu and report["memory"]["process"] == "ek_pte_runner"
    assert report["runtime"]["name"] == "ek_pte_runner" and reference["runtime"]["name"] == "ek_pte_runner"
    assert np.array_equal(adb_outputs, arm_outputs)  # emu-phone-arm's, bit for bit
    # the host's (x86 XNNPACK): equal to float rounding, the same figures as emu-phone-arm's report
    assert report["fidelity"]["vs_host"] == reference["fidelity"]["vs_host"]
    assert report["fidelity"]["vs_host"]["cosine"] > 0.9999 and report["accuracy"]["top1"] > 0.8
    assert report["counters"]["instructions_per_inference"] == reference["counters"]["instructions_per_inference"]
    assert report_fp32["target"]["runner_bundle"]["digest"] == bundle.digest
    assert (report_fp32["counters"]["instructions_per_inference"]
            == reference_fp32["counters"]["instructions_per_inference"])


def test_a_sparse_stored_model_is_expanded_on_the_host(tmp_path):
    """Nothing on the phone can expand a bitmask-sparse .pte: the host pushes it dense, with the dense sha256."""
    import hashlib
    from types import SimpleNamespace
    from edgekit.session.native_runner import model_file
    from edgekit.sparse_file import encode_file
    dense = bytes(4000) + b"weights" + bytes(4000)
    (tmp_path / "model.pte").write_bytes(dense)
    stored, record = encode_file(tmp_path / "model.pte", tmp_path)
    art = SimpleNamespace(path=tmp_path, manifest={"model_file": "model.pte", "encoded": {"model.pte": record},
                                                   "files": {stored.name: {"sha256": "not the dense one"}}})
    (tmp_path / "model.pte").unlink()
    work = tmp_path / "work"
    work.mkdir()
    local, digest = model_file(art, work)
    assert local.read_bytes() == dense and digest == hashlib.sha256(dense).hexdigest()


def test_the_runner_is_started_on_the_open_file_that_was_hashed(tmp_path):
    """The session's start script opens the .pte on fd 3, hashes that open file and execs the runner on
    /proc/self/fd/3: a path replaced after the check does not reach the runner, and a file whose sha256 differs
    never starts it (the script answers one "sha256 HEX" line instead)."""
    import hashlib
    from edgekit.session.native_runner import _START, MODEL_FD_PATH
    model = tmp_path / "model.pte"
    model.write_bytes(b"checked")
    # Stands for the runner: it swaps the path for another file first, then reads the model path it was given.
    swap = f'printf other > "{model}.new" && mv "{model}.new" "{model}" && cat "$1"'

    def start(digest, *runner):
        return subprocess.run(["sh", "-c", _START, "sh", str(tmp_path / "log"), str(model), digest, *runner],
                              capture_output=True, text=True, timeout=30)

    proc = start(hashlib.sha256(b"checked").hexdigest(), "sh", "-c", swap, "runner", MODEL_FD_PATH)
    assert proc.returncode == 0 and proc.stdout == "checked" and model.read_bytes() == b"other", proc.stderr
    proc = start(hashlib.sha256(b"checked").hexdigest(), "echo", "started")
    assert proc.stdout == f"sha256 {hashlib.sha256(b'other').hexdigest()}\n"
