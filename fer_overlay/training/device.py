"""Where training runs and in which float format.

bf16 autocast halves the memory traffic of a CPU step, but only CPUs with bf16
instructions (AVX512-BF16, AMX-BF16) run it natively. Elsewhere, an AVX2-only AMD EPYC
for one, PyTorch emulates it and the step gets many times slower: a 50-second epoch
there did not finish in eight minutes. So "auto" means bf16 on CUDA and on
bf16-capable CPUs, and fp32 on any other CPU; train_emotion.py logs the choice.
"""

from __future__ import annotations

import contextlib
import enum

import torch

from fer_overlay.inference.cpu import CPUINFO, first_processor

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class Amp(enum.Enum):
    AUTO = "auto"
    BF16 = "bf16"
    OFF = "off"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def cpu_bf16_flags(cpuinfo: str) -> list[str]:
    """The bf16 instruction sets the kernel lists on the first processor of /proc/cpuinfo."""
    flags = set(first_processor(cpuinfo).get("flags", "").split())
    return [f for f in BF16_FLAGS if f in flags]


def _cpuinfo() -> str:
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:  # not Linux: no flags to read, so fp32 (right, only slower)
        return ""


def autocast_dtype(device: torch.device, amp: Amp, cpuinfo: str | None = None) -> torch.dtype | None:
    """bf16 where it runs natively (or where asked for), None for plain fp32."""
    if amp is Amp.OFF:
        return None
    if amp is Amp.BF16 or device.type == "cuda":
        return torch.bfloat16
    found = cpu_bf16_flags(_cpuinfo() if cpuinfo is None else cpuinfo)
    return torch.bfloat16 if found else None


def describe(device: torch.device, dtype: torch.dtype | None) -> str:
    if dtype is None:
        return f"{device.type}, fp32 (no native bf16 on this CPU)" if device.type == "cpu" else f"{device.type}, fp32"
    return f"{device.type}, bf16 autocast"


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast for `dtype`, or a no-op context for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
