"""Write a BBNN with random (seeded) weights as a Cratedigger checkpoint and print its path: a
stand-in model for smoke-testing bundles where the authors' weights are not at hand (CI runners).
Its predictions mean nothing; it exercises import, inference and the UI the same way.

    python packaging/random_model.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from model.bbnn import BBNN
from model.keras_import import GTZAN_CLASSES
from model.store import Manifest, ModelStore


def main(out_dir: str) -> int:
    torch.manual_seed(0)
    net = BBNN(len(GTZAN_CLASSES)).eval()
    manifest = Manifest(name="smoke-random", classes=list(GTZAN_CLASSES), source="packaging/random_model.py",
                        notes="random weights, for smoke tests only")
    ModelStore(Path(out_dir)).save(net, manifest)
    print(Path(out_dir).resolve() / f"{manifest.name}.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/smoke-model"))
