"""`edgekit compile MODEL -t TARGET -o DIR`: compress and export a model into an artifact directory."""
from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from ..units import format_bytes
from .output import err, out, print_error, print_json, progress_bars

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
@click.option("--prompt-len", type=click.IntRange(1),
              help="cached decoders: length of a seeded random reference prompt (default: the factory's example "
                   "tokens); the host records its greedy tokens")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="artifact directory to write")
@click.option("--c-library", "c_library", type=click.Path(file_okay=False),
              help="microcontroller targets: also write the model as a C library folder for your own firmware "
                   "(public header, CMake target, Zephyr module; docs/targets/mcu.md)")
@click.option("--force", is_flag=True, help="replace -o (and --c-library) even if it is a non-empty folder that is not "
              "edgekit's")
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def compile_cmd(model: str, target: str, quantize: str, recipe_path: str | None, calibration: str | None,
                input_ranges: tuple[str, ...], float_io: bool, prompt_len: int | None, output: str,
                c_library: str | None, force: bool, as_json: bool) -> None:
    """Compress and export MODEL (.pt2 or file.py:factory) for a target; write an artifact directory.

    A cached decoder (a factory's language model with `vocab_size` and `max_seq_len`, see edgekit/decoder.py)
    becomes a .pte that prefills a prompt and decodes token by token; measure it with `edgekit bench --generate`."""
    from ..artifact import check_output_dir
    from ..decoder import compile_decoder, is_cached_decoder
    from ..compiler import compile_model
    from ..errors import InputError
    from ..modelio import load_data, load_model
    from ..profiles import load_profile
    profile = load_profile(target)
    check_output_dir(output, force)  # before the model is loaded: nothing slow happens for a refused -o
    if c_library:
        from ..export.mcu.library import check_library_dir
        if profile.firmware is None:
            raise InputError(f"--c-library needs a microcontroller target; '{target}' has no [firmware] section",
                             "see `edgekit targets list` (family mcu)")
        check_library_dir(c_library, force, output)
    ranges = _parse_ranges(input_ranges)
    if recipe_path and quantize != "none":
        raise InputError("--recipe and --quantize both given", "put the quantization step in the recipe")
    if recipe_path:
        from ..recipe import load_recipe
        recipe = load_recipe(recipe_path)
    else:
        recipe = _quantize_recipe(quantize)
    data = load_data(calibration) if calibration else None  # an unreadable file is said before a model is built
    loaded = load_model(model)
    decoder = is_cached_decoder(loaded.module)
    _check_options_for(decoder, quantize, prompt_len, float_io, ranges)  # what applies depends on the model's kind
    if quantize == "int8" and not calibration:
        raise InputError("--quantize int8 needs calibration data", "pass --calibration DATA.npz with an array 'x'")
    if decoder:
        with progress_bars() as progress:
            prompt = None if prompt_len else loaded.example_inputs[0].reshape(-1).tolist()
            artifact = compile_decoder(loaded.module, profile, output, recipe=_for_decoder(recipe), calibration=data,
                                       prompt=prompt, prompt_len=prompt_len or 32, progress=progress, force=force)
        print_json(artifact.manifest) if as_json else out.print(_decoder_table(artifact))
        return
    with progress_bars() as progress:
        artifact = compile_model(loaded.module, loaded.example_inputs, profile, output,
                                 recipe=recipe, calibration=data, progress=progress, input_names=loaded.input_names,
                                 input_ranges=ranges, force=force, int8_io=not float_io)
    library = None
    if c_library:
        from ..export.mcu.library import write_c_library
        library = write_c_library(artifact, c_library, force=force)
    for warning in artifact.manifest.get("warnings", []):
        print_error(f"warning: {warning}", err.file)
    if as_json:
        print_json(artifact.manifest)
        return
    deleg = artifact.manifest["export"].get("delegation") or {}
    table = Table(title=f"edgekit compile: {artifact.path}", show_header=False)
    table.add_row("format", artifact.format)
    table.add_row("size", format_bytes(artifact.size_bytes))
    if artifact.size_bytes != artifact.dense_bytes:
        table.add_row("stored sparse", f"{format_bytes(artifact.dense_bytes)} after decoding on the device")
    table.add_row("recipe", " -> ".join(c.method for c in recipe) or "none")
    table.add_row("MACs", f"{artifact.manifest['model']['macs']:,}" + (" (a lower bound: not counted for "
                  f"{', '.join(artifact.manifest['model']['macs_not_counted'])})"
                  if artifact.manifest["model"].get("macs_not_counted") else ""))
    share = artifact.manifest["model"].get("int8_share")
    if share:
        table.add_row("runs in int8", f"{share['macs']:.1%} of MACs, {share['weights']:.1%} of weights")
    mixed = artifact.manifest.get("mixed_precision")
    if mixed:
        from ..compress.mixed import summary_line as mixed_line
        table.add_row("kept in float", mixed_line(mixed))
    numerics = artifact.manifest.get("numerics") or {}
    if "first_growing_layers" in numerics or "error" in numerics:
        from ..compress.numerics import summary_line
        table.add_row("INT8 error", summary_line(numerics))
    elif numerics:
        table.add_row("INT8 cosine vs FP32", f"{numerics['cosine_vs_fp32']:.4f} " + (
            "(meaningless: see the warning)" if numerics.get("comparable") is False else "(host reference inputs)"))
    if deleg:
        table.add_row("delegated (XNNPACK)", ", ".join(f"{k} x{v}" for k, v in deleg["delegated_ops"].items()))
        for op, info in deleg["not_delegated_ops"].items():
            table.add_row(f"not delegated: {op} x{info['count']}", info["reason"])
    if library is not None:
        table.add_row("C library", f"{library.path} (include/edgekit_model.h, CMake target edgekit_model, "
                                   f"arena {format_bytes(library.manifest['arena_bytes'])})")
    out.print(table)


def _check_options_for(decoder: bool, quantize: str, prompt_len: int | None, float_io: bool,
                       ranges: dict[str, tuple[int, int]]) -> None:
    """Refuse options that do nothing for this kind of model, rather than ignore them."""
    from ..errors import InputError, UnsupportedError
    if not decoder:
        if prompt_len is not None:
            raise InputError("--prompt-len is for cached decoders; this model is not one (it has no vocab_size and "
                             "max_seq_len)", "leave out --prompt-len")
        return
    if quantize == "int8":
        raise UnsupportedError("--quantize int8 (static, calibrated) cannot be applied to a cached decoder",
                               "use --quantize int8-dynamic, or a recipe with int4-rtn or int4-gptq")
    given = [flag for flag, used in (("--float-io", float_io), ("--input-range", bool(ranges))) if used]
    if given:
        flags = " and ".join(given)
        raise InputError(f"{flags} {'do' if len(given) > 1 else 'does'} not apply to a cached decoder (its inputs "
                         "are token ids and positions)", f"leave out {flags}")


def _for_decoder(recipe: list[Any]) -> list[Any]:
    """--quantize int8-dynamic on a decoder: per-token dynamic INT8 (the PT2E flow needs a fixed-shape graph)."""
    from ..compress import Int8DynamicConfig, Int8DynamicTokenConfig
    return [Int8DynamicTokenConfig() if isinstance(c, Int8DynamicConfig) else c for c in recipe]


def _decoder_table(artifact: Any) -> Table:
    spec = artifact.manifest["generation"]
    table = Table(title=f"edgekit compile: {artifact.path} (cached decoder)", show_header=False)
    table.add_row("format", f"{artifact.format} (prefill + decode, KV cache {format_bytes(spec['kv_cache_bytes'])})")
    table.add_row("size", format_bytes(artifact.size_bytes))
    table.add_row("weights", spec["weights"])
    table.add_row("embedding", spec["embedding"])
    table.add_row("host tokens", f"{len(spec['host_tokens'])} greedy tokens after a {len(spec['prompt'])}-token "
                                 f"prompt; {sum(a == b for a, b in zip(spec['host_tokens'], spec['float_tokens']))} "
                                 "at the same position as the float model's")
    return table


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
