"""Human views of reports: rich tables for the terminal and a self-contained HTML page with plots."""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Sequence

from rich.table import Table

from .compress.numerics import summary_line
from .units import format_bytes


def _fmt(value: Any, spec: str = ".3f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _recipe(report: dict[str, Any]) -> str:
    return " -> ".join(step["method"] for step in report["artifact"]["recipe"]) or "fp32"


def rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, value) pairs shared by the terminal table and the HTML page; estimates say so."""
    lat, fid, acc = report["latency_ms"], report["fidelity"], report.get("accuracy") or {}
    est, energy = report.get("device_estimate"), report["energy"]
    target = report["target"]
    ran = target["name"] + (f" (stands for {target['stands_for']})" if target.get("stands_for") else "")
    out = [
        ("target", ran),
        ("latency time base", lat.get("time_base_label") or f"wall-clock on {report['measured_on']['cpu']}"),
        ("artifact", f"{report['artifact']['format']} {_recipe(report)}"),
        ("size", format_bytes(report["artifact"]["size_bytes"])),
        ("latency p50 / p90 / p99 (ms)", f"{lat['p50']:.4f} / {lat['p90']:.4f} / {lat['p99']:.4f}"),
        ("latency mean +- std (ms)", f"{lat['mean']:.4f} +- {lat['std']:.4f} over {lat['runs']} runs"),
        ("load / first inference (ms)", f"{report['load_ms']:.2f} / {report['first_inference_ms']:.3f}"),
        ("peak RSS", format_bytes(report["memory"]["peak_rss_bytes"]) if report["memory"].get("peak_rss_bytes")
         else "-"),
    ]
    counters, mem = report.get("counters") or {}, report["memory"]
    if "instructions_per_inference" in counters:  # QEMU -icount (an MCU, or an Arm Linux VM)
        out.append(("instructions / inference (counted)", f"{counters['instructions_per_inference']:,}"))
    if "cycles_per_inference" in counters:  # a real core's DWT cycle counter
        out.append(("cycles / inference (DWT, measured)", f"{counters['cycles_per_inference']:,}"))
    if "arena_bytes" in mem:  # MCU firmware: the planned arena, stack high-water mark, flash image
        out.append(("arena / stack peak / flash", f"{format_bytes(mem['arena_bytes'])} / "
                    f"{format_bytes(mem['stack_peak_bytes'])} / {format_bytes(mem['flash_bytes'])}"))
    out += [
        ("vs host: cosine / rel L2 / max abs", f"{fid['vs_host']['cosine']:.6f} / {fid['vs_host']['rel_l2']:.2e} / "
                                               f"{fid['vs_host']['max_abs']:.2e}"),
    ]
    if fid.get("vs_float"):
        out.append(("vs FP32 model: cosine", f"{fid['vs_float']['cosine']:.6f}"))
    for o in fid.get("outputs") or []:  # models with several outputs: each one's agreement
        out.append((f"output {o['name']}: cosine vs host / FP32",
                    f"{o['vs_host']['cosine']:.6f} / {_fmt((o['vs_float'] or {}).get('cosine'), '.6f')}"))
    numerics = report["artifact"].get("numerics") or {}
    if "first_growing_layers" in numerics or "error" in numerics:
        out.append(("INT8 error (host, at compile)", summary_line(numerics)))
    if "top1" in acc:
        out.append(("accuracy (on device)", f"{acc['top1'] * 100:.2f}% of {acc['samples']}"))
    if est:
        out.append(("device latency (estimated)", f"{est['latency_ms']:.4f} ms"))
    out.append(("energy / inference (estimated)", f"{energy['per_inference_mj']:.4f} mJ"))
    deploy = report.get("deploy") or {}
    if "setup_s" in deploy:  # remote devices: what getting there cost
        out.append(("deploy: connect / set-up / upload (s)",
                    " / ".join(_fmt(deploy.get(k), ".2f") for k in ("connect_s", "setup_s", "upload_s"))))
    after = (report.get("thermal") or {}).get("after") or {}
    if after:
        clock = after.get("arm_clock_hz") or after.get("cpu_clock_hz")
        facts = [f"{clock / 1e6:.0f} MHz" if clock else None,
                 f"{after['cpu_temp_c']:.1f} C" if "cpu_temp_c" in after else None,
                 f"throttled {after['throttled']}" if "throttled" in after else None]
        out.append(("CPU after the runs", ", ".join(f for f in facts if f) or "-"))
    return out


def _metric_table(title: str, pairs: list[tuple[str, str]]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", overflow="fold")
    for key, value in pairs:
        table.add_row(key, value)
    return table


def single_table(report: dict[str, Any]) -> Table:
    return _metric_table(f"edgekit bench: {report['target']['name']}", rows(report))


def generation_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, value) pairs of a `bench --generate` report."""
    gen, lat, target = report["generation"], report["latency_ms"], report["target"]
    vs_host, vs_float = gen.get("vs_host"), gen.get("vs_float")

    def agreement(a: dict[str, Any] | None) -> str:
        if a is None:
            return gen.get("host_tokens_note") or "-"
        return ("identical" if a["identical"] else f"first differs at token {a['first_divergence']}") + \
            f" ({a['same_position_share'] * 100:.0f}% of {a['compared']} at the same position)"
    decode = gen.get("decode_ms") or {}
    return [
        ("target", target["name"] + (f" (stands for {target['stands_for']})" if target.get("stands_for") else "")),
        ("time base", lat.get("time_base_label") or "-"),
        ("artifact", f"{report['artifact']['format']} {_recipe(report)}, {format_bytes(report['artifact']['size_bytes'])}"),
        ("weights / embedding", f"{gen.get('weights')} / {gen.get('embedding')}"),
        ("prompt / new tokens", f"{gen['prompt_len']} / {gen['new_tokens']}"),
        ("time to first token (ms)", f"{gen['time_to_first_token_ms']:.2f}"),
        ("decode tokens/s (p50)", _fmt(gen.get("decode_tokens_per_s"), ".1f")),
        ("decode ms/token p50 / p90", f"{_fmt(decode.get('p50'), '.3f')} / {_fmt(decode.get('p90'), '.3f')}"),
        ("peak RSS (x file + KV cache)", (format_bytes(report["memory"]["peak_rss_bytes"]) +
                                         f" ({_fmt(gen.get('peak_rss_over_file_and_cache'), '.2f')}x)")
         if report["memory"].get("peak_rss_bytes") else "-"),
        ("tokens vs host", agreement(vs_host)),
        ("tokens vs float model", agreement(vs_float)),
    ]


def generation_table(report: dict[str, Any]) -> Table:
    return _metric_table(f"edgekit bench --generate: {report['target']['name']}", generation_rows(report))


def comparison(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Column headers and rows comparing several reports side by side."""
    cols = [dict(rows(r)) for r in reports]
    keys: list[str] = []
    for c in cols:
        keys += [k for k in c if k not in keys]
    return ["metric", *labels], [[k, *(c.get(k, "-") for c in cols)] for k in keys]


def comparison_table(reports: Sequence[dict[str, Any]], labels: Sequence[str], title: str) -> Table:
    header, body = comparison(reports, labels)
    table = Table(title=title)
    for h in header:
        table.add_column(h, overflow="fold")
    for row in body:
        table.add_row(*row)
    return table


# Latencies on different time bases never share an axis: each kind gets its own panel.
_TIME_BASES = (("wall-clock", "latency: wall-clock on the host (its CPU)"),
               ("emulated-virtual-time", "latency: QEMU virtual time (emulated Arm)"),
               ("estimate", "latency: estimated on the real device"))


def _latency_series(reports: Sequence[dict[str, Any]], labels: Sequence[str]
                    ) -> list[tuple[str, list[str], list[float], list[list[float]] | None]]:
    """(title, labels, p50s, error bars) per time base present."""
    series = []
    for kind, title in _TIME_BASES:
        if kind == "estimate":
            picked = [(lab, r["device_estimate"]["latency_ms"]) for lab, r in zip(labels, reports)
                      if r.get("device_estimate")]
            if picked:
                series.append((title, [p[0] for p in picked], [p[1] for p in picked], None))
            continue
        chosen = [(lab, r["latency_ms"]) for lab, r in zip(labels, reports)
                  if r["latency_ms"].get("time_base", "wall-clock") == kind]
        if chosen:
            series.append((title, [c[0] for c in chosen], [c[1]["p50"] for c in chosen],
                           [[c[1]["p50"] - c[1]["min"] for c in chosen], [c[1]["p99"] - c[1]["p50"] for c in chosen]]))
    return series


def _latency_plot(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = _latency_series(reports, labels)
    fig, axes = plt.subplots(1, len(series) + 1, figsize=(4.2 * (len(series) + 1), 3.4))
    for ax, (title, names, p50, err) in zip(axes, series):
        ax.bar(names, p50, yerr=err, capsize=4, color="#4477aa" if err else "#aa7744")
        ax.set_ylabel("ms (p50, bars min..p99)" if err else "ms (estimate, log scale)")
        if err is None:
            ax.set_yscale("log")  # a phone and a microcontroller differ by orders of magnitude
        ax.set_title(title, fontsize=9)
    size_ax = axes[-1]
    size_ax.bar(labels, [r["artifact"]["size_bytes"] / 1024 for r in reports], color="#228833")
    size_ax.set_ylabel("KiB")
    size_ax.set_title("artifact size", fontsize=9)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=25, labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def html_page(reports: Sequence[dict[str, Any]], labels: Sequence[str], title: str) -> str:
    header, body = comparison(reports, labels)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    plot = _latency_plot(reports, labels)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}th{{background:#eee}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Each latency says its time base: wall-clock on the host CPU named, or QEMU virtual time on an emulated Arm core
(one nanosecond per executed instruction). Values marked <em>estimated</em> come from the profile's power model,
cycles per instruction or throughput figures, not from a meter or the real device.</p>
<table><tr>{head}</tr>{trs}</table>
<p><img alt="latency and size" src="data:image/png;base64,{plot}"></p>
</body></html>
"""
