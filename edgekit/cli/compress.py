"""`edgekit compress MODEL --recipe FILE -o OUT.pt2`: apply a recipe, write the compressed model and a step report.

The model is written as a .pt2 (torch.export.save; `edgekit compile OUT.pt2 ...` takes it), the report next to it
as OUT.json: one entry per step with parameters, MACs, size and quality before and after. An existing OUT.pt2 and
OUT.json are replaced only when that report says an earlier `compress` wrote them (or with --force), and never when
OUT.pt2 is the input model, unless --force.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from .output import out, print_json, progress_bars, write_atomically


@click.command("compress")
@click.argument("model")
@click.option("--recipe", "-r", "recipe_path", required=True, type=click.Path(dir_okay=False),
              help="TOML recipe: [[step]] tables with method = \"...\" and the method's settings")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="compressed model to write (.pt2); the step report goes next to it as .json")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help=".npz with 'x' (and 'y'): calibration, importance scores and fine-tuning data")
@click.option("--eval", "eval_path", type=click.Path(dir_okay=False),
              help=".npz with 'x' and 'y' to measure accuracy before and after each step")
@click.option("--force", is_flag=True, help="replace OUTPUT and its .json even if an earlier compress did not write "
              "them, or OUTPUT is the input model")
@click.option("--json", "as_json", is_flag=True, help="print the step report as JSON")
def compress_cmd(model: str, recipe_path: str, output: str, calibration: str | None, eval_path: str | None,
                 force: bool, as_json: bool) -> None:
    """Apply a recipe to MODEL (.pt2 or file.py:factory); write OUTPUT (.pt2) and a JSON step report."""
    out_path = check_output(Path(output), model, force)  # before torch is imported: a refused -o costs nothing
    import torch

    from ..version import __version__
    from ..compress import CompressionContext
    from ..compress.finetune import eval_mode
    from ..compress.steps import apply_steps
    from ..errors import UnsupportedError
    from ..modelio import load_data, load_model
    from ..recipe import load_recipe

    configs = load_recipe(recipe_path)
    loaded = load_model(model)
    example = tuple(t.clone(memory_format=torch.contiguous_format) for t in loaded.example_inputs)
    data = load_data(calibration) if calibration else None
    eval_data = load_data(eval_path) if eval_path else None
    shapes = [tuple(t.shape) for t in example]
    for d, what in ((data, "calibration"), (eval_data, "eval")):
        if d is not None:
            d.for_inputs(loaded.input_names, shapes, what)
    with progress_bars() as progress:
        ctx = CompressionContext(example, calibration=None if data is None else
                                 data.for_inputs(loaded.input_names, shapes, "calibration"),
                                 labels=None if data is None else data.y, progress=progress,
                                 input_names=loaded.input_names)
        compressed, reports = apply_steps(eval_mode(loaded.module), configs, ctx, eval_data)
    try:
        program = torch.export.export(compressed, example)
    except Exception as exc:  # torch.export raises many types; all mean the result cannot be captured
        raise UnsupportedError(f"torch.export could not capture the compressed model: {str(exc).splitlines()[0]}"
                               ) from exc
    report = {"edgekit_version": __version__,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "model": loaded.source, "recipe_file": str(recipe_path), "output": str(out_path),
              "calibration": calibration, "eval": eval_path, "steps": reports}
    report_path = out_path.with_suffix(".json")
    write_atomically({out_path: lambda p: torch.export.save(program, p),
                       report_path: lambda p: p.write_text(json.dumps(report, indent=2) + "\n")})
    if as_json:
        print_json(report)
        return
    out.print(steps_table(reports, f"edgekit compress: {out_path} (report {report_path})"))


def check_output(out_path: Path, model: str, force: bool) -> Path:
    """Refuse, before any work, an -o whose writing would lose a user's file: the input model itself, or an
    OUT.pt2 / OUT.json pair that no earlier compress wrote (recognized by its report, as compile recognizes an
    artifact by its manifest); then probe that the folder can be written."""
    from ..artifact import check_writable
    from ..errors import InputError
    if out_path.suffix != ".pt2":
        raise InputError(f"output must be a .pt2 file, got {out_path}", "e.g. -o out/pruned.pt2")
    if not out_path.parent.is_dir():
        raise InputError(f"output folder does not exist: {out_path.parent}", "create it, or pass -o another path")
    report = out_path.with_suffix(".json")
    for path in (out_path, report):
        if path.exists() and not path.is_file():
            raise InputError(f"{path} exists and is not a file", "pass -o another path")
    if not force and Path(model).is_file() and out_path.exists() and out_path.samefile(model):
        other = out_path.with_stem(f"{out_path.stem}-compressed")
        raise InputError(f"output {out_path} is the input model; refusing to replace it",
                         f"write the compressed model to another file, e.g. -o {other}, or pass --force to replace it")
    existing = [p for p in (out_path, report) if p.exists()]
    if existing and not force and not _written_by_compress(report, out_path):
        raise InputError(f"{existing[0]} exists and is not an edgekit compress output; refusing to replace it",
                         "choose another -o, or pass --force to replace it")
    check_writable(out_path.parent, noun="compressed model", flag="-o")
    return out_path


def _written_by_compress(report: Path, out_path: Path) -> bool:
    """Whether `report` is the step report an earlier compress wrote for `out_path`."""
    try:
        written = json.loads(report.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(written, dict) and "edgekit_version" in written and isinstance(written.get("steps"), list) \
        and Path(str(written.get("output"))).name == out_path.name


def steps_table(reports: list[dict[str, Any]], title: str) -> Table:
    """Before -> after for every step: parameters (non-zero), MACs, size (dense / sparse) and quality."""
    table = Table(title=title)
    metric = reports[0]["quality_metric"].replace("_", " ") if reports else "quality"
    for col in ("step", "params (non-zero)", "MACs", "size dense / sparse", metric, "s"):
        table.add_column(col)
    for r in reports:
        b, a, q = r["before"], r["after"], r["quality_metric"]
        table.add_row(
            f"{r['step']}. {r['method']}",
            f"{b['nonzero_params']:,} -> {a['nonzero_params']:,}",
            f"{b['macs']:,} -> {a['macs']:,}",
            f"{_fmt_bytes(b['bytes'])} / {_fmt_bytes(b['sparse_bytes'])} -> "
            f"{_fmt_bytes(a['bytes'])} / {_fmt_bytes(a['sparse_bytes'])}",
            f"{b[q]:.4f} -> {a[q]:.4f}",
            f"{r['seconds']:.1f}")
    return table


def _fmt_bytes(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"
