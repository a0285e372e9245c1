"""What the CPU can do for int8 inference, probed once.

onnxruntime's int8 convolutions (MLAS, U8S8: uint8 activations times int8 weights) are
exact on CPUs with VNNI (AVX512-VNNI, AVX-VNNI; AMX machines have both), but on x86
CPUs without it they multiply with ``vpmaddubsw``, which adds each pair of products into
a saturating int16. Full-range int8 weights overflow that sum, and the bundled int8 file
of the first model lost 2.3-2.5 points on an AVX2-only CPU that way. Weights quantised
to 7 bits (``reduce_range``) cannot overflow it: 2 x 255 x 64 = 32,640 <= 32,767.
ARM's int8 kernels (NEON, dot product, i8mm) widen before they add and do not saturate.

Linux reads /proc/cpuinfo (the kernel's flags, which also cover AVX-VNNI and AMX);
elsewhere numpy's own dispatch probe (cpuid plus the OS's register-state check), which
knows AVX512-VNNI and the ARM dot product but not AVX-VNNI or AMX, so a Windows/macOS
AVX-VNNI laptop is treated as having no VNNI: the safe direction (fp32 or a 7-bit file).
"""

from __future__ import annotations

import functools
import logging
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
X86 = "x86_64"
ARM64 = "arm64"


@dataclass(frozen=True)
class CpuFeatures:
    """The instruction-set facts that decide whether int8 is right and fast here."""

    arch: str  # X86, ARM64, or platform.machine() as given for anything else
    model: str = ""  # marketing name where the OS tells it, e.g. "Intel(R) Xeon(R) Processor"
    avx2: bool = False
    avx512_vnni: bool = False
    avx_vnni: bool = False  # the VEX-encoded VNNI of Alder Lake and later client CPUs
    amx_int8: bool = False
    dotprod: bool = False  # ARM SDOT/UDOT
    i8mm: bool = False  # ARM SMMLA/UMMLA
    source: str = "none"  # where the facts came from: /proc/cpuinfo, numpy, or a test

    @property
    def is_x86(self) -> bool:
        return self.arch == X86

    @property
    def is_arm(self) -> bool:
        return self.arch == ARM64

    @property
    def vnni(self) -> str | None:
        """The int8 dot-product extension MLAS uses instead of vpmaddubsw, or None."""
        if not self.is_x86:
            return None
        if self.avx512_vnni:  # also on every AMX CPU
            return "AVX512-VNNI"
        if self.avx_vnni:
            return "AVX-VNNI"
        if self.amx_int8:
            return "AMX-INT8"
        return None

    def int8_extensions(self) -> list[str]:
        names = {
            "AVX2": self.avx2, "AVX512-VNNI": self.avx512_vnni, "AVX-VNNI": self.avx_vnni,
            "AMX-INT8": self.amx_int8, "dotprod": self.dotprod, "i8mm": self.i8mm,
        }
        return [name for name, present in names.items() if present]

    def describe(self) -> str:
        """One line for logs and `fer-overlay doctor`."""
        found = ", ".join(self.int8_extensions()) or "no AVX2/VNNI/dot-product extensions"
        model = f"{self.model}, " if self.model else ""
        return f"{model}{self.arch}: {found} (from {self.source})"


def normalise_arch(machine: str) -> str:
    m = machine.lower()
    if m in ("x86_64", "amd64", "x64"):
        return X86
    if m in ("arm64", "aarch64", "armv8", "armv8l"):
        return ARM64
    return machine


def from_flags(flags: Iterable[str], arch: str, model: str = "", source: str = "given") -> CpuFeatures:
    """Features from Linux-style flag names (x86 `flags`, ARM `Features` of /proc/cpuinfo)."""
    have = {f.lower() for f in flags}
    arch = normalise_arch(arch)
    return CpuFeatures(
        arch=arch, model=model,
        avx2="avx2" in have, avx512_vnni="avx512_vnni" in have, avx_vnni="avx_vnni" in have,
        amx_int8="amx_int8" in have,
        dotprod="asimddp" in have, i8mm="i8mm" in have,
        source=source,
    )


def first_processor(text: str) -> dict[str, str]:
    """The fields (lower-case keys) of the first processor listed in a /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # one processor is enough: the kernel lists the features all cores share
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def parse_cpuinfo(text: str, machine: str | None = None) -> CpuFeatures:
    """Features of the first processor listed in a /proc/cpuinfo text."""
    fields = first_processor(text)
    flags = (fields.get("flags") or fields.get("features") or "").split()
    arch = machine or ("x86_64" if "flags" in fields else "aarch64" if "features" in fields else platform.machine())
    return from_flags(flags, arch, fields.get("model name", ""), source=str(CPUINFO))


def from_numpy_features(features: Mapping[str, bool], machine: str, model: str = "") -> CpuFeatures:
    """Features from numpy's ``__cpu_features__`` (names as numpy spells them)."""
    arch = normalise_arch(machine)
    return CpuFeatures(
        arch=arch, model=model,
        avx2=bool(features.get("AVX2")), avx512_vnni=bool(features.get("AVX512VNNI")),
        # numpy has no names for AVX-VNNI and AMX: left False (see the module docstring).
        dotprod=bool(features.get("ASIMDDP")), i8mm=bool(features.get("I8MM")),
        source="numpy",
    )


def _numpy_features() -> Mapping[str, bool]:
    try:  # numpy 2
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__  # type: ignore[no-redef]
    return __cpu_features__


@functools.lru_cache(maxsize=1)
def probe() -> CpuFeatures:
    """This machine's features (cached: they do not change while the process runs)."""
    machine = platform.machine()
    if CPUINFO.is_file():
        try:
            return parse_cpuinfo(CPUINFO.read_text(errors="replace"), machine)
        except OSError as exc:
            log.debug("cannot read %s: %s", CPUINFO, exc)
    try:
        return from_numpy_features(_numpy_features(), machine, platform.processor())
    except (ImportError, AttributeError) as exc:  # a numpy without the dispatch table
        log.warning("cannot probe the CPU's instruction set (%s); assuming no VNNI", exc)
        return CpuFeatures(arch=normalise_arch(machine), model=platform.processor(), source="nothing")
