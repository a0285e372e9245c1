#!/usr/bin/env python3
"""Install fer_overlay with exactly one onnxruntime build, the right one for this machine.

Why a script and not plain `pip install`: onnxruntime, onnxruntime-gpu and
onnxruntime-directml all install into the same `onnxruntime/` folder, and insightface
(and other packages) declare a dependency on the CPU build. Installing them in any order
leaves whichever came last, silently. This script picks the build, removes the others,
installs insightface and rapidocr without their conflicting dependencies, and checks
the result.

    python scripts/install.py                 # auto: GPU build with an NVIDIA GPU, else CPU/DirectML
    python scripts/install.py --ort cpu       # force a build
    python scripts/install.py --dev --train   # plus test tools / PyTorch for training
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILDS = {"gpu": "onnxruntime-gpu", "cpu": "onnxruntime", "directml": "onnxruntime-directml"}
OTHER_ORT = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino", "ort-nightly",
             "ort-nightly-gpu")
NO_DEPS = ("insightface>=0.7", "rapidocr>=3.0")  # their metadata pulls onnxruntime / opencv-headless
CONFLICTING_OPENCV = ("opencv-python-headless", "opencv-contrib-python-headless")


def has_nvidia_gpu() -> bool:
    if Path("/proc/driver/nvidia/version").exists():
        return True
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def choose_build(requested: str) -> str:
    if requested != "auto":
        return requested
    system, machine = platform.system(), platform.machine().lower()
    x86 = machine in ("x86_64", "amd64")
    if system in ("Linux", "Windows") and x86 and has_nvidia_gpu():
        return "gpu"
    if system == "Windows":
        return "directml"
    return "cpu"  # macOS builds include CoreML; Linux without NVIDIA runs on the CPU


def installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def pip(*args: str, dry_run: bool = False) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    if not dry_run:
        subprocess.run(cmd, check=True, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ort", choices=["auto", *BUILDS], default="auto", help="onnxruntime build")
    p.add_argument("--dev", action="store_true", help="also install test and lint tools")
    p.add_argument("--train", action="store_true", help="also install PyTorch for scripts/train_emotion.py")
    p.add_argument("--dry-run", action="store_true", help="print the pip commands only")
    args = p.parse_args(argv)

    build = choose_build(args.ort)
    wanted = BUILDS[build]
    print(f"onnxruntime build for this machine: {wanted}", flush=True)
    extras = [build] + (["dev"] if args.dev else [])
    stale = [d for d in (*OTHER_ORT, *CONFLICTING_OPENCV) if d != wanted and installed(d)]
    if stale:
        pip("uninstall", "-y", *stale, dry_run=args.dry_run)
    pip("install", "-e", f".[{','.join(extras)}]", dry_run=args.dry_run)
    pip("install", "--no-deps", *NO_DEPS, dry_run=args.dry_run)
    if args.train:
        # On machines that carry a local CPU wheel this pin picks it; elsewhere PyPI's build.
        pip("install", os.environ.get("FER_OVERLAY_TORCH", "torch==2.13.0"), dry_run=args.dry_run)
    if args.dry_run:
        return 0
    # A package installed above may still have dragged in another build: undo it, then
    # reinstall ours so its files are the ones left in the shared folder.
    stale = [d for d in OTHER_ORT if d != wanted and installed(d)]
    if stale:
        pip("uninstall", "-y", *stale)
        pip("install", "--force-reinstall", "--no-deps", wanted)
    check = subprocess.run(
        [sys.executable, "-c", "import onnxruntime as o; print(o.__version__, o.get_available_providers())"],
        capture_output=True, text=True,
    )
    if check.returncode != 0:
        print(check.stderr, file=sys.stderr)
        return 1
    print(f"onnxruntime {check.stdout.strip()}; run `fer-overlay doctor` to see what really runs", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
