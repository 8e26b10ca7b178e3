"""The agent's protocol and safety checks, driven in-process through its serve loop."""
import io
import json

import numpy as np

from edgekit.agent.agent import (E_BAD_REQUEST, E_HASH_MISMATCH, E_NOT_LOADED, E_OUTSIDE_WORKSPACE, Agent,
                                 decode_tensor, encode_tensor, serve)


def converse(agent, *requests):
    stdin = io.StringIO("".join(json.dumps(r) + "\n" for r in requests))
    stdout = io.StringIO()
    serve(agent, stdin, stdout)
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_hello_and_unknown_command(tmp_path):
    hello, unknown = converse(Agent(tmp_path), {"id": 1, "cmd": "hello"}, {"id": 2, "cmd": "dance"})
    assert hello["ok"] and hello["protocol_version"] == 2 and hello["machine"]["cpu_count"] >= 1
    assert not unknown["ok"] and unknown["error"]["code"] == E_BAD_REQUEST and unknown["id"] == 2


def test_refuses_paths_outside_the_workspace(tmp_path):
    (tmp_path / "ws").mkdir()
    [resp] = converse(Agent(tmp_path / "ws"), {"id": 1, "cmd": "load", "artifact": "../"})
    assert resp["error"]["code"] == E_OUTSIDE_WORKSPACE


def test_refuses_files_whose_hash_does_not_match(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    (art / "model.pte").write_bytes(b"abc")
    (art / "manifest.json").write_text(json.dumps({"format": "pte", "model_file": "model.pte",
                                                   "files": {"model.pte": {"sha256": "0" * 64}}}))
    [resp] = converse(Agent(tmp_path), {"id": 1, "cmd": "load", "artifact": "art"})
    assert resp["error"]["code"] == E_HASH_MISMATCH


def test_commands_before_load_and_shutdown(tmp_path):
    responses = converse(Agent(tmp_path), {"id": 1, "cmd": "bench"}, {"id": 2, "cmd": "shutdown"},
                         {"id": 3, "cmd": "hello"})
    assert responses[0]["error"]["code"] == E_NOT_LOADED
    assert responses[1:] == [{"id": 2, "ok": True}], "the agent must stop answering after shutdown"


def test_malformed_json_gets_an_answer(tmp_path):
    stdout = io.StringIO()
    serve(Agent(tmp_path), io.StringIO("{oops\n"), stdout)
    resp = json.loads(stdout.getvalue())
    assert resp["ok"] is False and resp["error"]["code"] == E_BAD_REQUEST


def test_tensor_roundtrip():
    a = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    b = decode_tensor(encode_tensor(a))
    assert b.dtype == np.int8 and np.array_equal(a, b)
