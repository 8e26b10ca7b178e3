"""Host side of the agent protocol: numbered JSON requests over a LineChannel, each with a timeout.

AgentClient is one implementation of a device session (hello, load, bench, predict, memory, close) that the
runner drives; a microcontroller's firmware client implements the same methods over its serial protocol.
"""
from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np

from ..errors import DeviceError, InputError
from ..transport.base import LineChannel
from .agent import (E_BAD_REQUEST, E_HASH_MISMATCH, E_OUTSIDE_WORKSPACE, E_RUNTIME_MISSING, E_SHAPE_MISMATCH,
                    PROTOCOL_VERSION, decode_tensor, encode_tensor)

# Agent errors caused by what the user gave us are input errors (exit 1); the rest are device failures (exit 3).
_INPUT_CODES = {E_BAD_REQUEST, E_SHAPE_MISMATCH, E_HASH_MISMATCH, E_OUTSIDE_WORKSPACE}
_HINTS = {E_RUNTIME_MISSING: "install the runtime on the device (see README: device set-up)",
          E_HASH_MISMATCH: "the artifact changed in transit or on the device; deploy it again"}


class AgentClient:
    def __init__(self, channel: LineChannel, timeout: float = 60.0) -> None:
        self.channel = channel
        self.timeout = timeout
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

    def load(self, artifact: str) -> dict[str, Any]:
        """Load an artifact already in the workspace: {'load_s', 'first_inference_s'}."""
        return self.request("load", artifact=artifact)

    def bench(self, runs: int, warmup: int, cooldown_s: float = 0.0) -> dict[str, Any]:
        """{'latencies_ns': [...], 'warmup', 'thermal_before', 'thermal_after'}."""
        return self.request("bench", runs=runs, warmup=warmup, cooldown_s=cooldown_s,
                            timeout=self.timeout + runs * (cooldown_s + 1))

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Every model output for N samples (one array per model input, N samples each)."""
        resp = self.request("predict", inputs=[encode_tensor(x) for x in inputs])
        return [decode_tensor(t) for t in resp["outputs"]]

    def memory(self) -> dict[str, Any]:
        return self.request("memory")

    def close(self) -> None:
        try:
            self.request("shutdown", timeout=5)
        except DeviceError:
            pass
        finally:
            self.channel.close()
