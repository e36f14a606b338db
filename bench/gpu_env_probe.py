#!/usr/bin/env python3
"""The GPU check's environment step (bench/gpu_check.py): one JSON line with Python, torch, CUDA, the GPU (and
nvidia-smi's view of it) and the versions of the packages the later steps import -- found, not imported, so that a
missing one is named here first and cheaply."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from importlib import metadata, util
from typing import Any

import torch

# (distribution, module) of what the steps import besides torch
PACKAGES = (("mlflow-skinny", "mlflow"), ("optuna", "optuna"), ("sqlalchemy", "sqlalchemy"), ("alembic", "alembic"),
            ("torch-fidelity", "torch_fidelity"), ("torchmetrics", "torchmetrics"), ("torchvision", "torchvision"),
            ("pyyaml", "yaml"), ("protobuf", "google.protobuf"))


def facts() -> dict[str, Any]:
    d: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                         "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        d.update(gpu=p.name, gpus=torch.cuda.device_count(), capability=f"{p.major}.{p.minor}",
                 gpu_mem_gib=round(p.total_memory / 2**30, 1), sms=p.multi_processor_count,
                 cudnn=torch.backends.cudnn.version())
    if shutil.which("nvidia-smi"):
        q = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu"
        r = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True,
                           text=True)
        d["nvidia_smi"] = r.stdout.strip() or r.stderr.strip()
    d["packages"] = {}
    for dist, module in PACKAGES:
        try:
            found = util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "?"
        d["packages"][module] = version if found else "MISSING"
    return d


if __name__ == "__main__":
    print(json.dumps(facts()))
