"""The edgekit firmware's session: a DeviceSession over the firmware's framed serial protocol
(firmware_protocol.py), and its opener for c-firmware artifacts over any FirmwarePort link. The model travels
inside the firmware image: the link flashes a real board or boots its emulator with the image, and the session
is built the same way for both. Every read has a timeout."""
from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..artifact import Artifact, sha256_file
from ..errors import DeviceError, InputError, UnsupportedError
from ..profiles import Profile, list_profiles, load_profile
from ..transport.base import FirmwarePort, Transport
from ..transport.channel import SerialPort
from . import firmware_protocol as P
from .base import register_session


RETRIES = 10      # resends of one request whose frame or reply the line damaged
ATTEMPT_S = 0.5   # silence after which a request (other than RUN) or its reply is taken as lost
RESYNC_S = 0.05   # quiet time that ends draining the line before a resend
FIRST_RUN_S = 10.0  # how long a first RUN may take before it is presumed lost (its time is learned after it)


class _Garbled(Exception):
    """The line damaged a request or its reply (internal: the request is sent again)."""


class FirmwareRefused(DeviceError):
    """The firmware answered a request with an error status (kept in `status`)."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class FirmwareSession:
    """`link` is an open serial port (a real UART or socket:// to QEMU). `machine` describes where it runs and
    whether time there is virtual (QEMU) and how many instructions one virtual nanosecond is. `on_dead_link` is
    called when the port fails, to raise the reason when it is known (an emulator that exited)."""

    def __init__(self, link: SerialPort, artifact: Artifact, machine: dict[str, Any], timeout: float = 30.0,
                 on_dead_link: Callable[[], None] | None = None) -> None:
        self.link, self.artifact, self.machine, self.timeout = link, artifact, machine, timeout
        self.facts: dict[str, Any] = {}
        self._seq = itertools.count(1)
        self._decoder = P.FrameDecoder()
        self._on_dead_link = on_dead_link or (lambda: None)
        fw = artifact.manifest["export"]["firmware"]
        # per int8 tensor, in the .tflite's order (the firmware's): name, shape, bytes, scale, zero_point and
        # signature_index, its place among the model's inputs / outputs (older artifacts: one of each)
        self.inputs: list[dict[str, Any]] = fw.get("inputs") or [fw["input"]]
        self.outputs: list[dict[str, Any]] = fw.get("outputs") or [fw["output"]]
        self.info: P.Info | None = None
        self.on_close: Callable[[], None] = lambda: None  # the opener's clean-up (its copy of the image)
        self._input = b""  # the last input set, sent again before a resent RUN
        self._run_s = 0.0  # the longest RUN seen (wall-clock), to tell a long inference from a lost request

    # ---- framing --------------------------------------------------------------------------------------------
    def request(self, cmd: P.Cmd, payload: bytes = b"", timeout: float | None = None,
                before_resend: Callable[[], None] | None = None) -> bytes:
        """Send one command and return its reply's payload.

        A request or reply damaged on the line (a CRC or length the firmware or the host rejects, or a reply that
        never comes) is sent again under a new sequence number, up to RETRIES times: every command is idempotent
        (SET_INPUT writes at an offset, RUN recomputes from the same input once it is set again, the others read),
        and late replies to an abandoned number are ignored; `before_resend` restores what an attempt may have changed on the device.
        `timeout` bounds all attempts together."""
        total = timeout or self.timeout
        deadline = time.monotonic() + total
        problem = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                self._resync()
                if before_resend is not None:
                    before_resend()
            seq = next(self._seq) & 0xFF
            try:
                self.link.write(P.encode_frame(cmd, seq, payload))
            except Exception as exc:  # pyserial raises SerialException / OSError subclasses
                self._on_dead_link()
                raise DeviceError(f"serial link closed while sending {cmd.name}: {exc}") from None
            started = time.monotonic()
            # Silence for longer than a request takes means it (or its reply) was lost. A RUN's time is learned
            # (until then a first inference gets up to FIRST_RUN_S); the margin doubles with each attempt, up to 8x,
            # so a device that is merely slow is not given up on.
            expected = (self._run_s * 3 if self._run_s else min(FIRST_RUN_S, total / 4)) if cmd == P.Cmd.RUN else 0.0
            patience = expected + ATTEMPT_S * 2 ** min(attempt, 3)
            try:
                reply = self._await(cmd, seq, min(deadline, started + patience))
            except _Garbled as exc:
                problem = str(exc)
                self.facts["link_retries"] = self.facts.get("link_retries", 0) + 1
                if time.monotonic() >= deadline:
                    break
                continue
            if cmd == P.Cmd.RUN:
                self._run_s = max(self._run_s, time.monotonic() - started)
            return reply
        self._on_dead_link()
        raise DeviceError(f"no clean answer to {cmd.name} within {total:g} s ({problem})",
                          "check the port, the cable and the baud rate; the device may be hung")

    def _resync(self) -> None:
        """Bring both ends back to a frame boundary after damage. The firmware may be inside a frame whose length
        it misread: zeros enough for the longest frame complete it (it answers BAD_CRC) and are then skipped by its
        search for the magic bytes, which zeros never contain. Whatever the device sends meanwhile is dropped."""
        try:
            self.link.write(bytes(P.HEADER_BYTES + P.MAX_PAYLOAD + P.CRC_BYTES))
            self.link.timeout = RESYNC_S
            while self.link.read(4096):
                pass
        except Exception as exc:
            self._on_dead_link()
            raise DeviceError(f"serial link failed while resynchronising: {exc}") from None
        self._decoder = P.FrameDecoder()

    def _await(self, cmd: P.Cmd, seq: int, until: float) -> bytes:
        """The reply to request `seq`, or _Garbled when the line damaged it or nothing came by `until`."""
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                raise _Garbled("no reply")
            self.link.timeout = min(remaining, 0.5)
            try:
                data = self.link.read(max(1, self.link.in_waiting))
            except Exception as exc:
                self._on_dead_link()
                raise DeviceError(f"serial link failed while waiting for {cmd.name}: {exc}") from None
            if not data:
                continue
            try:
                frames = self._decoder.feed(data)
            except P.FrameError as exc:
                raise _Garbled(f"a damaged reply: {exc}") from None
            for frame in frames:
                if frame.seq != seq:
                    continue  # a late reply to an earlier, abandoned request
                if frame.kind in (P.Status.BAD_CRC, P.Status.BAD_LENGTH):
                    raise _Garbled(f"the firmware received a damaged request ({P.Status(frame.kind).name})")
                if frame.kind != P.Status.OK:
                    status = P.Status(frame.kind) if frame.kind in P.Status._value2member_map_ else frame.kind
                    meaning = P.STATUS_MEANING.get(status, "unknown status")
                    raise FirmwareRefused(f"firmware answered {cmd.name} with {getattr(status, 'name', status)}: "
                                          f"{meaning}", frame.kind)
                return frame.payload

    # ---- the raw commands -----------------------------------------------------------------------------------
    def get_info(self) -> P.Info:
        self.info = P.parse_info(self.request(P.Cmd.INFO))
        return self.info

    def set_input(self, data: bytes) -> None:
        """All inputs' bytes, packed in the firmware's order (the firmware splits a frame that spans two)."""
        for off, n in P.pieces(len(data), P.MAX_PAYLOAD - 4):
            self.request(P.Cmd.SET_INPUT, P.set_input_payload(off, data[off:off + n]))
        self._input = data

    def run(self, count: int = 1, profile: bool = False) -> P.RunResult:
        """`count` inferences; with `profile`, through the model's profiled eval (PROFILE then reads the table)."""
        # A run may reuse the input's arena bytes for later tensors (as TFLite Micro's planner does): a RUN sent
        # again after a lost reply first sets the input again.
        flags = P.RUN_PROFILE if profile else 0
        return P.parse_run(self.request(P.Cmd.RUN, P.run_payload(count, flags), timeout=self.timeout + count,
                                        before_resend=lambda: self.set_input(self._input)))

    def profile_table(self) -> tuple[int, list[int]]:
        """The last profiled inference's clock (P.PROFILE_CLOCK_*) and its count per kernel call (PROFILE, paged)."""
        values: list[int] = []
        while True:
            page = P.parse_profile(self.request(P.Cmd.PROFILE, P.profile_payload(len(values))))
            if page.first != len(values):
                raise DeviceError(f"the firmware answered PROFILE from call {page.first}, asked {len(values)}")
            values += page.values
            if len(values) >= page.calls:
                return page.clock, values
            if not page.values:
                raise DeviceError(f"the firmware listed {len(values)} of its {page.calls} kernel calls")

    def get_output(self) -> bytes:
        """All outputs' bytes, packed in the firmware's order."""
        n = sum(t["bytes"] for t in self.outputs)
        return b"".join(self.request(P.Cmd.GET_OUTPUT, P.get_output_payload(off, k))
                        for off, k in P.pieces(n, P.MAX_PAYLOAD))

    def stats(self) -> P.Stats:
        return P.parse_stats(self.request(P.Cmd.STATS))

    def tensor_sizes(self) -> tuple[list[int], list[int]]:
        """The device's input and output sizes in bytes (TENSORS, paged)."""
        info = self.info or self.get_info()
        total, sizes = info.num_inputs + info.num_outputs, []
        while len(sizes) < total:
            got = P.parse_tensors(self.request(P.Cmd.TENSORS, P.tensors_payload(len(sizes))))
            if not got:
                raise DeviceError(f"the firmware listed {len(sizes)} of its {total} tensors")
            sizes += got
        return sizes[:info.num_inputs], sizes[info.num_inputs:total]

    def invoke_raw_many(self, samples: list[np.ndarray]) -> list[np.ndarray]:
        """One quantized (int8) sample per input (an integer input in its own type, e.g. int32 ids), in the
        firmware's (.tflite's) order -> the int8 outputs, in that order."""
        if len(samples) != len(self.inputs):
            raise InputError(f"{len(samples)} inputs given; the model takes {len(self.inputs)}")
        data = []
        for x, spec in zip(samples, self.inputs):
            b = np.ascontiguousarray(x, dtype=np.dtype(spec.get("dtype", "int8")).newbyteorder("<")).tobytes()
            if len(b) != spec["bytes"]:
                raise InputError(f"an input of {len(b)} bytes for '{spec.get('name', 'input')}'; the model takes "
                                 f"{spec['bytes']}")
            data.append(b)
        self.set_input(b"".join(data))
        self.run(1)
        packed, outs, at = self.get_output(), [], 0
        for spec in self.outputs:
            outs.append(np.frombuffer(packed[at:at + spec["bytes"]], dtype=np.int8).reshape(spec["shape"]))
            at += spec["bytes"]
        return outs

    def invoke_raw(self, sample: np.ndarray) -> np.ndarray:
        """One quantized (int8) sample in, the int8 output out (a one-input, one-output model)."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise InputError(f"the model has {len(self.inputs)} inputs and {len(self.outputs)} outputs",
                             "use invoke_raw_many")
        return self.invoke_raw_many([sample])[0]

    # ---- the session API the runner drives ------------------------------------------------------------------
    def _ns(self, ticks: int) -> float:
        return ticks * 1e9 / self.info.systick_hz

    def hello(self) -> dict[str, Any]:
        info = self.get_info()
        if info.protocol != P.PROTOCOL_VERSION:
            raise DeviceError(f"firmware speaks protocol {info.protocol}, host speaks {P.PROTOCOL_VERSION}",
                              "rebuild the firmware with this edgekit version")
        # the profile the image names itself by: a real board's, for an emulator that runs that board's image
        built_for = self.artifact.manifest["export"]["firmware"]["build"].get(
            "profile", self.artifact.manifest.get("target", {}).get("name"))
        if info.profile and info.profile != built_for:  # a board flashed by hand with another build
            raise DeviceError(f"the device runs firmware built for '{info.profile}', the artifact's is for "
                              f"'{built_for}'", "flash this artifact's firmware to the device")
        return {"protocol_version": info.protocol, "runtime": f"edgekit-firmware ({info.kernels} kernels)",
                "machine": {**self.machine, "core": info.core, "systick_hz": info.systick_hz,
                            "cycle_counter": info.has_cycle_counter, "firmware_profile": info.profile}}

    def load(self) -> dict[str, Any]:
        """The model is in the image: check it is the artifact's model and that it prepared, then run it once."""
        info = self.info or self.get_info()
        expected = int(self.artifact.manifest["export"]["firmware"]["model_id"], 16)
        if info.model_id != expected:
            raise DeviceError(f"the device runs model {info.model_id:08x}, the artifact holds {expected:08x}",
                              "flash this artifact's firmware.bin to the device")
        if not info.ready:
            self.run(1)  # raises with the kernel's own status code
            raise DeviceError("the model did not prepare on the device")
        expected, device = ([t["bytes"] for t in self.inputs], [t["bytes"] for t in self.outputs]), self.tensor_sizes()
        if device != expected:
            raise DeviceError(f"the device's tensor sizes (inputs, outputs) are {device}, the artifact's {expected}",
                              "flash this artifact's firmware.bin to the device")
        self.set_input(self._reference_sample())
        first = self.run(1)
        return {"load_s": 0.0, "first_inference_s": self._ns(first.ticks_last) / 1e9}

    def bench(self, runs: int, warmup: int, cooldown_s: float = 0.0) -> dict[str, Any]:
        """Latencies from SysTick (virtual time under QEMU). The input is set before every run: a run may reuse
        the input's arena bytes for later tensors, as TFLite Micro does."""
        sample = self._reference_sample()
        for _ in range(warmup):
            self.set_input(sample)
            self.run(1)
        ticks, cycles = [], []
        for _ in range(runs):
            self.set_input(sample)
            r = self.run(1)
            ticks.append(r.ticks_last)
            cycles.append(r.cycles_last)
            if cooldown_s:
                time.sleep(cooldown_s)
        counters: dict[str, Any] = {"systick_ticks_per_inference": int(np.median(ticks)),
                                    "systick_hz": self.info.systick_hz}
        per_ns = self.machine.get("instructions_per_virtual_ns")
        if per_ns:
            counters["instructions_per_inference"] = int(round(self._ns(int(np.median(ticks))) * per_ns))
            counters["instructions_note"] = ("QEMU -icount: one instruction per virtual ns, read through SysTick "
                                             f"(resolution {1e9 / self.info.systick_hz * per_ns:g} instructions); "
                                             "instructions, not cycles")
        if self.info.has_cycle_counter:
            counters["cycles_per_inference"] = int(np.median(cycles))
            counters["cycles_note"] = "DWT CYCCNT on the device: core clock cycles, measured"
        return {"latencies_ns": [self._ns(t) for t in ticks], "warmup": warmup, "counters": counters,
                "thermal_before": None, "thermal_after": None}

    def profile(self, runs: int) -> dict[str, Any]:
        """Per kernel call, its clock count averaged over `runs` profiled inferences of the reference input (a
        RawProfile, edgekit.measure.op_profile). Each profiled run follows a plain run on the same input, whose count
        is `whole_unprofiled`: the overhead of the clock readings is whole / whole_unprofiled - 1."""
        calls = self._kernel_calls()
        self._check_can_profile()
        sample = self._reference_sample()
        sums, whole, plain, clock = [0] * len(calls), [], [], P.PROFILE_CLOCK_TICKS
        for _ in range(max(1, runs)):
            self.set_input(sample)
            plain.append(self.run(1))
            self.set_input(sample)
            whole.append(self.run(1, profile=True))
            clock, values = self.profile_table()
            if len(values) != len(calls):
                raise DeviceError(f"the firmware profiled {len(values)} kernel calls, the artifact lists "
                                  f"{len(calls)}", "flash this artifact's firmware.bin to the device")
            sums = [a + b for a, b in zip(sums, values)]
        n = len(whole)
        unit, scale, basis = self._profile_unit(clock)
        count = (lambda r: r.cycles_last) if clock == P.PROFILE_CLOCK_CYCLES else (lambda r: r.ticks_last)
        events = [{"name": c["op"], "index": c["index"], "kernel": c["kernel"], "tensor": c["tensor"],
                   "calls": 1, "value": total / n * scale} for c, total in zip(calls, sums)]
        return {"unit": unit, "basis": basis, "runs": n, "events": events,
                "whole": sum(count(r) for r in whole) / n * scale,
                "whole_unprofiled": sum(count(r) for r in plain) / n * scale}

    def _kernel_calls(self) -> list[dict[str, Any]]:
        """The artifact's table of kernel calls (what each slot of the firmware's profile table ran)."""
        fw = self.artifact.manifest["export"]["firmware"]
        name = fw.get("profile_table")
        if not name or name not in self.artifact.manifest["files"]:
            raise UnsupportedError("this c-firmware artifact has no kernel-call table (it predates --profile)",
                                   "compile the artifact again")
        try:
            return json.loads((self.artifact.path / name).read_text())["calls"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot read {name} of the artifact: {exc}", "compile the artifact again") from None

    def _check_can_profile(self) -> None:
        """Firmware built before profiling does not know PROFILE: say so at once, not after resent RUNs."""
        try:
            self.request(P.Cmd.PROFILE, P.profile_payload(0))
        except FirmwareRefused as exc:
            if exc.status == P.Status.UNKNOWN_CMD:
                raise UnsupportedError("the device's firmware predates per-kernel profiling",
                                       "compile the artifact again and flash its firmware.bin") from None
            if exc.status != P.Status.NO_PROFILE:  # NO_PROFILE: nothing profiled yet, as expected
                raise

    def _profile_unit(self, clock: int) -> tuple[str, float, str]:
        """(unit, factor from the table's counts to that unit, basis in words) for the firmware's profile clock."""
        per_mark = "the clock read by the agent after each kernel call (ek_model_eval_profiled), the time between " \
                   "two readings charged to the call they enclose"
        if clock == P.PROFILE_CLOCK_CYCLES:
            return "cycles", 1.0, f"DWT CYCCNT core cycles on the device: {per_mark}"
        hz = (self.info or self.get_info()).systick_hz
        ns = 1e9 / hz
        per_ns = self.machine.get("instructions_per_virtual_ns")
        if per_ns:
            return "instructions", ns * per_ns, (
                f"QEMU -icount instructions counted through SysTick ({ns * per_ns:g} instructions a tick, so each "
                f"call is within one tick): {per_mark}")
        return "ns", ns, f"SysTick at {hz:,} Hz on the device: {per_mark}"

    def _reference_sample(self) -> bytes:
        """The first reference sample of every input, quantized and packed as the firmware takes them."""
        batch = self.inputs[0]["shape"][0] if self.inputs[0]["shape"] else 1
        ref = self.artifact.reference().inputs
        return b"".join(q.tobytes() for q in self._quantize([x[:batch] for x in ref]))

    def _quantize(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Inputs in the model's order -> the firmware's inputs in its order: float ones quantized to int8, each
        with its own scale and zero point; integer ones (token ids: scale None) in the .tflite's integer type."""
        from ..export.mcu.tflm import to_firmware_input
        if len(inputs) != len(self.inputs):
            raise InputError(f"{len(inputs)} inputs given; the model takes {len(self.inputs)}")
        declared = self.artifact.manifest.get("inputs") or []
        for k, spec in enumerate(self.inputs):
            i = spec.get("signature_index", k)
            dtype = declared[i].get("dtype", "float32") if i < len(declared) else "float32"
            if spec.get("scale") is not None and not np.issubdtype(np.dtype(dtype), np.floating):
                name = declared[i].get("name", f"input {i}")
                raise InputError(f"input '{name}' is {dtype}; the firmware takes float inputs quantized to int8")
        return [to_firmware_input(inputs[spec.get("signature_index", k)], spec) for k, spec in enumerate(self.inputs)]

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Float samples (batched like the model's inputs, one array per input in the model's order) ->
        dequantized float outputs in the model's order, one inference per batch, each tensor (de)quantized with its
        own scale and zero point."""
        from ..export.quant_arith import dequantize
        q = self._quantize(inputs)
        batch = self.inputs[0]["shape"][0] if self.inputs[0]["shape"] else 1
        n = len(q[0])
        if any(len(x) != n for x in q):
            raise InputError(f"inputs with different sample counts: {[len(x) for x in q]}")
        runs = [self.invoke_raw_many([x[i:i + batch] for x in q]) for i in range(0, n - n % batch, batch)]
        result: list[Any] = [None] * len(self.outputs)
        for k, spec in enumerate(self.outputs):
            y = (np.concatenate([r[k] for r in runs]) if runs
                 else np.zeros((0, *spec["shape"][1:]), np.int8))
            result[spec.get("signature_index", k)] = dequantize(
                y, {"scale": spec["scale"], "zero_point": spec["zero_point"]})
        return result

    def memory(self) -> dict[str, Any]:
        s = self.stats()
        fw = self.artifact.manifest["export"]["firmware"]
        return {"arena_bytes": s.arena_bytes, "arena_used_bytes": s.arena_used,
                "arena_lower_bound_bytes": fw["arena_lower_bound_bytes"], "stack_bytes": s.stack_bytes,
                "stack_peak_bytes": s.stack_peak, "flash_bytes": fw["flash_bytes"], "ram_bytes": fw["ram_bytes"],
                "weight_bytes": fw["weight_bytes"], "measured": "arena and stack high-water marks by painting"}

    def close(self) -> None:
        try:
            self.link.close()
        except Exception:  # closing a dead link must not mask the real error
            pass
        finally:
            self.on_close()


def _runs_image_of(profile: Profile) -> str | None:
    """The real board whose image an emulated profile runs unchanged (`same_image`), else None."""
    opts = profile.emulation.options if profile.emulation else {}
    return profile.stands_for if opts.get("same_image") else None


def _same_image_as(target: str) -> set[str]:
    """The targets whose images `target` runs unchanged: an emulator of a real board (`same_image`) runs that
    board's firmware, and the board runs what was compiled for its emulator."""
    real = _runs_image_of(load_profile(target))
    boards = {target, real} - {None}
    names = {p.name for p in list_profiles() if _runs_image_of(p) in boards} | ({real} if real else set())
    return names - {target}


def check_built_for(artifact: Artifact, target: str) -> None:
    """A firmware image is built for one profile (its core and FPU flags, memory map, UART and SysTick clock):
    refuse another target before anything is flashed."""
    built_for = artifact.manifest.get("target", {}).get("name", "unknown")
    if built_for != target and built_for not in _same_image_as(target):
        raise UnsupportedError(f"the firmware was built for target '{built_for}', not '{target}' (core, memory map "
                               "and clock are built in)", f"compile the model for '{target}'")


def verified_copy(artifact: Artifact, into: Path) -> Path:
    """The artifact's image copied into a private folder and hashed there: what the board is given is exactly the
    file whose sha256 the manifest records, whatever happens to the artifact folder afterwards."""
    name = artifact.manifest["model_file"]
    copy = into / name
    try:
        shutil.copyfile(artifact.path / name, copy)
    except OSError as exc:
        raise InputError(f"cannot read the firmware image {artifact.path / name}: {exc.strerror}") from None
    if sha256_file(copy) != artifact.manifest["files"][name]["sha256"]:
        raise InputError(f"{name} differs from the one the manifest records (sha256): refusing to run it",
                         "compile the artifact again")
    return copy


@register_session("c-firmware")
def open_firmware_session(link: Transport, artifact: Artifact, timeout: float
                          ) -> tuple[FirmwareSession, dict[str, float]]:
    """Flash the artifact's image (or boot the emulator with it), open the serial port, start a session."""
    if not isinstance(link, FirmwarePort):
        raise UnsupportedError(f"the {link.name} transport cannot run c-firmware artifacts",
                               "use a microcontroller target (serial transport)")
    check_built_for(artifact, link.profile.name)
    staging = Path(tempfile.mkdtemp(prefix="edgekit-image-"))
    try:
        image = verified_copy(artifact, staging)
        origin = int(artifact.manifest["export"]["firmware"]["build"]["flash_origin"], 16)
        t0 = time.perf_counter()
        machine = link.flash(image, load_address=origin)  # the raw image at the address it was linked for
        timings = {"flash_s": time.perf_counter() - t0}
        t0 = time.perf_counter()
        port = link.connect(timeout)
        timings["connect_s"] = time.perf_counter() - t0
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    session = FirmwareSession(port, artifact, machine, timeout=timeout, on_dead_link=link.check_alive)
    session.facts["image"] = {"file": image.name, "sha256": artifact.manifest["files"][image.name]["sha256"],
                              "load_address": f"0x{origin:08x}", "checked": "sha256 of the copy that was flashed"}
    session.on_close = lambda: shutil.rmtree(staging, ignore_errors=True)
    return session, timings
