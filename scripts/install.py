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

At the end it makes sure the `fer-overlay` command is reachable: pip was run through the
interpreter, so pyenv's shims (which only its `pip` shim refreshes) are rehashed where
pyenv is present, and if the command still cannot be found on PATH the script prints the
exact command to use instead.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILDS = {"gpu": "onnxruntime-gpu", "cpu": "onnxruntime", "directml": "onnxruntime-directml"}
OTHER_ORT = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino", "ort-nightly",
             "ort-nightly-gpu")
NO_DEPS = ("insightface>=0.7", "rapidocr>=3.0")  # their metadata pulls onnxruntime / opencv-headless
CONFLICTING_OPENCV = ("opencv-python-headless", "opencv-contrib-python-headless")
COMMAND = "fer-overlay"  # the console script pyproject.toml declares


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
    rehash_pyenv()
    print(reachability().message(), flush=True)
    return 0


# -- is `fer-overlay` reachable? ---------------------------------------------------------------


def pyenv_root_of(prefix: Path) -> Path | None:
    """The pyenv root that holds the interpreter at `prefix` (ROOT/versions/NAME[/envs/VENV])."""
    for parent in prefix.resolve().parents:
        if parent.name == "versions" and any((parent.parent / d / "pyenv").is_file() for d in ("bin", "libexec")):
            return parent.parent
    return None


def rehash_pyenv(env: Mapping[str, str] | None = None, prefix: Path | None = None) -> bool:
    """Run `pyenv rehash` where pyenv manages this Python, so the new command gets its shim.

    pyenv refreshes its shims after `pip install` only when pip runs through pyenv's own pip
    shim; this script runs pip as `python -m pip`, which bypasses that. Returns whether a rehash ran."""
    env = dict(os.environ if env is None else env)
    root = Path(env["PYENV_ROOT"]) if env.get("PYENV_ROOT") else pyenv_root_of(prefix or Path(sys.prefix))
    pyenv = shutil.which("pyenv", path=env.get("PATH"))
    if pyenv is None and root is not None:
        pyenv = next((str(p) for d in ("bin", "libexec") if (p := root / d / "pyenv").is_file()), None)
    if pyenv is None:
        return False  # not a pyenv Python: pip wrote the command straight into a folder on PATH, or not
    if root is not None:
        env["PYENV_ROOT"] = str(root)
    done = subprocess.run([pyenv, "rehash"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"`pyenv rehash` failed ({done.stderr.strip() or done.returncode}); run it yourself", file=sys.stderr)
        return False
    print("+ pyenv rehash", flush=True)
    return True


def entry_point(scripts_dir: Path | None = None) -> Path:
    """Where pip wrote the `fer-overlay` command for this interpreter."""
    folder = scripts_dir or Path(sysconfig.get_path("scripts"))
    return folder / (f"{COMMAND}.exe" if sys.platform == "win32" else COMMAND)


def runs(command: list[str], env: Mapping[str, str] | None = None) -> bool:
    """Whether `command --help` starts: a pyenv shim can be on PATH and still fail, for another Python."""
    try:
        done = subprocess.run([*command, "--help"], env=env, capture_output=True, timeout=120, cwd=Path.home())
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@dataclass(frozen=True)
class Reachability:
    """What typing `fer-overlay` in a shell would do, and what to type instead when it fails."""

    on_path: str | None  # what `fer-overlay` resolves to on PATH, if anything
    ready: bool  # ... and it runs this install
    entry: Path  # the command pip installed for this interpreter
    entry_runs: bool

    @property
    def fallback(self) -> str:
        """The exact command that runs fer_overlay when `fer-overlay` does not."""
        return str(self.entry) if self.entry_runs else f"{sys.executable} -m fer_overlay"

    def message(self) -> str:
        if self.ready:
            return f"`{COMMAND}` is ready ({self.on_path}); try `{COMMAND} demo`"
        why = (f"`{COMMAND}` on your PATH ({self.on_path}) does not run this install" if self.on_path
               else f"`{COMMAND}` is installed but not on your PATH")
        lines = [f"{why}. Run it as", f"    {self.fallback} demo"]
        if self.entry_runs:
            lines += [f"or `{sys.executable} -m fer_overlay demo`, or add {self.entry.parent} to PATH."]
        return "\n".join(lines)


def shell_path(env: Mapping[str, str]) -> str:
    """PATH as the user's shell has it. Behind pyenv's `python3` shim, `pyenv exec` puts the
    version's own bin folder (where pip wrote the command), its libexec and plugin folders in
    front for this process only: a command found there is not one the user can type."""
    entries = env.get("PATH", "").split(os.pathsep)
    if not env.get("PYENV_ROOT"):
        return os.pathsep.join(entries)
    root = Path(env["PYENV_ROOT"])

    def added_by_pyenv_exec(entry: str) -> bool:
        p = Path(entry)
        return (p.is_relative_to(root / "versions") or p == root / "libexec"
                or (p.parent.parent == root / "plugins" and p.name == "bin"))

    return os.pathsep.join(e for e in entries if e and not added_by_pyenv_exec(e))


def reachability(env: Mapping[str, str] | None = None, scripts_dir: Path | None = None) -> Reachability:
    """Whether `fer-overlay`, typed in a shell with this environment, runs our install."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = shell_path(env)
    found = shutil.which(COMMAND, path=env["PATH"])
    entry = entry_point(scripts_dir)
    if found is not None and runs([found], env):
        return Reachability(found, True, entry, entry_runs=entry.is_file())  # not needed: not run
    return Reachability(found, False, entry, entry.is_file() and runs([str(entry)], env))


if __name__ == "__main__":
    raise SystemExit(main())
