"""Human views of reports: rich tables for the terminal and a self-contained HTML page with plots.

A table is drawn as a table only where every cell fits whole (`Fitting`); on a narrow terminal or in an 80-column
log it becomes "metric: value" lines, so no name is cut and no value is folded one character per line."""
from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .units import format_bytes, format_ms, format_quantity

UNBOUNDED_WIDTH = 1 << 16  # measures a table's natural width: rich clamps a measurement to the width it is given
# A record of a list view: its title ("" for none) and its (metric, value) lines.
Record = tuple[str, Sequence[tuple[str, str]]]


@dataclass
class Fitting:
    """`table` where it fits the console's width with every cell whole, else `fallback`: the same facts as lines."""

    table: Table
    fallback: Sequence[RenderableType]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        natural = Measurement.get(console, options.update_width(UNBOUNDED_WIDTH), self.table).maximum
        if natural <= options.max_width:
            yield self.table
        else:
            yield from self.fallback


def _cosine(versus: dict[str, Any]) -> str:
    """A cosine, or why it means nothing (a reference of zeros, or of one value repeated)."""
    if versus.get("comparable") is False:
        return f"{versus['cosine']:.6f} (meaningless: {versus['why']})"
    return f"{versus['cosine']:.6f}"


def record_lines(title: str, records: Iterable[Record]) -> list[RenderableType]:
    """A list view: the title, then each record's title and its "metric: value" lines (indented under a title)."""
    lines: list[RenderableType] = [Text(title, style="italic")] if title else []
    for name, pairs in records:
        indent = "  " if name else ""
        if name:
            lines.append(Text(name, style="bold"))
        lines += [Text(f"{indent}{metric}: {value}") for metric, value in pairs]
    return lines


def _fmt(value: Any, spec: str = ".3f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _recipe(report: dict[str, Any]) -> str:
    return " -> ".join(step["method"] for step in report["artifact"]["recipe"]) or "fp32"


def runtime_line(runtime: dict[str, Any]) -> str:
    """'ai-edge-litert 2.3.0, XNNPACK took 14 of 15 ops (2 partitions; left: PADV2)'."""
    line = " ".join(str(part) for part in (runtime["name"], runtime.get("version")) if part)
    delegate = runtime.get("delegate")
    if delegate:
        left = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in delegate["not_delegated"].items())
        line += (f", {delegate['name'] or 'no delegate'} took {delegate['delegated_ops']} of {delegate['ops']} ops"
                 f" ({delegate['partitions']} partition{'s' * (delegate['partitions'] != 1)}"
                 f"{'; left: ' + left if left else ''})")
    return line


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
        *([("runtime", runtime_line(report["runtime"]))] if report.get("runtime") else []),
        ("size", format_bytes(report["artifact"]["size_bytes"])),
        ("latency p50 / p90 / p99", " / ".join(format_ms(lat[k]) for k in ("p50", "p90", "p99"))),
        ("latency mean +- std", f"{format_ms(lat['mean'])} +- {format_ms(lat['std'])} over {lat['runs']} runs"),
        ("load / first inference", f"{format_ms(report['load_ms'])} / {format_ms(report['first_inference_ms'])}"),
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
        ("vs host: cosine / rel L2 / max abs", _cosine(fid["vs_host"]) + f" / {fid['vs_host']['rel_l2']:.2e} / "
                                               f"{fid['vs_host']['max_abs']:.2e}"),
    ]
    if fid.get("vs_float"):
        out.append(("vs FP32 model: cosine", _cosine(fid["vs_float"])))
    for o in fid.get("outputs") or []:  # models with several outputs: each one's agreement
        out.append((f"output {o['name']}: cosine vs host / FP32",
                    f"{_cosine(o['vs_host'])} / {_cosine(o['vs_float']) if o['vs_float'] else '-'}"))
    numerics = report["artifact"].get("numerics") or {}
    if "first_growing_layers" in numerics or "error" in numerics:
        from .compress.numerics import summary_line  # imports torch: only for a report that carries the figures
        out.append(("INT8 error (host, at compile)", summary_line(numerics)))
    if "top1" in acc:
        out.append(("accuracy (on device)", f"{acc['top1'] * 100:.2f}% of {acc['samples']}"))
    if est:
        out.append(("device latency (estimated)", format_ms(est["latency_ms"])))
    if report.get("ops"):
        top = report["ops"]["rows"][0]
        out.append(("per-operator profile", f"{ops_summary(report['ops'])}; costliest: {top['op']} in "
                                            f"{top['module']} ({top['share'] * 100:.1f}%)"))
    out.append(_energy_row(energy))
    deploy = report.get("deploy") or {}
    if "setup_s" in deploy:  # remote devices: what getting there cost
        out.append(("deploy: connect / set-up / upload", " / ".join(
            "-" if deploy.get(k) is None else format_quantity(deploy[k], "seconds")
            for k in ("connect_s", "setup_s", "upload_s"))))
    after = (report.get("thermal") or {}).get("after") or {}
    if after:
        clock = after.get("arm_clock_hz") or after.get("cpu_clock_hz")
        facts = [format_quantity(clock, "hertz") if clock else None,
                 f"{after['cpu_temp_c']:.1f} C" if "cpu_temp_c" in after else None,
                 f"throttled {after['throttled']}" if "throttled" in after else None]
        out.append(("CPU after the runs", ", ".join(f for f in facts if f) or "-"))
    return out


def spread_over(energy: dict[str, Any]) -> str:
    """What a measured energy's min/max range over: inferences, or windows that each hold several."""
    if energy.get("inferences_per_window", 1) > 1:
        return f"{energy['windows']} windows of ~{energy['inferences_per_window']} inferences"
    return f"{energy['inferences']} inferences"


def _energy_row(energy: dict[str, Any]) -> tuple[str, str]:
    """Energy per inference: measured (with its meter, spread and baseline) or estimated."""
    if not energy.get("measured"):
        return "energy / inference (estimated)", f"{energy['per_inference_mj']:.4f} mJ"
    spread = energy["spread_mj"]
    return ("energy / inference (measured)",
            f"{energy['per_inference_mj']:.4f} mJ (min {spread['min']:.4f}, max {spread['max']:.4f} over "
            f"{spread_over(energy)}; above an idle {format_quantity(energy['baseline_w'], 'watts')}; "
            f"{energy['meter']} at {format_quantity(energy['sample_rate_hz'], 'hertz')})")


def metric_table(title: str, pairs: Sequence[tuple[str, str]], header: bool = True) -> Fitting:
    """A two-column (metric, value) table, or "metric: value" lines where it does not fit."""
    table = Table(title=title, show_header=header)
    table.add_column("metric")
    table.add_column("value")
    for key, value in pairs:
        table.add_row(key, value)
    return Fitting(table, record_lines(title, [("", pairs)]))


def single_table(report: dict[str, Any]) -> Fitting:
    return metric_table(f"edgekit bench: {report['target']['name']}", rows(report))


def _op_value(value: float, unit: str) -> str:
    return format_ms(value / 1e6) if unit == "ns" else f"{value:,.0f}"


def ops_summary(ops: dict[str, Any]) -> str:
    """'rows add up to 99.2% of the whole inference (counted instructions); profiling overhead +0.4%'."""
    unit = {"ns": "time", "instructions": "counted instructions", "cycles": "cycles"}.get(ops["unit"], ops["unit"])
    line = f"{len(ops['rows'])} ops add up to {ops['coverage'] * 100:.1f}% of the whole inference ({unit})"
    if ops.get("overhead") is not None:
        line += f"; profiling overhead {ops['overhead'] * 100:+.1f}%"
    return line


def ops_table(report: dict[str, Any], top: int | None = None) -> Fitting:
    """The costliest operators (default TOP_ROWS): op, kernel, module (type, source line), share, cost and cost per
    MAC, and the layer's INT8 error measured at compile where there is one."""
    from .measure.op_profile import TOP_ROWS
    ops = report["ops"]
    unit = ops["unit"]
    per = {"ns": "ns / MAC", "instructions": "instr / MAC", "cycles": "cycles / MAC"}.get(unit, f"{unit} / MAC")
    title = (f"costliest operators on {report['target']['name']} (top {min(top or TOP_ROWS, len(ops['rows']))} of "
             f"{len(ops['rows'])}): {ops_summary(ops)}")
    header = ["op", "kernel", "module", "source", "share", unit, per, "SQNR dB"]
    body = []
    for row in ops["rows"][:top or TOP_ROWS]:
        module = row["module"] + (f" ({row['module_type']})" if row.get("module_type") else "")
        source = row.get("source")
        body.append([row["op"] or "-", row.get("kernel") or "-", module,
                     os.path.basename(source) if source else "-",  # the whole path is in --json
                     f"{row['share'] * 100:.1f}%" if row.get("share") is not None else "-",
                     _op_value(row["value"], unit), f"{row['per_mac']:.2f}" if row.get("per_mac") else "-",
                     f"{row['sqnr_db']:.1f}" if row.get("sqnr_db") is not None else "-"])
    shown = [k for k in range(len(header)) if any(r[k] != "-" for r in body)]  # no column of dashes only
    header, body = [header[k] for k in shown], [[r[k] for k in shown] for r in body]
    table = Table(title=title)
    for h in header:
        table.add_column(h)
    for r in body:
        table.add_row(*r)
    records = [(f"{k + 1}. {r[0]}", list(zip(header[1:], r[1:]))) for k, r in enumerate(body)]
    return Fitting(table, record_lines(title, records))


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
        ("time to first token", format_ms(gen["time_to_first_token_ms"])),
        ("decode tokens/s (p50)", _fmt(gen.get("decode_tokens_per_s"), ".1f")),
        ("decode time/token p50 / p90", " / ".join("-" if decode.get(k) is None else format_ms(decode[k])
                                                   for k in ("p50", "p90"))),
        ("peak RSS (x file + KV cache)", (format_bytes(report["memory"]["peak_rss_bytes"]) +
                                         f" ({_fmt(gen.get('peak_rss_over_file_and_cache'), '.2f')}x)")
         if report["memory"].get("peak_rss_bytes") else "-"),
        ("tokens vs host", agreement(vs_host)),
        ("tokens vs float model", agreement(vs_float)),
    ]


def generation_table(report: dict[str, Any]) -> Fitting:
    return metric_table(f"edgekit bench --generate: {report['target']['name']}", generation_rows(report))


def comparison(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Column headers and rows comparing several reports side by side."""
    cols = [dict(rows(r)) for r in reports]
    keys: list[str] = []
    for c in cols:
        keys += [k for k in c if k not in keys]
    return ["metric", *labels], [[k, *(c.get(k, "-") for c in cols)] for k in keys]


def comparison_table(reports: Sequence[dict[str, Any]], labels: Sequence[str], title: str) -> Fitting:
    """The reports side by side; where that does not fit, one list of "metric: value" lines per report."""
    header, body = comparison(reports, labels)
    table = Table(title=title)
    for h in header:
        table.add_column(h)
    for row in body:
        table.add_row(*row)
    per_report = [(label, [(row[0], row[column]) for row in body]) for column, label in enumerate(labels, 1)]
    return Fitting(table, record_lines(title, per_report))


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


def _png(fig: Any) -> str:
    """A matplotlib figure as base64 PNG for an <img> (the figure is closed)."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


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
    return _png(fig)


def _ops_plot(ops: dict[str, Any], top: int = 20) -> str:
    """A horizontal bar per costly operator (share of the inference), labelled with its module."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = ops["rows"][:top][::-1]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.2))
    ax.barh([f"{r['module']} ({r['op']})" for r in rows], [r["share"] * 100 for r in rows], color="#4477aa")
    ax.set_xlabel(f"% of the inference ({ops['unit']})")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def html_page(reports: Sequence[dict[str, Any]], labels: Sequence[str], title: str) -> str:
    header, body = comparison(reports, labels)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    plot = _latency_plot(reports, labels)
    op_plots = "".join(f'<h2>{html.escape(label)}: costliest operators</h2><p>{html.escape(ops_summary(r["ops"]))}'
                       f'</p><p><img alt="operators" src="data:image/png;base64,{_ops_plot(r["ops"])}"></p>'
                       for label, r in zip(labels, reports) if r.get("ops"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}th{{background:#eee}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Each latency says its time base: wall-clock on the host CPU named, or QEMU virtual time on an emulated Arm core
(one nanosecond per executed instruction). Values marked <em>estimated</em> come from the profile's power model,
cycles per instruction or throughput figures, not from a meter or the real device.</p>
<table><tr>{head}</tr>{trs}</table>
<p><img alt="latency and size" src="data:image/png;base64,{plot}"></p>
{op_plots}
</body></html>
"""
