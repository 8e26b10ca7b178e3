"""Cached decoders end to end through the real command: a LLaMA-architecture decoder compiled to one .pte (prefill
and decode, KV cache inside), INT4 on XNNPACK's 4-bit kernels, greedy tokens generated on the emulated phone and
checked against the host's; and the refusals that come before any slow work."""
import json

import numpy as np
import pytest
import torch

import edgekit
from edgekit.decoder import _check, greedy_tokens, is_cached_decoder
from edgekit.errors import InputError, UnsupportedError
from edgekit.models.llama import Llama, TINY, llama
from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli, run_cli_together

TINY_DECODER = "edgekit/models/llama.py:build_tiny"


def test_the_cached_forward_gives_the_full_sequence_tokens():
    """Prefill + one call per token with the KV cache = recomputing the whole sequence each time."""
    model = llama("tiny", seed=3)
    prompt = list(range(40, 52))
    seq, full = list(prompt), []
    with torch.no_grad():
        for _ in range(12):
            full.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
            seq.append(full[-1])
    assert greedy_tokens(model, prompt, 12) == full
    assert is_cached_decoder(model) and not is_cached_decoder(torch.nn.Linear(2, 2))


@pytest.mark.runtime
def test_int4_decoder_generates_on_the_emulated_phone(tmp_path):
    recipe = tmp_path / "int4.toml"
    recipe.write_text('[[step]]\nmethod = "int4-rtn"\ngroup_size = 32\nsymmetric = true\n')
    result = run_cli("compile", TINY_DECODER, "-t", "emu-phone", "--recipe", recipe, "-o", tmp_path / "art", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads(result.stdout)
    gen = manifest["generation"]
    assert "qd8-qb4w" in gen["weights"] and gen["embedding"].startswith("int8")
    # Every Linear runs in the XNNPACK delegate: no (de)quantize or matmul left to the portable kernels.
    left = manifest["export"]["delegation"]["not_delegated_ops"]
    assert not [op for op in left if "linear" in op or "mm" in op or "quantize_affine" in op or "choose_qparams" in op], left
    assert "quantized_decomposed.embedding_byte.dtype" in left  # ExecuTorch's quantized kernel, not XNNPACK's
    fp32_bytes = 4 * sum(p.numel() for p in Llama(TINY).parameters())
    assert manifest["files"]["model.pte"]["bytes"] < 0.4 * fp32_bytes

    bench = run_cli("bench", tmp_path / "art", "-t", "emu-phone", "--generate", "24", "--json")
    assert bench.returncode == 0, bench.stderr[-2000:]
    report = json.loads(bench.stdout)["generation"]
    assert len(report["tokens"]) == 24 and report["prompt_len"] == len(gen["prompt"])
    # The host reference computes what XNNPACK computes (int8 dynamic activations x int4 weights).
    assert report["vs_host"]["identical"], (report["tokens"], gen["host_tokens"][:24])
    assert report["time_to_first_token_ms"] > 0 and report["decode_tokens_per_s"] > 0
    assert report["kv_cache_bytes"] == TINY.kv_cache_bytes()

    longer = run_cli("bench", tmp_path / "art", "-t", "emu-phone", "--generate", str(TINY.max_seq_len), "--json")
    assert_one_line_error(longer, InputError.exit_code, "exceed the decoder's context")
    plain = run_cli("bench", tmp_path / "art", "-t", "emu-phone")
    assert_one_line_error(plain, InputError.exit_code, "is a cached decoder")


def test_decoder_refusals_come_before_any_work(tmp_path):
    model = llama("tiny")
    with pytest.raises(UnsupportedError, match="cannot be applied to a cached decoder"):
        edgekit.compile_decoder(model, "emu-phone", tmp_path / "a", recipe=[edgekit.Int8StaticConfig()])
    with pytest.raises(UnsupportedError, match="symmetric"):
        edgekit.compile_decoder(model, "emu-phone", tmp_path / "a", recipe=[edgekit.Int4WeightOnlyConfig(group_size=32)])
    with pytest.raises(UnsupportedError, match="ExecuTorch .pte"):
        edgekit.compile_decoder(model, "emu-rpi4-x86", tmp_path / "a")
    with pytest.raises(InputError, match="exceed the decoder's context"):
        edgekit.compile_decoder(model, "emu-phone", tmp_path / "a", prompt=[1] * 80, reference_tokens=64)
    with pytest.raises(UnsupportedError, match="quantizes the decoder's weights twice"):
        edgekit.compile_decoder(model, "emu-phone", tmp_path / "a", recipe=[edgekit.Int8DynamicTokenConfig()] * 2)
    with pytest.raises(InputError, match="token ids must lie"):
        edgekit.compile_decoder(model, "emu-phone", tmp_path / "a", calibration=edgekit.Dataset(np.full((4, 8), 999)))
    assert not (tmp_path / "a").exists()


def test_reference_tokens_default_to_what_the_context_holds():
    """A 90-token prompt in a 96-token context leaves room for 6 host tokens: compiled, not refused."""
    assert _check(llama("tiny"), [], [1] * 90, None) == 6
    assert _check(llama("tiny"), [], [1] * 8, None) == 64


def test_decoder_options_that_cannot_work_are_refused_before_any_work(tmp_path):
    """The hint named what compile cannot change ('generate fewer tokens'); --quantize int8 asked for calibration
    data, then refused int8; INT4 twice was accepted; bench --generate ignored --eval."""
    twice = tmp_path / "twice.toml"
    twice.write_text('[[step]]\nmethod = "int4-rtn"\ngroup_size = 32\nsymmetric = true\n' * 2)
    np.savez(tmp_path / "eval.npz", x=np.zeros((2, 8), np.int64))
    long_prompt, int8, int4_twice, generate_eval = run_cli_together(
        ["compile", TINY_DECODER, "-t", "emu-phone", "--prompt-len", "96", "-o", tmp_path / "o"],
        ["compile", TINY_DECODER, "-t", "emu-phone", "-q", "int8", "-o", tmp_path / "o"],
        ["compile", TINY_DECODER, "-t", "emu-phone", "--recipe", twice, "-o", tmp_path / "o"],
        ["bench", tmp_path, "-t", "emu-phone", "--generate", "4", "--eval", tmp_path / "eval.npz"])
    assert_one_line_error(long_prompt, 1, "the prompt (96 tokens) leaves no room in the decoder's context of 96 "
                                          "(use a prompt of at most 95 tokens)")
    assert_one_line_error(int8, 1, "--quantize int8 (static, calibrated) cannot be applied to a cached decoder "
                                   "(use --quantize int8-dynamic")
    assert_one_line_error(int4_twice, 1, "quantizes the decoder's weights twice (int4-rtn, then int4-rtn)")
    assert_one_line_error(generate_eval, 1, "--eval goes with a benchmark of samples, not with --generate N")
    assert not (tmp_path / "o").exists()


def test_generate_on_a_model_that_is_not_a_decoder_is_one_line(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    (art / "manifest.json").write_text(json.dumps({"format": "pte", "model_file": "m.pte", "files": {}}))
    result = run_cli("bench", art, "-t", "emu-phone", "--generate", "4")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
