"""Report tables as a log or a narrow terminal shows them: whole values, never folded one character per line."""
import io

from rich.console import Console

from edgekit.report_view import comparison_table, single_table

LABELS = ["phone FP32 (.pte, x86 stand-in)", "phone INT8 (.pte, x86 stand-in)", "phone INT8 (.pte, Arm)",
          "Pi FP32 (.tflite, Arm)", "Pi INT8 (.tflite, Arm)", "MCU INT8 (C firmware)"]  # the demo's columns


def _report(p50_ms: float, size: int) -> dict:
    return {"target": {"name": "emu-cortex-m4", "stands_for": "nrf52840"}, "measured_on": {"cpu": "x86"},
            "latency_ms": {"p50": p50_ms, "p90": p50_ms, "p99": p50_ms, "mean": p50_ms, "std": 0.0, "runs": 200,
                           "time_base_label": "QEMU virtual time"},
            "artifact": {"format": "c-firmware", "recipe": [{"method": "int8"}], "size_bytes": size},
            "load_ms": 12.5, "first_inference_ms": 0.7, "memory": {},
            "fidelity": {"vs_host": {"cosine": 0.99999, "rel_l2": 1e-3, "max_abs": 2e-3}},
            "accuracy": {"top1": 0.97, "samples": 360}, "energy": {"per_inference_mj": 0.0123}}


def _render(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def test_the_demo_comparison_is_a_list_per_device_in_an_80_column_log():
    reports = [_report(2.038 * (i + 1), 95_000 * (i + 1)) for i in range(len(LABELS))]
    lines = _render(comparison_table(reports, LABELS, "edgekit demo"), 80)
    assert max(map(len, lines)) <= 80 and all(label in lines for label in LABELS)
    assert "  latency p50 / p90 / p99: 2.04 ms / 2.04 ms / 2.04 ms" in lines and "  size: 92.8 KiB" in lines
    wide = _render(comparison_table(reports[:2], LABELS[:2], "edgekit demo"), 200)
    assert any(LABELS[0] in line and LABELS[1] in line for line in wide)  # side by side where it fits


def test_a_bench_table_too_wide_for_the_terminal_becomes_metric_lines():
    lines = _render(single_table(_report(0.0312, 512)), 60)
    assert "target: emu-cortex-m4 (stands for nrf52840)" in lines and "size: 512 B" in lines
    assert "┃" not in "".join(lines)
