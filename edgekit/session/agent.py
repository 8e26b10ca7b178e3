"""The Python agent's session: numbered JSON requests over a LineChannel, each with a timeout (the host side of
edgekit/agent/agent.py's protocol), and its opener for .pte and .tflite artifacts over any RemoteShell link: the
installer puts the agent and the artifact on the device, the link starts the agent.
"""
from __future__ import annotations

import itertools
import json
import time
from typing import Any, Callable

import numpy as np

from ..agent.agent import (E_BAD_REQUEST, E_HASH_MISMATCH, E_OUT_OF_MEMORY, E_OUTSIDE_WORKSPACE, E_RUNTIME_MISSING,
                           E_SHAPE_MISMATCH, PROTOCOL_VERSION, RUNTIMES, decode_tensor, encode_tensor)
from ..artifact import Artifact
from ..errors import DeviceError, InputError, UnsupportedError
from ..transport.base import RemoteShell, Transport
from ..transport.channel import LineChannel
from .base import register_session
from .install import AgentInstaller

# Agent errors caused by what the user gave us are input errors (exit 1); the rest are device failures (exit 3).
_INPUT_CODES = {E_BAD_REQUEST, E_SHAPE_MISMATCH, E_HASH_MISMATCH, E_OUTSIDE_WORKSPACE}
_HINTS = {E_RUNTIME_MISSING: "install the runtime on the device (see README: device set-up)",
          E_OUT_OF_MEMORY: "the runtime and model do not fit the device's memory: quantize or shrink the model, or "
                           "free memory on the device",
          E_HASH_MISMATCH: "the artifact changed in transit or on the device; deploy it again"}
ARTIFACT_DIR = "artifact"  # the artifact's name inside the session's workspace


class AgentSession:
    """A DeviceSession over the agent's channel. `artifact` is the artifact's directory in the agent's workspace;
    `on_close` runs after the agent has stopped (removing the workspace)."""

    def __init__(self, channel: LineChannel, artifact: str = ARTIFACT_DIR, timeout: float = 60.0,
                 on_close: Callable[[], None] | None = None, facts: dict[str, Any] | None = None,
                 instructions_per_virtual_ns: float | None = None) -> None:
        self.channel = channel
        self.instructions_per_virtual_ns = instructions_per_virtual_ns
        self.artifact = artifact
        self.timeout = timeout
        self.facts = facts or {}
        self._on_close = on_close
        self._ids = itertools.count(1)

    def request(self, cmd: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        req_id = next(self._ids)
        self.channel.send(json.dumps({"id": req_id, "cmd": cmd, **fields}).encode())
        while True:
            line = self.channel.recv(timeout or self.timeout)
            try:
                resp = json.loads(line)
            except json.JSONDecodeError:
                raise DeviceError(f"the agent sent a line that is not JSON: {line[:80]!r}") from None
            if resp.get("id") == req_id:
                break
        if not resp.get("ok"):
            err = resp.get("error", {})
            code = err.get("code", "unknown")
            message = " ".join(str(err.get("message", "no message")).split())  # one line, whatever the runtime said
            if len(message) > 300:
                message = message[:150] + " ... " + message[-145:]
            cls = InputError if code in _INPUT_CODES else DeviceError
            raise cls(f"agent: {message}", _HINTS.get(code))
        return resp

    def hello(self) -> dict[str, Any]:
        resp = self.request("hello")
        if resp.get("protocol_version") != PROTOCOL_VERSION:
            raise DeviceError(f"agent speaks protocol {resp.get('protocol_version')}, host speaks {PROTOCOL_VERSION}",
                              "deploy the agent from this edgekit version")
        return resp

    def load(self) -> dict[str, Any]:
        """Load the artifact deployed in the workspace: {'load_s', 'first_inference_s'}."""
        return self.request("load", artifact=self.artifact)

    def bench(self, runs: int, warmup: int, cooldown_s: float = 0.0, meter: str | None = None,
              meter_baseline_s: float = 0.0) -> dict[str, Any]:
        """{'latencies_ns': [...], 'warmup', 'thermal_before', 'thermal_after'}, plus 'counters' with the
        instructions per inference: from the device's instruction counter where it has one (user space only, so
        repeatable), else, under an instruction-counting emulator, from its virtual clock (whose fastest run also
        holds whatever the guest's kernel ran meanwhile). With `meter` (an INA219/INA260 spec), the agent samples
        that meter on the board through `meter_baseline_s` of idle and the inferences, and 'meter' holds its
        readings and each inference's window (edgekit.energy.bench.energy_from_agent)."""
        metering = {"meter": meter, "meter_baseline_s": meter_baseline_s} if meter else {}
        result = self.request("bench", runs=runs, warmup=warmup, cooldown_s=cooldown_s, count_instructions=True,
                              timeout=self.timeout + meter_baseline_s + runs * (cooldown_s + 1), **metering)
        per_ns = self.instructions_per_virtual_ns
        counted, latencies = result.get("instructions"), result.get("latencies_ns")
        if counted:
            result["counters"] = {
                "instructions_per_inference": int(min(counted)),
                "instructions_median": int(sorted(counted)[len(counted) // 2]), "instructions_max": int(max(counted)),
                "instructions_note": "the CPU's instruction counter (perf_event_open), user space only: the "
                                     "runtime's instructions per inference, the fewest of the runs (others add the "
                                     "agent's own Python work, such as a garbage collection)"
                                     + ("; QEMU -icount's emulated PMU (Arm instructions, not cycles)" if per_ns
                                        else "")}
        elif per_ns and latencies:
            result["counters"] = {
                "instructions_per_inference": int(round(min(latencies) * per_ns)),
                "instructions_note": "QEMU -icount: the guest clock advances one ns per executed instruction; the "
                                     "count is the fastest run (guest kernel work included)"}
        return result

    def profile(self, runs: int) -> dict[str, Any]:
        """The runtime's per-operator figures over `runs` inferences (a RawProfile, edgekit/measure/op_profile.py)."""
        return self.request("profile", runs=runs, timeout=self.timeout * (1 + runs))

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Every model output for N samples (one array per model input, N samples each)."""
        resp = self.request("predict", inputs=[encode_tensor(x) for x in inputs])
        return [decode_tensor(t) for t in resp["outputs"]]

    def generate(self, prompt: list[int], new_tokens: int) -> dict[str, Any]:
        """Greedy tokens from a cached decoder: {'tokens', 'prefill_ns', 'decode_ns'} (see the agent)."""
        return self.request("generate", prompt=[int(t) for t in prompt], new_tokens=int(new_tokens),
                            timeout=self.timeout * (1 + new_tokens))

    def memory(self) -> dict[str, Any]:
        return self.request("memory")

    def close(self) -> None:
        try:
            self.request("shutdown", timeout=5)
        except DeviceError:
            pass
        finally:
            self.channel.close()
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                on_close()


@register_session(*RUNTIMES)
def open_agent_session(link: Transport, artifact: Artifact, timeout: float) -> tuple[AgentSession, dict[str, float]]:
    """Install the agent (cached), upload the artifact into a fresh workspace, start the agent."""
    if not isinstance(link, RemoteShell):
        raise UnsupportedError(f"the {link.name} transport cannot run the Python agent for .{artifact.format} "
                               "artifacts", "use a target whose transport runs programs (local, ssh, adb)")
    installer = AgentInstaller(link)
    t0 = time.perf_counter()
    agent = installer.install_agent(artifact.format)
    workspace = installer.new_workspace()
    timings = {"setup_s": time.perf_counter() - t0}
    try:
        t0 = time.perf_counter()
        name = installer.upload_dir(artifact.path, workspace, ARTIFACT_DIR)
        timings["upload_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        argv = [link.python, agent, "--workspace", workspace]
        if link.memory_limit:
            argv += ["--memory-limit", str(link.memory_limit)]  # the agent caps itself (see agent.main)
        channel = link.spawn(argv)
        timings["agent_start_s"] = time.perf_counter() - t0
    except BaseException:
        installer.remove(workspace)  # a refused upload leaves nothing behind
        raise
    session = AgentSession(channel, name, timeout, on_close=lambda: installer.remove(workspace),
                           facts=installer.facts,
                           instructions_per_virtual_ns=link.describe().get("instructions_per_virtual_ns"))
    return session, timings
