"""The native session: the host speaks ek_pte_runner's line protocol itself, for a .pte on a device with no Python
(a stock Android phone over adb): nothing of edgekit runs on the device but the runner bundle
(edgekit/emulators/pte_runner_build.py: the runner, ExecuTorch's libraries, the C/C++ runtime and glibc's loader).

Used where the target says so (`[transport] agent = "native"` in its profile, or the transport option `agent`,
`--device-agent native`), over any link that runs programs (a RemoteShell: adb, ssh, local). One policy:
- the bundle for the device's `uname -m` is built once on this host (cached, content-addressed) and pushed once to
  `<root>/runner-<digest>`: uploaded to a temporary name, every file's sha256 checked on the device, then renamed
  into place. Every session checks the sha256 of every file in it again, on the device, before it starts it;
- each session gets a workspace `<root>/ws-<random>`, removed by close(); the .pte is pushed there, hash-checked
  after the push and again right before the runner opens it: the shell that starts the runner opens it on fd 3,
  hashes /proc/self/fd/3 (that open file, whatever the path names by then) and only then execs the runner on
  /proc/self/fd/3, so the runner maps the very file that was hashed;
- the runner starts as `lib/LOADER --library-path lib bin/ek_pte_runner /proc/self/fd/3` (optionally under
  `taskset MASK`, the transport option `cpus`), its stderr (ExecuTorch's log) into a file in the workspace. The
  model path is the one the Python agent gives the image's runner (edgekit/agent/agent.py, PteRunnerModel):
  the runner keeps a heap copy of it, and a path of another length moves every later heap block, so glibc's
  memcpy/memset/malloc run a few instructions more or less per execute() (bench/bench_phone_adb_vm.py);
- load / bench (`run N`: the runner's own clock around execute(), `insns`: its CPU counter) / predict (`set`,
  `run 1`, `get`) / memory (`mem`: the runner process's peak RSS, an app's footprint) / profile (`profile N`: an
  ETDump, the RawProfile that the Python agent's PteRunnerModel builds, from the same pure function); every read
  has a timeout.
Device facts (CPU cores and their types, clocks, thermal zones) come from /proc and /sys through the shell, outside
the timed region. Cached decoders (`--generate`): the runner's `generate N PROMPT..` runs the greedy loop on the
device (set_input, execute(), argmax, on its clock) and `insns` then gives each step's instructions.
"""
from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..agent.agent import DECODERS, ExecuTorchModel, PteRunnerModel, pte_raw_profile
from ..artifact import Artifact, sha256_file
from ..emulators.pte_runner_build import RunnerBundle, runner_bundle
from ..errors import DeviceError, InputError, UnsupportedError
from ..transport.base import RemoteShell, Transport
from ..transport.channel import LineChannel, LinkClosed, last_meaningful_line
from .agent import open_agent_session
from .base import register_session

AGENTS = ("python", "native")
MODEL_NAME = "model.pte"
LOG_NAME = "runner.log"
# A binary answer (get's outputs, profile's ETDump) does not end in a newline, and a link delivers whole lines: the
# command sent right behind it answers one line, which ends the last one; its answer is read and dropped.
_LINE_END = "mem"
_RUNTIME = "ek_pte_runner (native: no Python on the device)"
# The runner's start: open the .pte on fd 3, hash that open file, exec the runner on it (stderr to the log). A hash
# that differs is answered as one line instead of the runner's "ready". Arguments: log, model, sha256, argv...
MODEL_FD_PATH = "/proc/self/fd/3"
_START = ('log=$1; model=$2; want=$3; shift 3; exec 3<"$model" || exit 1; '
          'got=$(sha256sum /proc/self/fd/3) || exit 1; '
          'case $got in "$want "*) exec "$@" 2>>"$log";; esac; echo "sha256 ${got%% *}"')
# Arm's CPU part numbers (/proc/cpuinfo "CPU part", implementer 0x41): a core's type, as data.
ARM_CORES = {0xd03: "cortex-a53", 0xd04: "cortex-a35", 0xd05: "cortex-a55", 0xd07: "cortex-a57",
             0xd08: "cortex-a72", 0xd09: "cortex-a73", 0xd0a: "cortex-a75", 0xd0b: "cortex-a76",
             0xd0d: "cortex-a77", 0xd41: "cortex-a78", 0xd44: "cortex-x1", 0xd46: "cortex-a510",
             0xd47: "cortex-a710", 0xd48: "cortex-x2", 0xd4d: "cortex-a715", 0xd4e: "cortex-x3",
             0xd80: "cortex-a520", 0xd81: "cortex-a720", 0xd82: "cortex-x4", 0xd85: "cortex-x925",
             0xd87: "cortex-a725"}
# What the device is: one shell call. Every line is "key value"; cpuinfo follows verbatim.
_HELLO = r"""
echo "arch $(uname -m)"; echo "kernel $(uname -sr)"; echo "hostname $(uname -n)"
command -v getprop >/dev/null 2>&1 && { echo "model $(getprop ro.product.model)"; \
  echo "android $(getprop ro.build.version.release)"; echo "soc $(getprop ro.soc.model)"; }
command -v taskset >/dev/null 2>&1 && echo "taskset yes"
command -v sha256sum >/dev/null 2>&1 && echo "sha256sum yes"
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  echo "maxfreq ${c##*/cpu} $(cat "$c/cpufreq/cpuinfo_max_freq" 2>/dev/null)"; done
echo cpuinfo; cat /proc/cpuinfo
"""
# Clocks and temperatures: read between timed runs, never inside them.
_THERMAL = r"""
for z in /sys/class/thermal/thermal_zone[0-9]*; do
  echo "zone ${z##*/} $(cat "$z/type" 2>/dev/null | tr ' ' _) $(cat "$z/temp" 2>/dev/null)"; done
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  echo "cpu ${c##*/cpu} $(cat "$c/cpufreq/scaling_cur_freq" 2>/dev/null)"; done
"""


def agent_kind(link: Transport) -> str:
    """What the host speaks to on the device: 'python' (edgekit's agent) or 'native' (ek_pte_runner itself)."""
    kind = str(link.options.get("agent") or link.profile.agent)
    if kind not in AGENTS:
        raise InputError(f"unknown device agent '{kind}'", f"choose one of: {', '.join(AGENTS)}")
    return kind


@register_session("pte")
def open_pte_session(link: Transport, artifact: Artifact, timeout: float) -> tuple[Any, dict[str, float]]:
    """A .pte: the native runner where the target says so, else the Python agent."""
    if agent_kind(link) == "native":
        return open_native_session(link, artifact, timeout)
    return open_agent_session(link, artifact, timeout)


def cpu_mask(cpus: str) -> str:
    """A CPU list ('8', '4-7', '0,2') as the hex mask taskset takes (toybox's taskset has no -c)."""
    mask = 0
    for part in str(cpus).split(","):
        bounds = part.strip().split("-")
        if not 1 <= len(bounds) <= 2 or not all(b.isdigit() for b in bounds) or int(bounds[0]) > int(bounds[-1]):
            raise InputError(f"bad CPU list '{cpus}'", "give CPU numbers as the kernel counts them: 7, 4-7 or 0,2")
        for cpu in range(int(bounds[0]), int(bounds[-1]) + 1):
            mask |= 1 << cpu
    return f"{mask:x}"


def _cpu_list(cpus: str) -> list[int]:
    mask = int(cpu_mask(cpus), 16)
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


class DeviceShell:
    """The few things this session asks of the device's shell, each one argument list with a timeout."""

    def __init__(self, link: RemoteShell) -> None:
        self.link = link

    def check(self, argv: list[str], what: str, timeout: float | None = None) -> str:
        rc, out, err = self.link.run(argv, what, timeout)
        if rc == 127:
            raise DeviceError(f"the device has no '{argv[0]}'", "a stock Android shell (toybox) has it: check "
                                                                "the device")
        if rc != 0:
            raise DeviceError(f"device: {what} failed: {(err.strip() or out.strip() or f'exit {rc}').splitlines()[-1]}")
        return out

    def exists(self, path: str) -> bool:
        return self.link.run(["test", "-e", path], "looking for " + path)[0] == 0

    def remove(self, path: str) -> None:
        try:
            self.link.run(["rm", "-rf", "--", path], "removing " + path, 30)
        except DeviceError:
            pass  # a dead link cannot be cleaned from here

    def verify(self, expected: dict[str, str], what: str) -> None:
        """Every file's sha256 on the device against `expected` (remote path -> hex)."""
        paths = list(expected)
        digests = self.link.sha256(paths)
        bad = [Path(p).name for p, d in zip(paths, digests) if d != expected[p]]
        if len(digests) != len(paths) or bad:
            raise DeviceError(f"{what}: {', '.join(bad) or 'some files'} ha{'s' if len(bad) == 1 else 've'} a "
                              f"different sha256 on the device; refusing to run it",
                              "the link or the device's storage altered the files; run again (edgekit pushes them "
                              "again), or check the device")

    def sh(self, script: str, what: str) -> str:
        return self.check(["sh", "-c", script], what)


def install_bundle(shell: DeviceShell, bundle: RunnerBundle) -> tuple[str, bool]:
    """The bundle's folder on the device, pushed unless there already; (folder, was it there). Either way every
    file's sha256 is checked on the device before the runner is started from it."""
    root = shell.link.root()
    folder = f"{root}/runner-{bundle.digest[:16]}"
    expected = {f"{folder}/{name}": digest for name, digest in bundle.files.items()}
    cached = shell.exists(f"{folder}/{bundle.loader}")
    if not cached:
        staging = f"{root}/.runner-{bundle.digest[:16]}.partial-{secrets.token_hex(4)}"
        try:
            dirs = sorted({str(Path(name).parent) for name in bundle.files} - {"."})
            shell.check(["mkdir", "-p", "--", *(f"{staging}/{d}" for d in dirs)], "creating the runner's folder")
            for name in bundle.files:
                shell.link.put(bundle.path / name, f"{staging}/{name}")
            shell.verify({f"{staging}/{n}": d for n, d in bundle.files.items()}, "pushing the runner bundle")
            # adb push keeps the mode of the file pushed; a link that does not is set right here
            shell.check(["chmod", "755", f"{staging}/{bundle.loader}", f"{staging}/bin/ek_pte_runner"],
                        "making the runner executable")
            if shell.exists(folder):  # another session installed it meanwhile: keep theirs
                shell.remove(staging)
            else:
                shell.link.rename(staging, folder)
        except BaseException:
            shell.remove(staging)
            raise
    shell.verify(expected, "the runner bundle on the device")
    return folder, cached


def model_file(artifact: Artifact, work: Path) -> tuple[Path, str]:
    """The .pte as the runner reads it, and its sha256 (from the manifest): a stored encoding is expanded here,
    on the host, since nothing on the device can."""
    manifest = artifact.manifest
    name = manifest["model_file"]
    stored = manifest.get("encoded", {}).get(name)
    expected = manifest["files"].get(name, {}).get("sha256") if stored is None else stored["sha256"]
    if stored is None:
        return artifact.path / name, expected
    decoder = DECODERS.get(stored.get("encoding"))
    if decoder is None:
        raise UnsupportedError(f"{name}: edgekit cannot expand the encoding {stored.get('encoding')!r}")
    out = work / name
    out.write_bytes(decoder((artifact.path / stored["file"]).read_bytes()))
    return out, expected


def open_native_session(link: Transport, artifact: Artifact, timeout: float
                        ) -> tuple["NativeRunnerSession", dict[str, float]]:
    """Build (cached) and push (once) the runner bundle for the device, push the .pte into a fresh workspace."""
    if not isinstance(link, RemoteShell):
        raise UnsupportedError(f"the {link.name} transport cannot start ek_pte_runner",
                               "use a transport that runs programs (adb, ssh, local)")
    shell = DeviceShell(link)
    t0 = time.perf_counter()
    facts = device_facts(shell)
    cpus = link.options.get("cpus")
    if cpus and not facts["taskset"]:
        raise DeviceError(f"cannot pin the runner to CPUs {cpus}: the device has no taskset",
                          "leave out --device-cpus")
    bundle = runner_bundle(facts["machine"]["arch"])
    folder, cached = install_bundle(shell, bundle)
    timings = {"setup_s": time.perf_counter() - t0}
    workspace = f"{link.root()}/ws-{secrets.token_hex(8)}"
    shell.check(["mkdir", "-p", "--", workspace], "creating the workspace")
    try:
        t0 = time.perf_counter()
        import tempfile
        with tempfile.TemporaryDirectory(prefix="ek-native-") as work:
            local, digest = model_file(artifact, Path(work))
            remote = f"{workspace}/{MODEL_NAME}"
            link.put(local, remote)
        shell.verify({remote: digest}, f"pushing {MODEL_NAME}")
        timings["upload_s"] = time.perf_counter() - t0
    except BaseException:
        shell.remove(workspace)
        raise
    session_facts = {
        "device_agent": "native",
        "runner_bundle": {"digest": bundle.digest, "arch": bundle.arch, "size_bytes": bundle.size_bytes,
                          "files": len(bundle.files), "executorch": bundle.executorch, "folder": folder,
                          "cached_on_device": cached, "verified": "sha256 of every file, on the device, "
                                                                   "before the runner starts"},
        "setup_cached": cached}
    if cpus:
        chosen = _cpu_list(cpus)
        session_facts["pinned_cpus"] = {"cpus": chosen, "cores": [facts["cores"].get(c, {}).get("core")
                                                                   for c in chosen]}
    session = NativeRunnerSession(shell, bundle, folder, workspace, digest, artifact, timeout, facts,
                                  session_facts, cpus)
    return session, timings


def device_facts(shell: DeviceShell) -> dict[str, Any]:
    """hello's machine facts (hostname, platform, arch, cpu, cpu_count; cores: type and max clock by CPU number)
    from one shell call."""
    out = shell.sh(_HELLO, "asking the device what it is")
    head, _, cpuinfo = out.partition("\ncpuinfo\n")
    keys: dict[str, str] = {}
    maxfreq: dict[int, int] = {}
    for line in head.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "maxfreq":
            cpu, _, khz = value.partition(" ")
            if cpu.isdigit() and khz.strip().isdigit():
                maxfreq[int(cpu)] = int(khz) * 1000
        elif key:
            keys[key] = value.strip()
    cores: dict[int, dict[str, Any]] = {}
    blocks = [b for b in re.split(r"\n\s*\n", cpuinfo) if b.strip()]
    summary: dict[str, str] = {}
    for block in blocks:
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in block.splitlines()) if v}
        if "processor" in fields and fields["processor"].isdigit():
            cpu = int(fields["processor"])
            part = fields.get("cpu part")
            core = (ARM_CORES.get(int(part, 16), f"arm part {part}") if part and fields.get("cpu implementer")
                    == "0x41" else fields.get("model name") or (f"part {part}" if part else None))
            cores[cpu] = {"core": core, **({"max_hz": maxfreq[cpu]} if cpu in maxfreq else {})}
        else:
            summary.update(fields)
    counts: dict[str, int] = {}
    for c in cores.values():
        counts[str(c["core"])] = counts.get(str(c["core"]), 0) + 1
    soc = keys.get("soc") or summary.get("hardware")
    kinds = ", ".join(f"{n}x {core}" for core, n in counts.items())
    cpu = " ".join(filter(None, (soc, f"({kinds})" if kinds else None))) or keys.get("arch", "unknown")
    if len(counts) == 1 and not soc:
        cpu = next(iter(counts))
    machine = {"hostname": keys.get("model") or keys.get("hostname"), "arch": keys.get("arch"),
               "platform": " ".join(filter(None, (keys.get("kernel"), keys.get("android") and
                                                   f"Android {keys['android']}"))),
               "cpu": cpu, "cpu_count": len(cores) or None, "python": None,
               "cores": {str(k): v for k, v in sorted(cores.items())}}
    return {"machine": machine, "cores": cores, "taskset": keys.get("taskset") == "yes"}


def read_thermal(shell: DeviceShell, cpus: list[int]) -> dict[str, Any]:
    """Temperatures of every thermal zone and the clock of every CPU, as the shell user can read them; the keys
    the Python agent reports (cpu_temp_c, cpu_clock_hz) for the first zone and the first chosen CPU."""
    try:
        out = shell.sh(_THERMAL, "reading the device's clocks and temperatures")
    except DeviceError:
        return {}
    zones: dict[str, float] = {}
    clocks: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["zone"] and len(parts) == 4 and parts[3].lstrip("-").isdigit():
            zones[f"{parts[1]}:{parts[2]}"] = int(parts[3]) / 1000
        elif parts[:1] == ["cpu"] and len(parts) == 3 and parts[2].isdigit():
            clocks[parts[1]] = int(parts[2]) * 1000
    facts: dict[str, Any] = {}
    if zones:
        facts["cpu_temp_c"] = next(iter(zones.values()))
        facts["zones_c"] = zones
    first = str(cpus[0]) if cpus else "0"
    if first in clocks:
        facts["cpu_clock_hz"] = clocks[first]
        facts["cpu_clock_source"] = f"cpufreq (cpu{first})"
    if clocks:
        facts["cpu_clocks_hz"] = clocks
    return facts


class NativeRunnerSession:
    """A DeviceSession that drives ek_pte_runner over the link's pipes (its line protocol: top of
    edgekit/agent/native/ek_pte_runner.cpp)."""

    def __init__(self, shell: DeviceShell, bundle: RunnerBundle, folder: str, workspace: str, model_sha256: str,
                 artifact: Artifact, timeout: float, device: dict[str, Any], facts: dict[str, Any],
                 cpus: str | None) -> None:
        self.shell, self.bundle, self.folder, self.workspace = shell, bundle, folder, workspace
        self.model_sha256, self.artifact, self.timeout = model_sha256, artifact, timeout
        self.device, self.facts, self.cpus = device, facts, cpus
        self.chosen = _cpu_list(cpus) if cpus else []
        self.channel: LineChannel | None = None
        self._buffer = b""
        self._inputs: list[tuple[np.dtype, list[int]]] = []
        self._outputs: list[tuple[np.dtype, list[int]]] = []
        self._bound: list[np.ndarray] | None = None
        self._counts = True

    # -- the pipe -------------------------------------------------------------------------------------------------

    def _fail(self, exc: DeviceError) -> DeviceError:
        """A dead runner: why, from its log on the device."""
        if not isinstance(exc, LinkClosed):
            return exc
        rc, out, _ = self.shell.link.run(["tail", "-n", "20", f"{self.workspace}/{LOG_NAME}"], "reading the log", 15)
        line = last_meaningful_line(out) if rc == 0 else None
        return DeviceError(f"ek_pte_runner exited{': ' + line if line else ''} ({exc})",
                           "a phone may refuse to run it (check that the bundle's folder is executable), or the "
                           "model does not fit: see runner.log")

    def _read(self, n: int | None, timeout: float) -> bytes:
        """A line (n None, without its newline) or exactly n bytes from the runner."""
        assert self.channel is not None
        try:
            while (b"\n" not in self._buffer) if n is None else (len(self._buffer) < n):
                self._buffer += self.channel.recv(timeout)
        except DeviceError as exc:
            raise self._fail(exc) from None
        if n is None:
            line, self._buffer = self._buffer.split(b"\n", 1)
            return line
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _line(self, timeout: float | None = None) -> str:
        return self._read(None, timeout or self.timeout).decode(errors="replace")

    def _send(self, command: str, payload: bytes = b"") -> None:
        assert self.channel is not None
        # LineChannel.send strips trailing newlines and adds one: a payload ending in 0x0a bytes keeps them when
        # a blank line follows it (the runner skips blank lines).
        data = command.encode() + (b"\n" + payload + b"\n " if payload else b"")
        try:
            self.channel.send(data)
        except DeviceError as exc:
            raise self._fail(exc) from None

    def _ask(self, command: str, payload: bytes = b"", timeout: float | None = None, refused: type = DeviceError
             ) -> str:
        self._send(command, payload)
        answer = self._line(timeout)
        if not answer.startswith(("ok", "out ", "etdump ")):
            raise refused(f"ek_pte_runner: {answer.removeprefix('error ')}")
        return answer

    # -- DeviceSession ----------------------------------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        return {"protocol_version": None, "runtimes": ["ek_pte_runner"], "machine": self.device["machine"]}

    def load(self) -> dict[str, Any]:
        """Check the .pte's sha256 on the device, start the runner on it, run it once on the reference inputs."""
        argv = [*(["taskset", cpu_mask(self.cpus)] if self.cpus else []), *self.bundle.argv(self.folder),
                MODEL_FD_PATH]
        # stderr (ExecuTorch's log) goes to a file: an undrained pipe would stall a chatty runtime
        start = time.perf_counter()
        self.channel = self.shell.link.spawn(["sh", "-c", _START, "sh", f"{self.workspace}/{LOG_NAME}",
                                              f"{self.workspace}/{MODEL_NAME}", self.model_sha256, *argv])
        head = self._line()
        started_s = time.perf_counter() - start
        if head.startswith("sha256 "):
            raise DeviceError(f"{MODEL_NAME} has a different sha256 on the device ({head.split()[1][:16]}..); "
                              "refusing to run it", "the device's storage or another program altered it; run again")
        if not head.startswith("ready "):
            detail = head.removeprefix("error ").replace(MODEL_FD_PATH, MODEL_NAME)
            raise DeviceError(f"ek_pte_runner could not load {MODEL_NAME}: {detail}")
        load_ns, n_in, n_out = (int(v) for v in head.split()[1:4])
        self._inputs = [self._spec(self._line(), "in") for _ in range(n_in)]
        self._outputs = [self._spec(self._line(), "out") for _ in range(n_out)]
        ref = self.artifact.reference()
        batch = self.artifact.manifest["inputs"][0]["shape"][0]
        # A cached decoder's reference is one prompt (tokens (1, T), positions (T,)): taken whole, as the agent does.
        decoder = bool(self.artifact.manifest.get("generation"))
        self._reference = self._prepare([x if decoder else x[:batch] for x in ref.inputs])
        self._bind(self._reference)
        first_ns = int(self._ask("run 1").split()[1])
        return {"load_s": load_ns / 1e9, "first_inference_s": first_ns / 1e9, "start_s": started_s,
                "memory": self.memory(), "runtime": {"name": "ek_pte_runner", "version": self.bundle.executorch,
                                                     "agent": "native", "clock": "the runner's steady_clock"}}

    def _spec(self, line: str, kind: str) -> tuple[np.dtype, list[int]]:
        parts = line.split()
        if len(parts) != 4 or parts[0] != kind or parts[2] not in PteRunnerModel.DTYPES:
            raise DeviceError(f"ek_pte_runner: unexpected line {line[:80]!r}")
        return np.dtype(PteRunnerModel.DTYPES[parts[2]]), [] if parts[3] == "scalar" else \
            [int(d) for d in parts[3].split(",")]

    def _prepare(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        if len(arrays) != len(self._inputs):
            raise InputError(f"{len(arrays)} input tensor(s) given, the model takes {len(self._inputs)}")
        prepared = []
        for k, (a, (dtype, shape)) in enumerate(zip(arrays, self._inputs)):
            if a.ndim != len(shape) or any(d > bound for d, bound in zip(a.shape, shape)):
                raise InputError(f"input {k}: {list(a.shape)} given, the model takes {dtype} {shape}")
            prepared.append(np.ascontiguousarray(a, dtype=dtype))
        return prepared

    def _bind(self, prepared: list[np.ndarray]) -> None:
        if prepared is self._bound:  # a bench's inputs cross the link once
            return
        self._bound = None
        for k, a in enumerate(prepared):
            self._ask(" ".join(["set", str(k), str(a.nbytes), *(str(d) for d in a.shape)]), a.tobytes(),
                      refused=InputError)
        self._bound = prepared

    def _runs(self, n: int, cooldown_s: float) -> tuple[list[int], list[int] | None]:
        """n executions on the runner's clock (one `run n`, or one `run 1` per rest), and its instruction counts."""
        times: list[int] = []
        counts: list[int] | None = [] if self._counts else None
        for chunk in ([1] * n if cooldown_s else [n]):
            times += [int(t) for t in self._ask(f"run {chunk}", timeout=self.timeout + chunk).split()[1:]]
            if counts is not None:
                try:
                    counts += [int(c) for c in self._ask("insns").split()[1:]]
                except DeviceError:
                    self._counts, counts = False, None
            if cooldown_s:
                time.sleep(cooldown_s)
        return times, counts

    def bench(self, runs: int, warmup: int, cooldown_s: float = 0.0, meter: str | None = None,
              meter_baseline_s: float = 0.0) -> dict[str, Any]:
        if meter:
            raise UnsupportedError("an on-board meter is sampled by the Python agent; the native runner has none",
                                   "use an external meter, or --device-agent python")
        if runs < 1 or warmup < 0:
            raise InputError("runs must be >= 1 and warmup >= 0")
        self._bind(self._reference)
        if warmup:
            self._ask(f"run {warmup}", timeout=self.timeout + warmup)
        before = read_thermal(self.shell, self.chosen)
        every = max(1, runs // 10)
        latencies: list[int] = []
        counts: list[int] | None = []
        samples = []
        t0 = time.perf_counter()
        while len(latencies) < runs:
            times, got = self._runs(min(every, runs - len(latencies)), cooldown_s)
            latencies += times
            counts = None if got is None or counts is None else counts + got
            samples.append({"run": len(latencies), "t_s": round(time.perf_counter() - t0, 4),
                            **read_thermal(self.shell, self.chosen)})
        result: dict[str, Any] = {"latencies_ns": latencies, "warmup": warmup, "cooldown_s": cooldown_s,
                                  "thermal_before": before,
                                  "thermal_after": {k: v for k, v in samples[-1].items() if k not in ("run", "t_s")},
                                  "thermal_samples": samples}
        if counts and len(counts) == runs:
            result["instructions"] = counts
            result["counters"] = {
                "instructions_per_inference": int(min(counts)), "instructions_median": int(sorted(counts)[runs // 2]),
                "instructions_max": int(max(counts)),
                "instructions_note": "the CPU's instruction counter (perf_event_open), user space only, read by "
                                     "ek_pte_runner around each execute(): the fewest of the runs"}
        return result

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        specs = self.artifact.manifest["inputs"]
        if len(inputs) != len(specs):
            raise InputError(f"{len(inputs)} input tensor(s) given, the model takes {len(specs)}")
        batch, n = specs[0]["shape"][0], len(inputs[0])
        if n == 0 or n % batch or any(len(x) != n for x in inputs):
            raise InputError(f"N must be the same for every input and a positive multiple of {batch}")
        runs = []
        try:
            for i in range(0, n, batch):
                self._bind(self._prepare([x[i:i + batch] for x in inputs]))
                self._ask("run 1")
                runs.append(self._get())
        finally:
            self._bound = None
        return [np.concatenate([r[k] for r in runs]) for k in range(len(self._outputs))]

    def generate(self, prompt: list[int], new_tokens: int) -> dict[str, Any]:
        """Greedy tokens from a cached decoder, the loop on the device (the runner's `generate`): {'tokens',
        'prefill_ns', 'decode_ns'} as the Python agent answers, on the runner's clock (set_input, execute() and
        argmax of each step; no pipe time), and 'instructions' (one count per execute(): prefill, then each decode
        step) where the runner has a counter."""
        spec = self.artifact.manifest.get("generation")
        if not spec:
            raise InputError("the loaded artifact is not a cached decoder; --generate needs one")
        prompt = [int(t) for t in prompt]
        if not prompt or new_tokens < 1 or len(prompt) + new_tokens > spec["max_seq_len"]:
            raise InputError(f"prompt ({len(prompt)}) + new tokens ({new_tokens}) exceed the decoder's context of "
                             f"{spec['max_seq_len']} tokens", "generate fewer tokens or use a shorter prompt")
        if min(prompt) < 0 or max(prompt) >= spec["vocab_size"]:
            raise InputError(f"prompt token ids must lie in 0..{spec['vocab_size'] - 1}")
        self._bound = None  # generate leaves the runner's inputs at its last step's
        answer = self._ask(" ".join(["generate", str(new_tokens), *map(str, prompt)]),
                           timeout=self.timeout * (1 + new_tokens)).split()[1:]
        if len(answer) != 2 * new_tokens:
            raise DeviceError(f"ek_pte_runner: generate answered {len(answer)} fields, not {2 * new_tokens}")
        values = [int(v) for v in answer]
        result: dict[str, Any] = {"tokens": values[:new_tokens], "prefill_ns": values[new_tokens],
                                  "decode_ns": values[new_tokens + 1:],
                                  "clock": "ek_pte_runner's steady_clock around set_input, execute() and argmax"}
        if self._counts:
            try:
                counts = [int(c) for c in self._ask("insns").split()[1:]]
            except DeviceError:
                self._counts, counts = False, []
            if len(counts) == new_tokens:
                result["instructions"] = counts
        return result

    def _get(self) -> list[np.ndarray]:
        self._send("get\n" + _LINE_END)
        outs = []
        try:
            for dtype, shape in self._outputs:
                head = self._line().split()
                if head[:1] != ["out"] or len(head) < 3:
                    raise DeviceError(f"ek_pte_runner: {' '.join(head[1:]) or 'no output'}")
                data = self._read(int(head[2]), self.timeout)
                if len(head) > 3:
                    shape = [] if head[3] == "scalar" else [int(d) for d in head[3].split(",")]
                outs.append(np.frombuffer(data, dtype).reshape(shape).copy())
        finally:
            self._line()  # _LINE_END's answer
        return outs

    def memory(self) -> dict[str, Any]:
        _, peak, rss = self._ask("mem").split()
        return {"peak_rss_bytes": int(peak), "rss_bytes": int(rss), "process": "ek_pte_runner"}

    def profile(self, runs: int) -> dict[str, Any]:
        """The RawProfile the Python agent's PteRunnerModel builds from the same command (pte_raw_profile)."""
        n = ExecuTorchModel.PROFILE_WARMUP + runs
        self._bind(self._reference)
        self._send(f"profile {n}\n{_LINE_END}")
        head = self._line(self.timeout * (1 + runs)).split()
        try:
            if head[:1] != ["etdump"] or len(head) != 2 + 2 * n:
                raise DeviceError(f"ek_pte_runner: {' '.join(head).removeprefix('error ')[:200]}")
            etdump = self._read(int(head[1]), self.timeout)
        finally:
            self._line()  # _LINE_END's answer
        times = [int(t) for t in head[2:]]
        machine = self.device["machine"]
        where = " ".join(filter(None, (machine.get("arch"), machine.get("cpu")))) + f" ({machine.get('hostname')})"
        if self.chosen:
            where += f", pinned to CPU {','.join(map(str, self.chosen))}"
        return pte_raw_profile(etdump, times[:n], times[n:], "ek_pte_runner",
                               "ek_pte_runner's steady_clock around execute()", ExecuTorchModel.PROFILE_WARMUP, where)

    def close(self) -> None:
        """Stop the runner and remove the workspace; never raises for a dead link."""
        try:
            if self.channel is not None:
                try:
                    self._send("quit")
                except DeviceError:
                    pass
                self.channel.close()
                self.channel = None
        finally:
            self.shell.remove(self.workspace)
