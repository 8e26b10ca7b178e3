"""The search's report: JSON (every candidate, the front, the choice and why the others lost) and a self-contained
HTML page (plots as embedded PNGs, nothing fetched at view time).

A search runs on one target, so its latencies share one time base; the plots still title it (estimated device time,
QEMU virtual time or a named host's wall-clock) and never put two bases on one axis.
"""
from __future__ import annotations

import base64
import html
import io
from typing import Any

from ..units import format_bytes, format_ms
from .budgets import Budgets
from .search import choose, closest, judge, pareto_front, why_not


def summarise(cands: list[dict[str, Any]], budgets: Budgets, target: str, baseline_accuracy: float | None,
              study: dict[str, Any], search_space: dict[str, Any] | None = None) -> dict[str, Any]:
    cands = judge(cands, budgets)
    front = pareto_front(cands)
    chosen = choose(cands)
    for c in cands:
        c["on_front"] = c["number"] in front
        c["why_not_chosen"] = None if chosen is not None and c["number"] == chosen["number"] else \
            why_not(c, chosen, front)
    near = None if chosen else closest(cands)
    return {"target": target, "budgets": budgets.describe(), "baseline_accuracy": baseline_accuracy,
            "baseline_accuracy_note": "the uncompressed model's top-1 on the eval data, on the host",
            "study": study, "search_space": search_space, "pareto_front": front, "chosen": chosen, "closest": near,
            "candidates": cands}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _time_base(measured: list[dict[str, Any]]) -> str:
    bases = {c["figures"].get("latency_basis", "").split(":")[0] for c in measured}
    return " / ".join(sorted(bases))


def plots(summary: dict[str, Any]) -> dict[str, str]:
    """Title -> base64 PNG: the Pareto front, the latency distributions, memory and size against the budgets."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    measured = [c for c in summary["candidates"] if c["status"] == "measured" and c["duplicate_of"] is None]
    if not measured:
        return {}
    budgets, base = summary["budgets"], _time_base(measured)
    out = {}

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in measured:
        f = c["figures"]
        ax.scatter(f["latency_ms"], f["accuracy_drop"], s=40 + 160 * f["size_bytes"] / max(m["figures"]["size_bytes"]
                                                                                         for m in measured),
                   c="tab:green" if c["feasible"] else "tab:red", marker="*" if c["on_front"] else "o",
                   edgecolors="black", linewidths=0.5)
        ax.annotate(f"#{c['number']} {c['recipe']}", (f["latency_ms"], f["accuracy_drop"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    if "max_latency_ms" in budgets:
        ax.axvline(budgets["max_latency_ms"], color="gray", ls="--", label="latency budget")
    if "max_drop" in budgets:
        ax.axhline(budgets["max_drop"], color="gray", ls=":", label="accuracy-drop budget")
    ax.set_xlabel(f"latency (ms), the figure the budget judges: {base}")
    ax.set_ylabel("accuracy drop (points) vs the uncompressed model")
    ax.set_title("Pareto front (stars; green = within every budget, size = marker area)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    out["Pareto front: accuracy drop vs latency"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(measured)))
    for i, c in enumerate(measured):
        lat = c["latency_ms"] or {}
        ax.plot([lat.get("min"), lat.get("max")], [i, i], color="gray", lw=1)
        ax.plot([lat.get("p50"), lat.get("p90")], [i, i], color="tab:blue", lw=6, solid_capstyle="butt")
        ax.plot([lat.get("p99")], [i], "k|", ms=12)
    ax.set_yticks(range(len(measured)), [f"#{c['number']} {c['recipe']}" for c in measured], fontsize=8)
    ax.set_xlabel("ms: min-max line, p50-p90 bar, p99 tick")
    measured_base = sorted({(c["latency_ms"] or {}).get("time_base_label") or "-" for c in measured})
    ax.set_title("Latency per candidate as the target measured it\n" + " / ".join(measured_base), fontsize=10)
    out["Latency distribution per candidate"] = _png(fig)

    fig, axes = plt.subplots(1, 2, figsize=(9, 0.8 + 0.45 * len(measured)), sharey=True)
    labels = [f"#{c['number']}" for c in measured]
    for ax, key, budget, title in ((axes[0], "ram_bytes", "max_ram_bytes", "RAM"),
                                   (axes[1], "flash_bytes", "max_flash_bytes", "flash / model file")):
        values = [(c["figures"].get(key) or 0) / 1024 for c in measured]
        ax.barh(labels, values, color=["tab:green" if c["feasible"] else "tab:red" for c in measured])
        if budget in budgets:
            ax.axvline(budgets[budget] / 1024, color="gray", ls="--", label="budget")
            ax.legend(fontsize=8)
        ax.set_xlabel("KiB")
        ax.set_title(f"{title} vs budget")
    out["Memory and size against the budgets"] = _png(fig)
    return out


def html_report(summary: dict[str, Any], title: str) -> str:
    chosen = summary["chosen"]
    rows = []
    for c in summary["candidates"]:
        f = c.get("figures") or {}
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            c["number"], c["recipe"], c["status"],
            "-" if f.get("latency_ms") is None else format_ms(f["latency_ms"]),
            "-" if f.get("accuracy") is None else f"{f['accuracy']:.2f}",
            "-" if f.get("ram_bytes") is None else format_bytes(f["ram_bytes"]),
            "-" if f.get("flash_bytes") is None else format_bytes(f["flash_bytes"]),
            "yes" if c.get("on_front") else "", c.get("why_not_chosen") or "chosen")) + "</tr>")
    images = "".join(f"<h2>{html.escape(t)}</h2><img alt=\"{html.escape(t)}\" src=\"data:image/png;base64,{b64}\">"
                     for t, b64 in plots(summary).items())
    verdict = (f"Chosen: trial {chosen['number']}, <b>{html.escape(chosen['recipe'])}</b>" if chosen else
               "Nothing met the budgets" + (f"; closest: trial {summary['closest']['number']} "
                                            f"({html.escape(summary['closest']['recipe'])}), which breaks "
                                            f"{html.escape('; '.join(summary['closest']['violations']))}"
                                            if summary.get("closest") else ""))
    budgets = ", ".join(f"{k} = {v:g}" for k, v in summary["budgets"].items())
    left_out = (summary.get("search_space") or {}).get("left_out")
    if left_out:
        verdict += f"</p><p>Not searched: {html.escape(left_out)}"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}td,th{{border:1px solid #ccc;padding:.2em .5em}}
table{{border-collapse:collapse;font-size:90%}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{verdict}</p><p>Target {html.escape(summary['target'])}; budgets: {html.escape(budgets)};
uncompressed accuracy {summary['baseline_accuracy']:.2f}% ({html.escape(summary['baseline_accuracy_note'])}).</p>
<table><tr><th>trial</th><th>recipe</th><th>status</th><th>latency ms</th><th>accuracy %</th><th>RAM</th>
<th>flash</th><th>front</th><th>why not chosen</th></tr>{''.join(rows)}</table>{images}</body></html>
"""
