"""Fuzzing the MCU agent's frame parser and command handlers (firmware/agent/ek_agent.c) on the host.

The libFuzzer harness firmware/tests/fuzz_agent.c is built twice with clang, AddressSanitizer and
UndefinedBehaviorSanitizer: the raw mode feeds the fuzz input to the agent's serial port as it is, the framed mode
turns it into frames with a correct CRC mixed with raw bytes (the harness explains why). Each mode runs for
--runs executions from a seed corpus of valid frames for every command (made here with the host's encode_frame),
then the corpus it grew is replayed by a source-coverage build (llvm-cov) to report which lines of ek_agent.c
the fuzzing reached. Target (issue 13): >= 1,000,000 executions with no crash. Writes bench/results/fuzz.json.

    .venv/bin/python bench/bench_fuzz.py [--runs 1000000] [--seed 1]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from common import RESULTS, write_result  # noqa: E402

from edgekit.session.firmware_protocol import (RUN_PROFILE, Cmd, encode_frame, get_output_payload,  # noqa: E402
                                               profile_payload, run_payload, set_input_payload, tensors_payload)

FIRMWARE = ROOT / "firmware"
HARNESS = FIRMWARE / "tests" / "fuzz_agent.c"
AGENT = FIRMWARE / "agent" / "ek_agent.c"
SOURCES = [HARNESS, FIRMWARE / "agent" / "ek_crc32.c"]
CFLAGS = ["-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all"]
COVERAGE_CFLAGS = ["-g", "-O0", "-fsanitize=fuzzer", "-fprofile-instr-generate", "-fcoverage-mapping"]
MODES = {"raw": 0, "framed": 1}
MAX_LEN = 4096
# Deliberate bugs in a copy of ek_agent.c (original text -> replacement): a fuzzing run that finds them shows the
# harness's checks catch that kind of bug; one that finds none says what "no crash" is worth.
MUTANTS = {
    "set_input_unchecked": ("if (offset > ek_model.input_bytes || len > ek_model.input_bytes - offset) {",
                            "if (0) {"),
    "get_output_off_by_one": ("len > ek_model.output_bytes - offset ||",
                              "len > ek_model.output_bytes - offset + 1 ||"),
    "rx_length_check_late": ("if (*n > EK_MAX_PAYLOAD) {", "if (*n > EK_MAX_PAYLOAD + 8) {"),
    "runs_not_counted": ("++runs_done;", ";"),
    "split_past_a_tensor": ("const uint32_t k = t[i].bytes - offset < len ? t[i].bytes - offset : len;",
                            "const uint32_t k = len;"),
    "reply_crc_skips_seq": ("crc32_update(0, head + 2, EK_HEADER_BYTES - 2);",
                            "crc32_update(0, head + 3, EK_HEADER_BYTES - 3);"),
}
TIMEOUT_S = 10  # one input running longer than this is reported as a hang


def toolchain_missing(cc: str = "clang") -> str | None:
    """Why the harness cannot be built here (None when it can): clang and its libFuzzer runtime are needed."""
    if shutil.which(cc) is None:
        return f"{cc} not found (Debian: apt-get install clang libclang-rt-14-dev, pinned in .ci/apt-packages.txt)"
    out = subprocess.run([cc, f"-print-file-name=libclang_rt.fuzzer-{platform.machine()}.a"], capture_output=True,
                         text=True)
    lib = out.stdout.strip()
    if out.returncode != 0 or not Path(lib).is_absolute() or not Path(lib).exists():
        return f"{cc} has no libFuzzer runtime (Debian: apt-get install libclang-rt-14-dev)"
    return None


def _shown(cmd: list[str], work: Path) -> str:
    """A command as recorded: paths under the repository relative to it, the temp dir as $WORK."""
    return " ".join(shlex.quote(a.replace(str(work), "$WORK").replace(f"{ROOT}/", "")) for a in cmd)


def build(work: Path, mode: str, cc: str = "clang", agent_source: Path | None = None,
          coverage: bool = False) -> tuple[Path, list[str]]:
    """Compile the harness for `mode` ('raw' or 'framed') into `work`; returns (binary, command).
    `agent_source` replaces firmware/agent/ek_agent.c (tests build a deliberately broken copy)."""
    binary = work / f"fuzz_agent_{mode}{'_cov' if coverage else ''}"
    cmd = [cc, *(COVERAGE_CFLAGS if coverage else CFLAGS), f"-I{FIRMWARE / 'include'}", f"-I{FIRMWARE / 'agent'}",
           f"-DEK_FUZZ_FRAMED={MODES[mode]}"]
    if agent_source is not None:
        cmd.append(f'-DEK_FUZZ_AGENT_SOURCE="{agent_source}"')
    cmd += [*(str(s) for s in SOURCES), "-o", str(binary)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"building the fuzz harness failed:\n{' '.join(cmd)}\n{out.stderr}")
    return binary, cmd


# ---- seed corpus: valid requests for every command, and a whole session ------------------------------------------

def _requests() -> dict[str, list[tuple[int, bytes]]]:
    """Named request sequences of (command, payload)."""
    session = [(Cmd.INFO, b""), (Cmd.SET_INPUT, set_input_payload(0, (bytes(range(256)) * 2)[:508])),
               (Cmd.SET_INPUT, set_input_payload(508, bytes(192))), (Cmd.RUN, run_payload(2)),
               (Cmd.GET_OUTPUT, get_output_payload(0, 512)), (Cmd.GET_OUTPUT, get_output_payload(512, 88)),
               (Cmd.STATS, b"")]
    return {
        "info": [(Cmd.INFO, b"")],
        "set_input": [(Cmd.SET_INPUT, set_input_payload(16, b"\x01\x02\x03\x04\x05\x06\x07\x08"))],
        "run": [(Cmd.RUN, run_payload(1))],
        "get_output": [(Cmd.GET_OUTPUT, get_output_payload(4, 32))],
        "stats": [(Cmd.STATS, b"")],
        "tensors": [(Cmd.TENSORS, tensors_payload(0)), (Cmd.TENSORS, tensors_payload(3))],
        "unknown": [(0x7E, b"\x00")],
        "too_long": [(Cmd.SET_INPUT, bytes(4 + 509)), (Cmd.INFO, b"")],  # 513 bytes: EK_E_BAD_LENGTH, then resync
        # at the tensors' ends (fuzz_agent.c's stub model: 300 + 400 input bytes, 232 + 368 output bytes): one more
        # is too far; a write and a read across the boundary of two tensors
        "edges": [(Cmd.SET_INPUT, set_input_payload(700 - 8, bytes(8))), (Cmd.RUN, run_payload(1)),
                  (Cmd.GET_OUTPUT, get_output_payload(600 - 40, 40)), (Cmd.GET_OUTPUT, get_output_payload(88, 512)),
                  (Cmd.SET_INPUT, set_input_payload(290, bytes(range(20)))), (Cmd.RUN, run_payload(1)),
                  (Cmd.GET_OUTPUT, get_output_payload(220, 24))],
        "session": session,
        # a profile before any profiled run (NO_PROFILE), then one read in pages past the stub's 130 calls
        "profile": [(Cmd.PROFILE, profile_payload(0)), (Cmd.RUN, run_payload(1, RUN_PROFILE)),
                    (Cmd.PROFILE, profile_payload(125)), (Cmd.PROFILE, profile_payload(131))],
    }


def write_seeds(directory: Path, mode: str) -> int:
    """Seed inputs for `mode` in the harness's layout: a config byte (prepare/eval status, cycle counter), then
    frames (raw) or records (framed); each sequence with the stub model working, and the session also with a
    failed prepare and a failing eval. Returns how many files."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, reqs in _requests().items():
        # config bit 4: fuzz_agent.c's stub marks past its profile table (PROFILE_FULL)
        configs = {"session": (0x00, 0x08, 0x02, 0x04), "profile": (0x00, 0x08, 0x10)}.get(name, (0x00, 0x08))
        for config in configs:
            if mode == "raw":
                body = b"".join(encode_frame(kind, seq, payload) for seq, (kind, payload) in enumerate(reqs))
            else:
                body = b"".join(struct.pack("<BBH", kind, seq, len(payload)) + payload
                                for seq, (kind, payload) in enumerate(reqs))
            (directory / f"{name}-{config:02x}").write_bytes(bytes([config]) + body)
            count += 1
    if mode == "framed":  # raw records: noise, then a frame with a wrong CRC, then a good one
        bad = bytearray(encode_frame(Cmd.INFO, 9))
        bad[-1] ^= 0xFF
        noise = b"\x00\xeb\xeb\x4b\x01"
        good = struct.pack("<BBH", Cmd.STATS, 10, 0)
        (directory / "mixed-00").write_bytes(bytes([0, 0x80 | (len(noise) - 1)]) + noise +
                                             bytes([0x80 | (len(bad) - 1)]) + bytes(bad) + good)
        count += 1
    return count


# ---- running libFuzzer ---------------------------------------------------------------------------------------------

_FINAL = re.compile(r"^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", re.M)
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)


def parse_libfuzzer(log: str) -> dict[str, Any]:
    """The final figures of a libFuzzer run (-print_final_stats=1)."""
    stats = {k: int(v) for k, v in _STAT.findall(log)}
    figures: dict[str, Any] = {"execs": stats.get("number_of_executed_units"),
                               "exec_per_s": stats.get("average_exec_per_sec"),
                               "new_units_added": stats.get("new_units_added"),
                               "slowest_unit_s": stats.get("slowest_unit_time_sec"),
                               "peak_rss_mb": stats.get("peak_rss_mb")}
    done = _FINAL.findall(log)
    if done:
        _, cov, ft, units, size = done[-1]
        figures.update(cov=int(cov), ft=int(ft), corpus_units=int(units), corpus_size=size)
    inited = re.search(r"^#\d+\s+INITED\s+cov: (\d+) ft: (\d+)", log, re.M)
    if inited:
        figures.update(seed_cov=int(inited.group(1)), seed_ft=int(inited.group(2)))
    return figures


def fuzz(binary: Path, work: Path, mode: str, runs: int, seed: int = 1) -> dict[str, Any]:
    """Run the harness `runs` times from the seed corpus; figures, the command and, on a crash, its reproducer."""
    seeds, corpus, artifacts = work / f"seeds_{mode}", work / f"corpus_{mode}", work / f"artifacts_{mode}"
    n_seeds = write_seeds(seeds, mode)
    for d in (corpus, artifacts):
        d.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary), f"-runs={runs}", f"-seed={seed}", f"-max_len={MAX_LEN}", f"-timeout={TIMEOUT_S}",
           "-use_value_profile=1", "-print_final_stats=1", f"-artifact_prefix={artifacts}/", str(corpus), str(seeds)]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    wall = time.perf_counter() - start
    log = out.stdout + out.stderr
    figures = {"mode": mode, "command": _shown(cmd, work), "seed_inputs": n_seeds, **parse_libfuzzer(log),
               "wall_s": round(wall, 1), "exit_code": out.returncode}
    crashes = sorted(p for p in artifacts.iterdir() if p.is_file())
    figures["crashes"] = len(crashes) if out.returncode == 0 or crashes else 1
    if out.returncode != 0:
        caught = [line.strip() for line in log.splitlines()
                  if line.startswith("fuzz_agent:") or "runtime error:" in line or "ERROR: AddressSanitizer" in line]
        if caught:  # the harness's own check, UBSan's or ASan's first line (before the input's bytes in the log)
            figures["caught_by"] = re.sub(r"^\S*/ek_agent\.c", "ek_agent.c", caught[0])
        figures["crash_inputs"] = [str(p) for p in crashes]
        figures["log_tail"] = log[-4000:]
    return figures


def line_coverage(work: Path, mode: str, cc: str = "clang") -> dict[str, Any] | None:
    """Replay the grown corpus through a source-coverage build: which of ek_agent.c's lines and functions ran."""
    profdata, llvm_cov = shutil.which("llvm-profdata-14") or shutil.which("llvm-profdata"), \
        shutil.which("llvm-cov-14") or shutil.which("llvm-cov")
    if not (profdata and llvm_cov):
        return None
    binary, _ = build(work, mode, cc, coverage=True)
    raw = work / f"cov_{mode}.profraw"
    subprocess.run([str(binary), "-runs=0", str(work / f"corpus_{mode}"), str(work / f"seeds_{mode}")],
                   capture_output=True, env={**os.environ, "LLVM_PROFILE_FILE": str(raw)}, check=True)
    merged = work / f"cov_{mode}.profdata"
    subprocess.run([profdata, "merge", "-sparse", str(raw), "-o", str(merged)], check=True, capture_output=True)
    out = subprocess.run([llvm_cov, "export", "-summary-only", f"-instr-profile={merged}", str(binary)],
                         capture_output=True, text=True, check=True)
    for f in json.loads(out.stdout)["data"][0]["files"]:
        if Path(f["filename"]).resolve() == AGENT.resolve():
            s = f["summary"]
            return {"file": str(AGENT.relative_to(ROOT)),
                    "lines": f"{s['lines']['covered']}/{s['lines']['count']}",
                    "functions": f"{s['functions']['covered']}/{s['functions']['count']}",
                    "branches": f"{s['branches']['covered']}/{s['branches']['count']}",
                    "line_percent": round(s["lines"]["percent"], 1)}
    return None


def run_mode(mode: str, runs: int, work: Path, seed: int = 1, cc: str = "clang",
             agent_source: Path | None = None, coverage: bool = False) -> dict[str, Any]:
    """Build and fuzz one mode in `work`: the figures of bench/results/fuzz.json's entry for it."""
    work.mkdir(parents=True, exist_ok=True)
    binary, build_cmd = build(work, mode, cc, agent_source)
    figures = {"build_command": _shown(build_cmd, work), **fuzz(binary, work, mode, runs, seed)}
    if coverage and figures["crashes"] == 0:
        figures["agent_coverage"] = line_coverage(work, mode, cc)
    return figures


def mutant(name: str, mode: str, runs: int, work: Path, seed: int = 1, cc: str = "clang") -> dict[str, Any]:
    """Fuzz a copy of ek_agent.c with the deliberate bug MUTANTS[name]: found (after how many executions, and what
    caught it) or not within `runs`."""
    original, broken = MUTANTS[name]
    source = AGENT.read_text()
    if original not in source:
        return {"mutant": name, "mode": mode, "found": None, "why": "ek_agent.c changed: mutation does not apply"}
    work.mkdir(parents=True, exist_ok=True)
    (work / "ek_agent.c").write_text(source.replace(original, broken, 1))
    r = run_mode(mode, runs, work / mode, seed, cc, agent_source=work / "ek_agent.c")
    return {"mutant": name, "mode": mode, "found": r["crashes"] > 0, "execs": r["execs"],
            **({"caught_by": r["caught_by"]} if "caught_by" in r else {})}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="executions per mode")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    parser.add_argument("--mutant-runs", type=int, default=200_000,
                        help="executions per deliberately broken agent and mode (0: skip that check)")
    parser.add_argument("--cc", default="clang")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (corpora, binaries)")
    parser.add_argument("--out", type=Path, default=RESULTS / "fuzz.json")
    args = parser.parse_args()
    missing = toolchain_missing(args.cc)
    if missing:
        sys.exit(missing)
    version = subprocess.run([args.cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    work = Path(tempfile.mkdtemp(prefix="ek-fuzz-"))
    modes = {}
    for mode in MODES:
        modes[mode] = run_mode(mode, args.runs, work, args.seed, args.cc, coverage=True)
        m = modes[mode]
        print(f"{mode}: {m['execs']} execs, {m['exec_per_s']} exec/s, cov {m.get('cov')} ft {m.get('ft')}, "
              f"crashes {m['crashes']}, ek_agent.c lines {(m.get('agent_coverage') or {}).get('lines')}",
              flush=True)
    crashed = any(m["crashes"] for m in modes.values())
    mutants = []
    for name in MUTANTS if args.mutant_runs else ():
        for mode in MODES:
            mutants.append(mutant(name, mode, args.mutant_runs, work / "mutants" / name, args.seed, args.cc))
            print(f"mutant {name} ({mode}): {'found' if mutants[-1]['found'] else 'NOT found'} "
                  f"after {mutants[-1].get('execs')} execs", flush=True)
    figures = {
        "target": "firmware/agent/ek_agent.c (recv_frame + command handlers) through firmware/tests/fuzz_agent.c",
        "fuzzer": "libFuzzer", "sanitizers": ["address", "undefined"], "compiler": version,
        "sources_sha256_16": {str(p.relative_to(ROOT)): _sha256(p) for p in [AGENT, *SOURCES]},
        "runs_per_mode": args.runs, "total_execs": sum(m["execs"] or 0 for m in modes.values()),
        "crashes": sum(m["crashes"] for m in modes.values()),
        "goal": ">= 1,000,000 executions per mode with no crash",
        "goal_met": not crashed and all((m["execs"] or 0) >= 1_000_000 for m in modes.values()),
        "modes": modes,
        "mutants_runs": args.mutant_runs,
        "mutants": mutants,
        "notes": "cov/ft are libFuzzer's edge and feature counts over the whole harness binary (agent, harness "
                 "and CRC); agent_coverage is llvm-cov's line/function/branch count for ek_agent.c alone after "
                 "replaying the corpus the run grew. mutants: the same harness on copies of ek_agent.c with one "
                 "deliberate bug each (MUTANTS in bench/bench_fuzz.py), run for mutants_runs executions; execs is "
                 "the execution that caught it (or all of them when it was not caught).",
    }
    path = write_result("fuzz", figures, args.out)
    print(f"wrote {path}")
    if args.keep or crashed:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if crashed:
        sys.exit("the fuzzer found a crash: see crash_inputs and log_tail in " + str(path))


if __name__ == "__main__":
    main()
