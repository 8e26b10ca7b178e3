"""Disk images for emulated Arm Linux boards: built once from a recipe (images/NAME.toml), cached by its hash.

A build bootstraps an arm64 Debian root with mmdebstrap (foreign packages configured under qemu-user through
binfmt_misc), unpacks Debian's arm64 kernel into it, installs the recipe's aarch64 wheels for the guest's Python,
pins a freshly generated SSH host key and authorizes a fresh user key, writes a small initramfs on the host
(initramfs.py) and packs the root into an ext4 image. The result lives in
`$EDGEKIT_CACHE/images/NAME-DIGEST/` (default ~/.cache/edgekit), written under a lock and renamed into place
only when complete, so a crash never leaves a half image that looks finished. Needs root, mmdebstrap,
qemu-user-static, binfmt-support and arch-test (make system-deps).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import DeviceError, InputError
from ..units import parse_quantity
from . import pte_runner_build
from .build_step import run_step
from .initramfs import build_initramfs

IMAGES_DIR = Path(__file__).resolve().parent.parent.parent / "images"
# Bump when the build steps below change what an image contains (the recipe file's bytes are hashed too).
BUILD_VERSION = 1
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    description: str
    suite: str
    arch: str
    packages: tuple[str, ...]
    kernel_package: str
    wheels: tuple[str, ...]
    python_version: str
    wheel_platforms: tuple[str, ...]
    free_space_bytes: int
    digest: str
    pte_runner: str | None = None  # an executorch version: build ek_pte_runner against its aarch64 wheel

    @classmethod
    def load(cls, name: str) -> "ImageRecipe":
        path = IMAGES_DIR / f"{name}.toml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in IMAGES_DIR.glob("*.toml")))
            raise InputError(f"no image recipe '{name}'", f"known images: {known or 'none'}")
        data = tomllib.loads(path.read_text())
        pte_runner = data.get("pte_runner", {}).get("executorch")
        # The parsed content is hashed, not the bytes: editing a comment does not rebuild a 5-minute image.
        # What the image compiles from this repository (the runner's source) is part of it.
        content = (json.dumps(data, sort_keys=True) + f"build {BUILD_VERSION}"
                   + (f"runner {pte_runner_build.source_digest()}" if pte_runner else ""))
        try:
            return cls(name=data["name"], description=data["description"], suite=data["suite"], arch=data["arch"],
                       packages=tuple(data["packages"]), kernel_package=data["kernel_package"],
                       wheels=tuple(data.get("wheels", ())), python_version=data["python_version"],
                       wheel_platforms=tuple(data["wheel_platforms"]),
                       free_space_bytes=int(parse_quantity(data.get("free_space", "1 GiB"), "bytes")),
                       digest=hashlib.sha256(content.encode()).hexdigest(), pte_runner=pte_runner)
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: invalid image recipe: {exc}") from None


@dataclass(frozen=True)
class ArmImage:
    """A finished image directory: kernel, initrd, root disk, the pinned host key and the user key."""

    dir: Path

    kernel = property(lambda self: self.dir / "vmlinuz")
    initrd = property(lambda self: self.dir / "initrd.img")
    rootfs = property(lambda self: self.dir / "rootfs.img")
    host_key_pub = property(lambda self: self.dir / "host_key.pub")
    user_key = property(lambda self: self.dir / "user_key")

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.dir / "manifest.json").read_text())


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "images"


def image_dir(recipe: ImageRecipe) -> Path:
    return cache_dir() / f"{recipe.name}-{recipe.digest[:16]}"


def cached_image(recipe: ImageRecipe) -> ArmImage | None:
    d = image_dir(recipe)
    return ArmImage(d) if (d / "manifest.json").is_file() else None


def build_unavailable_reason(recipe: ImageRecipe | None = None) -> str | None:
    """None when this machine can build images (`recipe`'s, where given), else why not."""
    if os.geteuid() != 0:
        return "building the Arm image needs root (mmdebstrap, chroot)"
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("update-binfmts", "binfmt-support"),
                          ("arch-test", "arch-test"), ("mke2fs", "e2fsprogs"), ("dpkg-deb", "dpkg"),
                          ("ssh-keygen", "openssh-client")):
        if shutil.which(tool) is None:
            return f"'{tool}' not found (install {package}: make system-deps)"
    if not Path("/usr/libexec/qemu-binfmt/aarch64-binfmt-P").exists() and not shutil.which("qemu-aarch64-static"):
        return "qemu-user-static is not installed (make system-deps)"
    if recipe is not None and recipe.pte_runner:
        return pte_runner_build.unavailable_reason()
    return None


def ensure_image(recipe: ImageRecipe, progress: Progress) -> ArmImage:
    """The cached image for `recipe`, built first if there is none."""
    found = cached_image(recipe)
    if found is not None:
        return found
    reason = build_unavailable_reason(recipe)
    if reason:
        raise DeviceError(f"the Arm image '{recipe.name}' is not built and cannot be built here: {reason}",
                          "build it as root on a machine with `make system-deps`: edgekit targets prepare TARGET")
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f".{recipe.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits, then finds the first one's image
        return cached_image(recipe) or _build(recipe, progress)


def _enable_binfmt() -> None:
    """Foreign (arm64) package scripts run under qemu-user through binfmt_misc; mount and enable it if needed."""
    if not (BINFMT / "status").exists():
        run_step(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], "mounting binfmt_misc", 30)
    run_step(["update-binfmts", "--enable", "qemu-aarch64"], "enabling qemu-aarch64 in binfmt_misc", 30)
    run_step(["arch-test", "arm64"], "checking that arm64 programs run here", 60)


def _build(recipe: ImageRecipe, progress: Progress) -> ArmImage:
    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".build-{recipe.name}-", dir=cache_dir()))
    try:
        root, out = work / "root", work / "out"
        out.mkdir()
        progress("enabling arm64 emulation (binfmt_misc)")
        _enable_binfmt()
        progress(f"bootstrapping Debian {recipe.suite} {recipe.arch} with mmdebstrap (about 3 minutes)")
        kernel_dir = "/root/edgekit-kernel"  # not /tmp: mmdebstrap empties the root's /tmp when it finishes
        # The kernel package is downloaded, not installed: installing runs initramfs-tools under emulation
        # (16 min); we unpack it and write our own initramfs instead.
        fetch_kernel = (f"mkdir -p {kernel_dir} && cd {kernel_dir} && apt-get download "
                        f"\"$(apt-cache depends {shlex.quote(recipe.kernel_package)} | "
                        "sed -n 's/.*Depends: \\(linux-image-[0-9].*\\)/\\1/p' | head -n1)\"")
        run_step(["mmdebstrap", f"--arch={recipe.arch}", "--variant=minbase", f"--include={','.join(recipe.packages)}",
              f"--customize-hook=chroot \"$1\" sh -c {shlex.quote(fetch_kernel)}",
              recipe.suite, str(root), str(APT_SOURCES)], "mmdebstrap", 1800)

        progress("unpacking the kernel and its modules")
        debs = sorted((root / kernel_dir.lstrip("/")).glob("linux-image-*.deb"))
        if not debs:
            raise DeviceError(f"image build: no kernel package found for {recipe.kernel_package}")
        run_step(["dpkg-deb", "-x", str(debs[0]), str(work / "kernel")], "unpacking the kernel", 300)
        shutil.rmtree(root / kernel_dir.lstrip("/"))
        version = next((work / "kernel" / "lib" / "modules").iterdir()).name
        shutil.copytree(work / "kernel" / "lib" / "modules", root / "usr" / "lib" / "modules", dirs_exist_ok=True)
        shutil.copyfile(work / "kernel" / "boot" / f"vmlinuz-{version}", out / "vmlinuz")
        run_step(["chroot", str(root), "depmod", version], "depmod", 300)

        if recipe.wheels:
            progress(f"installing {', '.join(recipe.wheels)} for the guest's Python {recipe.python_version}")
            _install_wheels(recipe, root / "usr" / "local" / "lib" / f"python{recipe.python_version}" /
                            "dist-packages")

        runner_files: list[str] = []
        if recipe.pte_runner:
            progress(f"cross-building ek_pte_runner against executorch {recipe.pte_runner} (aarch64 wheel)")
            runner_files = pte_runner_build.install_pte_runner(recipe.pte_runner, recipe.wheel_platforms,
                                                               recipe.python_version, root, work)

        progress("configuring SSH (fresh host key, pinned) and networking")
        _configure(root, out)

        progress("writing the initramfs")
        modules = build_initramfs(root, version, out / "initrd.img")

        progress("writing the ext4 root disk")
        used = int(run_step(["du", "-sb", str(root)], "measuring the root", 300).split()[0])
        size_mib = (used + recipe.free_space_bytes) // 2**20 + 1
        run_step(["mke2fs", "-q", "-t", "ext4", "-L", "edgekit-root", "-d", str(root), str(out / "rootfs.img"),
              f"{size_mib}M"], "mke2fs", 600)

        packages = run_step(["chroot", str(root), "dpkg-query", "-W", "-f", "${Package}=${Version}\\n"],
                        "listing packages", 300).split()
        manifest = {"recipe": recipe.name, "description": recipe.description, "digest": recipe.digest,
                    "build_version": BUILD_VERSION, "kernel": version, "initramfs_modules": modules,
                    "wheels": list(recipe.wheels), "pte_runner": runner_files, "packages": packages,
                    "disk_bytes": size_mib * 2**20,
                    "build_s": round(time.monotonic() - t_start, 1),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        final = image_dir(recipe)
        out.rename(final)
        for stale in cache_dir().glob(f"{recipe.name}-" + "[0-9a-f]" * 16):  # earlier versions of this recipe
            if stale != final:
                shutil.rmtree(stale, ignore_errors=True)
        progress(f"built {final} in {manifest['build_s']:.0f} s")
        return ArmImage(final)
    finally:
        _remove_build(work)


def _mounts_under(path: Path) -> list[str]:
    prefix = f"{path}/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True)  # deepest first


def _remove_build(work: Path) -> None:
    """Remove a build folder. An interrupted mmdebstrap can leave /proc, /sys or /dev mounted inside its root:
    those are unmounted first, and if one stays mounted the folder is left alone rather than recursed into."""
    for mount in _mounts_under(work):
        subprocess.run(["umount", "--lazy", mount], capture_output=True, timeout=30)
    if _mounts_under(work):
        return
    shutil.rmtree(work, ignore_errors=True)


def _install_wheels(recipe: ImageRecipe, site: Path) -> None:
    platforms = [arg for tag in recipe.wheel_platforms for arg in ("--platform", tag)]
    abi = "cp" + recipe.python_version.replace(".", "")
    run_step([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
          "--only-binary=:all:", *platforms, "--python-version", recipe.python_version, "--implementation", "cp",
          "--abi", abi, "--target", str(site), *recipe.wheels], "installing the guest's wheels", 900)


def _configure(root: Path, out: Path) -> None:
    """Hostname, root on /dev/vda, DHCP on the virtio NIC, and sshd with our pinned host key and user key."""
    (root / "etc" / "hostname").write_text("edgekit-pi\n")
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 edgekit-pi\n")
    (root / "etc" / "fstab").write_text("/dev/vda / ext4 rw,noatime 0 1\n")
    network = root / "etc" / "systemd" / "network"
    network.mkdir(parents=True, exist_ok=True)
    (network / "10-wired.network").write_text("[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n")
    run_step(["chroot", str(root), "systemctl", "enable", "systemd-networkd"], "enabling systemd-networkd", 120)

    ssh = root / "etc" / "ssh"
    for old in ssh.glob("ssh_host_*"):
        old.unlink()  # the keys openssh-server's postinst made; the image gets one key, which we pin
    run_step(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-arm-vm", "-f", str(out / "host_key")],
         "generating the host key", 30)
    run_step(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-user", "-f", str(out / "user_key")],
         "generating the user key", 30)
    shutil.move(out / "host_key", ssh / "ssh_host_ed25519_key")
    os.chmod(ssh / "ssh_host_ed25519_key", 0o600)
    shutil.copyfile(out / "host_key.pub", ssh / "ssh_host_ed25519_key.pub")
    (ssh / "sshd_config.d" / "edgekit.conf").write_text(
        "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nUseDNS no\n")
    dot_ssh = root / "root" / ".ssh"
    dot_ssh.mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(out / "user_key.pub", dot_ssh / "authorized_keys")
    os.chmod(dot_ssh / "authorized_keys", 0o600)
