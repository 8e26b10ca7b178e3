#!/usr/bin/env python3
"""A stand-in for `adb` whose "phone" is this machine: devices, push and shell behave like adb's.

`shell` hands its command string to `sh -c`, exactly as adb hands it to the phone's shell, so quoting mistakes in
the transport show up here too. FAKE_ADB_DEVICES lists "serial:state" pairs (comma-separated).
"""
import os
import shutil
import sys
from pathlib import Path

args = sys.argv[1:]
serial = None
if args[:1] == ["-s"]:
    serial, args = args[1], args[2:]
devices = dict(d.split(":") for d in os.environ.get("FAKE_ADB_DEVICES", "").split(",") if d)
if args[:1] == ["devices"]:
    print("List of devices attached")
    for name, state in devices.items():
        print(f"{name}\t{state}")
    sys.exit(0)
if serial not in devices:
    print(f"adb: device '{serial}' not found", file=sys.stderr)
    sys.exit(1)
if args[:1] == ["push"]:
    Path(args[2]).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args[1], args[2])
    print(f"{args[1]}: 1 file pushed")
    sys.exit(0)
if args[:1] == ["shell"]:
    rest = args[1:]
    if rest[:1] == ["-T"]:
        rest = rest[1:]
    os.execvp("sh", ["sh", "-c", " ".join(rest)])
print(f"fake adb: unsupported {args}", file=sys.stderr)
sys.exit(1)
