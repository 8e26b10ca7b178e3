"""The edgekit firmware's session: a DeviceSession over the firmware's framed serial protocol
(firmware_protocol.py), and its opener for c-firmware artifacts over any FirmwarePort link. The model travels
inside the firmware image: the link flashes a real board or boots its emulator with the image, and the session
is built the same way for both. Every read has a timeout."""
from __future__ import annotations

import itertools
import time
from typing import Any, Callable

import numpy as np

from ..artifact import Artifact
from ..errors import DeviceError, InputError, UnsupportedError
from ..transport.base import FirmwarePort, Transport
from ..transport.channel import SerialPort
from . import firmware_protocol as P
from .base import register_session


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
        self.in_spec, self.out_spec = fw["input"], fw["output"]
        self.info: P.Info | None = None

    # ---- framing --------------------------------------------------------------------------------------------
    def request(self, cmd: P.Cmd, payload: bytes = b"", timeout: float | None = None) -> bytes:
        seq = next(self._seq) & 0xFF
        try:
            self.link.write(P.encode_frame(cmd, seq, payload))
        except Exception as exc:  # pyserial raises SerialException / OSError subclasses
            self._on_dead_link()
            raise DeviceError(f"serial link closed while sending {cmd.name}: {exc}") from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._on_dead_link()
                raise DeviceError(f"the firmware did not answer {cmd.name} within {timeout or self.timeout:g} s",
                                  "check the port and baud rate; the device may be hung")
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
                raise DeviceError(f"bad reply to {cmd.name}: {exc}") from None
            for frame in frames:
                if frame.seq != seq:
                    continue  # a late reply to an earlier, timed-out request
                if frame.kind != P.Status.OK:
                    status = P.Status(frame.kind) if frame.kind in P.Status._value2member_map_ else frame.kind
                    meaning = P.STATUS_MEANING.get(status, "unknown status")
                    raise DeviceError(f"firmware answered {cmd.name} with {getattr(status, 'name', status)}: "
                                      f"{meaning}")
                return frame.payload

    # ---- the raw commands -----------------------------------------------------------------------------------
    def get_info(self) -> P.Info:
        self.info = P.parse_info(self.request(P.Cmd.INFO))
        return self.info

    def set_input(self, data: bytes) -> None:
        chunk = P.MAX_PAYLOAD - 4
        for off in range(0, len(data), chunk):
            self.request(P.Cmd.SET_INPUT, P.set_input_payload(off, data[off:off + chunk]))

    def run(self, count: int = 1) -> P.RunResult:
        return P.parse_run(self.request(P.Cmd.RUN, P.run_payload(count), timeout=self.timeout + count))

    def get_output(self) -> bytes:
        n = self.out_spec["bytes"]
        return b"".join(self.request(P.Cmd.GET_OUTPUT, P.get_output_payload(off, min(P.MAX_PAYLOAD, n - off)))
                        for off in range(0, n, P.MAX_PAYLOAD))

    def stats(self) -> P.Stats:
        return P.parse_stats(self.request(P.Cmd.STATS))

    def invoke_raw(self, sample: np.ndarray) -> np.ndarray:
        """One quantized (int8) sample in, the int8 output out."""
        data = np.ascontiguousarray(sample, dtype=np.int8).tobytes()
        if len(data) != self.in_spec["bytes"]:
            raise InputError(f"an input of {len(data)} bytes; the model takes {self.in_spec['bytes']}")
        self.set_input(data)
        self.run(1)
        return np.frombuffer(self.get_output(), dtype=np.int8).reshape(self.out_spec["shape"])

    # ---- the session API the runner drives ------------------------------------------------------------------
    def _ns(self, ticks: int) -> float:
        return ticks * 1e9 / self.info.systick_hz

    def hello(self) -> dict[str, Any]:
        info = self.get_info()
        if info.protocol != P.PROTOCOL_VERSION:
            raise DeviceError(f"firmware speaks protocol {info.protocol}, host speaks {P.PROTOCOL_VERSION}",
                              "rebuild the firmware with this edgekit version")
        return {"protocol_version": info.protocol, "runtime": f"edgekit-firmware ({info.kernels} kernels)",
                "machine": {**self.machine, "core": info.core, "systick_hz": info.systick_hz,
                            "cycle_counter": info.has_cycle_counter}}

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
        reference = self.artifact.reference().inputs[0][:1]
        self.set_input(self._quantize(reference).tobytes())
        first = self.run(1)
        return {"load_s": 0.0, "first_inference_s": self._ns(first.ticks_last) / 1e9}

    def bench(self, runs: int, warmup: int, cooldown_s: float = 0.0) -> dict[str, Any]:
        """Latencies from SysTick (virtual time under QEMU). The input is set before every run: a run may reuse
        the input's arena bytes for later tensors, as TFLite Micro does."""
        sample = self._quantize(self.artifact.reference().inputs[0][:1]).tobytes()
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
        return {"latencies_ns": [self._ns(t) for t in ticks], "warmup": warmup, "counters": counters,
                "thermal_before": None, "thermal_after": None}

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        from ..export.quant_arith import quantize
        return quantize(np.asarray(x), "int8", {"scale": self.in_spec["scale"], "zero_point": self.in_spec["zero_point"]})

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Float samples (batched like the model's input) -> dequantized float outputs, one inference each.
        The firmware runs models with one input and one output."""
        from ..export.quant_arith import dequantize
        if len(inputs) != 1:
            raise DeviceError(f"the firmware takes one input tensor, {len(inputs)} given")
        batch = self.in_spec["shape"][0]
        q = self._quantize(inputs[0])
        outs = [self.invoke_raw(q[i:i + batch]) for i in range(0, len(q) - len(q) % batch, batch)]
        y = np.concatenate(outs) if outs else np.zeros((0, *self.out_spec["shape"][1:]), np.int8)
        return [dequantize(y, {"scale": self.out_spec["scale"], "zero_point": self.out_spec["zero_point"]})]

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


@register_session("c-firmware")
def open_firmware_session(link: Transport, artifact: Artifact, timeout: float
                          ) -> tuple[FirmwareSession, dict[str, float]]:
    """Flash the artifact's image (or boot the emulator with it), open the serial port, start a session."""
    if not isinstance(link, FirmwarePort):
        raise UnsupportedError(f"the {link.name} transport cannot run c-firmware artifacts",
                               "use a microcontroller target (serial transport)")
    t0 = time.perf_counter()
    machine = link.flash(artifact.path / "firmware.elf")
    timings = {"flash_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    port = link.connect(timeout)
    timings["connect_s"] = time.perf_counter() - t0
    return FirmwareSession(port, artifact, machine, timeout=timeout, on_dead_link=link.check_alive), timings
