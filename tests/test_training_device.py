"""Which float format training uses per CPU: bf16 only where the CPU runs it natively."""

from __future__ import annotations

from conftest import require_module

torch = require_module("torch", "python3 scripts/install.py --train")

from fer_overlay.training.device import Amp, autocast, autocast_dtype, cpu_bf16_flags, describe  # noqa: E402

EPYC_AVX2 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\n"
ZEN4 = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_bf16_flags_are_read_from_the_kernels_list() -> None:
    assert cpu_bf16_flags(EPYC_AVX2) == []
    assert cpu_bf16_flags(ZEN4) == ["avx512_bf16"]
    assert cpu_bf16_flags(SAPPHIRE_RAPIDS) == ["avx512_bf16", "amx_bf16"]
    assert cpu_bf16_flags("") == []  # not Linux: nothing known, so fp32


def test_auto_takes_bf16_only_where_it_is_native_and_the_choice_can_be_forced() -> None:
    assert autocast_dtype(CPU, Amp.AUTO, EPYC_AVX2) is None
    assert autocast_dtype(CPU, Amp.AUTO, ZEN4) is torch.bfloat16
    assert autocast_dtype(CPU, Amp.AUTO, SAPPHIRE_RAPIDS) is torch.bfloat16
    assert autocast_dtype(CUDA, Amp.AUTO, EPYC_AVX2) is torch.bfloat16
    assert autocast_dtype(CPU, Amp.BF16, EPYC_AVX2) is torch.bfloat16
    assert autocast_dtype(CPU, Amp.OFF, SAPPHIRE_RAPIDS) is None
    assert "no native bf16" in describe(CPU, None) and "bf16" in describe(CPU, torch.bfloat16)


def test_the_fp32_context_really_runs_in_fp32_and_bf16_in_bf16() -> None:
    a = torch.randn(4, 8)
    with autocast(CPU, None):
        assert (a @ a.T).dtype == torch.float32
    with autocast(CPU, torch.bfloat16):
        assert (a @ a.T).dtype == torch.bfloat16
