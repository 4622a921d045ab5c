"""`thrifty export RUN_OR_CHECKPOINT --format onnx|qonnx|packed --out FILE`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class ExportFormat(str, Enum):
    """The file formats of `thrifty export`."""

    onnx = "onnx"
    qonnx = "qonnx"
    packed = "packed"


def export_command(
    source: Annotated[
        Path,
        typer.Argument(help="A `thrifty train` run folder, or a checkpoint from thrifty.save."),
    ],
    format_: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="onnx: QuantizeLinear/DequantizeLinear (≤ 8 bits); qonnx: Quant nodes with "
            "any bitlength; packed: bit-packed integer checkpoint (safetensors).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write.")],
    model: Annotated[
        str | None,
        typer.Option(help="For a thrifty.save checkpoint: the registered model it holds."),
    ] = None,
    num_classes: Annotated[int, typer.Option(min=1, help="Checkpoint only: classes.")] = 10,
    in_channels: Annotated[int, typer.Option(min=1, help="Checkpoint only: channels.")] = 1,
    image_size: Annotated[int, typer.Option(min=1, help="Checkpoint only: image side.")] = 28,
    batch: Annotated[
        int, typer.Option(min=1, help="Batch size of the QONNX graph (its shapes are static).")
    ] = 1,
) -> None:
    """Export the frozen quantized model of a run or checkpoint to ONNX, QONNX or packed."""
    from thrifty.errors import CheckpointError, ConfigError
    from thrifty.export import export_onnx, export_qonnx, save_packed
    from thrifty.export.source import checkpoint_source, run_source
    from thrifty.quant import summary

    if not source.exists():
        raise CheckpointError(
            f"{str(source)!r} does not exist; pass a `thrifty train` run folder or a checkpoint "
            "written by thrifty.save"
        )
    if source.is_dir():
        loaded = run_source(source)
    else:
        if model is None:
            raise ConfigError(
                f"{str(source)!r} is a checkpoint file, which does not record its architecture; "
                "name the registered model with --model (e.g. --model small_cnn) and its input "
                "with --num-classes, --in-channels and --image-size"
            )
        shape = (in_channels, image_size, image_size)
        loaded = checkpoint_source(source, model, num_classes, shape)
    if format_ is ExportFormat.packed:
        size = save_packed(loaded.model, out, loaded.provenance)
        typer.echo(
            f"wrote {out}: {size.file_bytes} bytes = {size.codes_bytes} of packed codes "
            f"({size.weight_bits} weight bits in {size.packed_tensors} tensors) + "
            f"{size.other_tensor_bytes} of other tensors + {size.header_bytes} of header"
        )
    else:
        export = export_onnx if format_ is ExportFormat.onnx else export_qonnx
        example = loaded.example(batch)
        export(loaded.model, example, out, provenance=loaded.provenance)
        typer.echo(f"wrote {out}: {format_.value}, input shape {tuple(example.shape)}")
    means = summary(loaded.model)
    typer.echo(
        f"mean weight bits {means.mean_weight_bits}, mean activation bits "
        f"{means.mean_activation_bits}"
    )


def register(app: typer.Typer) -> None:
    """Add `thrifty export` to the CLI."""
    app.command("export")(export_command)
