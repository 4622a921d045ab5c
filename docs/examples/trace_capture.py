"""Capture a small CNN's operands at the last step of epochs 0 and 2, and read them back.

python docs/examples/trace_capture.py [FOLDER]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

import thrifty.trace as tt
from thrifty.models import build_model


def main(folder: Path) -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    images, labels = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    batches = list(zip(images.split(16), labels.split(16), strict=True))

    config = tt.TraceConfig(epochs=[0, 2], steps="last", ops=["forward", "backward_weight"])
    with tt.capture(model, folder, config) as cap:
        for epoch in range(3):
            for step, (x, y) in enumerate(batches):
                cap.step(epoch=epoch, step=step, last_step=step == len(batches) - 1)
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
            with cap.paused(), torch.no_grad():  # evaluation: not recorded
                model(images[:16])

    for entry in tt.open(folder):
        shapes = {name: list(t.shape) for name, t in entry.tensors.items()}
        print(entry.epoch, entry.step, entry.layer, entry.op, entry.geometry["kind"], shapes)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "trace")
