"""A minimal initramfs for an Arm Linux VM, written on the host: busybox, the kernel modules that reach the root
disk, and a 20-line /init that loads them, mounts /dev/vda and hands over to the image's systemd.

Why not the distribution's initramfs-tools: it would have to run inside the arm64 root under qemu-user, which took
16 minutes here; this takes a second. The archive is the kernel's "newc" cpio format, gzip-compressed.
"""
from __future__ import annotations

import gzip
import io
import stat
from pathlib import Path

# Modules for a virtio-pci disk holding ext4, named as in modules.dep (those built into the kernel are skipped).
ROOT_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4")  # ext4 soft-depends on crc32c

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod "/lib/modules/$m" || echo "initramfs: cannot load $m"; done
for i in $(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.1; done
mkdir -p /newroot
if ! mount -t ext4 -o rw /dev/vda /newroot; then
  echo "initramfs: cannot mount /dev/vda"; exec sh
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
"""


def module_closure(modules_dir: Path, wanted: tuple[str, ...] = ROOT_MODULES) -> list[str]:
    """Module paths (relative to modules_dir) for `wanted` and everything they depend on, dependencies first."""
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, needs = line.partition(":")
        deps[path] = needs.split()
    by_name = {Path(p).name.split(".ko")[0].replace("-", "_"): p for p in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in deps.get(path, []):
            visit(dep)
        order.append(path)

    for name in wanted:
        if name in by_name:  # absent = built into the kernel
            visit(by_name[name])
    return order


class _Cpio:
    """Writes a newc cpio archive (see the kernel's Documentation/driver-api/early-userspace)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        name_bytes = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_bytes), 0]
        self.buf.write(b"070701" + b"".join(f"{v:08X}".encode() for v in fields) + name_bytes)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))
        self.ino += 1

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def build_initramfs(root: Path, kernel_version: str, out: Path) -> list[str]:
    """Write a gzip'd initramfs for the kernel in `root` to `out`; returns the modules it loads."""
    modules_dir = root / "lib" / "modules" / kernel_version
    modules = module_closure(modules_dir)
    archive = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules"):
        archive.directory(d)
    archive.file("bin/busybox", (root / "bin" / "busybox").read_bytes(), 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", INIT.encode(), 0o755)
    for rel in modules:
        archive.file(f"lib/modules/{Path(rel).name}", (modules_dir / rel).read_bytes())
    archive.file("modules.order", "".join(f"{Path(rel).name}\n" for rel in modules).encode())
    out.write_bytes(gzip.compress(archive.finish(), compresslevel=6, mtime=0))
    return modules
