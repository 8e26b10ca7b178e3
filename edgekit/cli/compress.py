"""`edgekit compress MODEL --recipe FILE -o OUT.pt2`: apply a recipe, write the compressed model and a step report.

The model is written as a .pt2 (torch.export.save; `edgekit compile OUT.pt2 ...` takes it), the report next to it
as OUT.json: one entry per step with parameters, MACs, size and quality before and after.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import click
from rich.table import Table

from .output import out, print_json, progress_bars


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
@click.option("--json", "as_json", is_flag=True, help="print the step report as JSON")
def compress_cmd(model: str, recipe_path: str, output: str, calibration: str | None, eval_path: str | None,
                 as_json: bool) -> None:
    """Apply a recipe to MODEL (.pt2 or file.py:factory); write OUTPUT (.pt2) and a JSON step report."""
    import torch

    from ..version import __version__
    from ..compress import CompressionContext
    from ..compress.finetune import eval_mode
    from ..compress.steps import apply_steps
    from ..errors import InputError, UnsupportedError
    from ..modelio import load_data, load_model
    from ..recipe import load_recipe

    out_path = Path(output)
    if out_path.suffix != ".pt2":
        raise InputError(f"output must be a .pt2 file, got {out_path}", "e.g. -o out/pruned.pt2")
    if not out_path.parent.is_dir():
        raise InputError(f"output folder does not exist: {out_path.parent}")
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
    _write_atomically({out_path: lambda p: torch.export.save(program, p),
                       report_path: lambda p: p.write_text(json.dumps(report, indent=2) + "\n")})
    if as_json:
        print_json(report)
        return
    out.print(steps_table(reports, f"edgekit compress: {out_path} (report {report_path})"))


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


def _write_atomically(files: dict[Path, Callable[[Path], Any]]) -> None:
    """Write every file (callable(path) writing it) to a temporary sibling, then rename all into place."""
    staged = []
    try:
        for dst, write in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
            os.close(fd)
            staged.append((Path(tmp), dst))
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the user's umask decides, as for any file
            write(Path(tmp))
        for tmp, dst in staged:
            os.replace(tmp, dst)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; set it straight back
    os.umask(mask)
    return mask
