"""`edgekit compile MODEL -t TARGET -o DIR`: compress and export a model into an artifact directory."""
from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from .output import out, print_json, progress_bars

QUANTIZE_CHOICES = ("none", "int8", "int8-dynamic")


@click.command("compile")
@click.argument("model")
@click.option("--target", "-t", required=True, help="device profile name (see `edgekit targets list`)")
@click.option("--quantize", "-q", type=click.Choice(QUANTIZE_CHOICES), default="none", show_default=True)
@click.option("--recipe", "-r", "recipe_path", type=click.Path(dir_okay=False),
              help="TOML recipe of compression steps (instead of --quantize); recorded in the manifest")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help=".npz with 'x' (or one array per input name); needed for int8")
@click.option("--input-range", "input_ranges", multiple=True, metavar="NAME=LO:HI",
              help="valid values of an integer input (HI excluded), e.g. input_ids=0:30522; used where no data "
                   "is given (default: the range the example input spans)")
@click.option("--float-io", is_flag=True, help="INT8 .tflite: float32 inputs and outputs (QUANTIZE/DEQUANTIZE in the "
              "file) instead of int8 ones with their scale and zero point")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="artifact directory to write")
@click.option("--force", is_flag=True, help="replace -o even if it is a non-empty folder that is not an artifact")
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def compile_cmd(model: str, target: str, quantize: str, recipe_path: str | None, calibration: str | None,
                input_ranges: tuple[str, ...], float_io: bool, output: str, force: bool, as_json: bool) -> None:
    """Compress and export MODEL (.pt2 or file.py:factory) for a target; write an artifact directory."""
    from ..artifact import check_output_dir
    from ..compiler import compile_model
    from ..errors import InputError
    from ..modelio import load_data, load_model
    from ..profiles import load_profile
    profile = load_profile(target)
    check_output_dir(output, force)  # before the model is loaded: nothing slow happens for a refused -o
    ranges = _parse_ranges(input_ranges)
    if recipe_path and quantize != "none":
        raise InputError("--recipe and --quantize both given", "put the quantization step in the recipe")
    if recipe_path:
        from ..recipe import load_recipe
        recipe = load_recipe(recipe_path)
    else:
        recipe = _quantize_recipe(quantize)
    if quantize == "int8" and not calibration:
        raise InputError("--quantize int8 needs calibration data", "pass --calibration DATA.npz with an array 'x'")
    loaded = load_model(model)
    data = load_data(calibration) if calibration else None
    with progress_bars() as progress:
        artifact = compile_model(loaded.module, loaded.example_inputs, profile, output,
                                 recipe=recipe, calibration=data, progress=progress, input_names=loaded.input_names,
                                 input_ranges=ranges, force=force, int8_io=not float_io)
    if as_json:
        print_json(artifact.manifest)
        return
    deleg = artifact.manifest["export"].get("delegation") or {}
    table = Table(title=f"edgekit compile: {artifact.path}", show_header=False)
    table.add_row("format", artifact.format)
    table.add_row("size", f"{artifact.size_bytes:,} B")
    if artifact.size_bytes != artifact.dense_bytes:
        table.add_row("stored sparse", f"{artifact.dense_bytes:,} B after decoding on the device")
    table.add_row("recipe", " -> ".join(c.method for c in recipe) or "none")
    table.add_row("MACs", f"{artifact.manifest['model']['macs']:,}")
    numerics = artifact.manifest.get("numerics") or {}
    if "first_growing_layers" in numerics or "error" in numerics:
        from ..compress.numerics import summary_line
        table.add_row("INT8 error", summary_line(numerics))
    elif numerics:
        table.add_row("INT8 cosine vs FP32", f"{numerics['cosine_vs_fp32']:.4f} (host reference inputs)")
    if deleg:
        table.add_row("delegated (XNNPACK)", ", ".join(f"{k} x{v}" for k, v in deleg["delegated_ops"].items()))
        for op, info in deleg["not_delegated_ops"].items():
            table.add_row(f"not delegated: {op} x{info['count']}", info["reason"])
    out.print(table)


def _quantize_recipe(quantize: str) -> list[Any]:
    """The one-step recipe a --quantize choice stands for."""
    from ..compress import Int8DynamicConfig, Int8StaticConfig
    return {"none": [], "int8": [Int8StaticConfig()], "int8-dynamic": [Int8DynamicConfig()]}[quantize]


def _parse_ranges(specs: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """--input-range NAME=LO:HI values as {name: (lo, hi)}."""
    from ..errors import InputError
    ranges = {}
    for spec in specs:
        name, _, bounds = spec.partition("=")
        lo, _, hi = bounds.partition(":")
        try:
            ranges[name.strip()] = (int(lo), int(hi))
        except ValueError:
            raise InputError(f"--input-range {spec!r} is not NAME=LO:HI",
                             "e.g. --input-range input_ids=0:30522") from None
    return ranges
