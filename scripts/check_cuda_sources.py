"""Compile mitbadak's CUDA kernel sources with nvcc to PTX: a syntax and type check without a GPU.

    python scripts/check_cuda_sources.py            # needs nvcc on PATH (a CUDA toolkit, no GPU)

CuPy compiles the kernels with NVRTC on first launch, which needs a GPU machine. This script
wraps each ``ElementwiseKernel`` body of ``mitbadak.gpu_kernels.KERNEL_SOURCES`` the way CuPy
does (one thread per element, the in-parameters read, the out-parameters written by reference),
for float and double (the optimizer bodies with their per-dtype rounding intrinsics), adds the
``RawKernel`` sources, and runs ``nvcc -ptx`` on the result. It catches typos, undeclared names
and wrong intrinsics before a GPU run; it does not check the numbers (tests/test_gpu_kernels.py
does that on a GPU). Exit 0 when everything compiles, 1 with nvcc's messages otherwise, 0 with one
line when nvcc is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mitbadak.gpu_kernels import (
    _PER_DTYPE,
    BIAS_SOFTMAX_CE_SOURCE,
    KERNEL_SOURCES,
    SOFTMAX_CE_SOURCE,
    rounded_body,
)

_SCALARS = {"float64": "double", "float32": "float", "int64": "long long"}


def _params(spec: str) -> list[tuple[str, str]]:
    return [tuple(part.split()) for part in spec.split(",") if part.strip()]  # (type, name)


def elementwise_wrapper(name: str, ins: str, outs: str, body: str, ctype: str) -> str:
    """A __global__ function running ``body`` once per element, as ElementwiseKernel does."""
    args, loads = [], []
    for typ, var in _params(ins):
        if typ == "T":
            args.append(f"const {ctype}* {var}_p")
            loads.append(f"const {ctype} {var} = {var}_p[i];")
        else:
            args.append(f"const {_SCALARS[typ]} {var}")
    for _typ, var in _params(outs):
        args.append(f"{ctype}* {var}_p")
        loads.append(f"{ctype}& {var} = {var}_p[i];")
    args.append("const long long size")
    return (
        f'extern "C" __global__ void check_{name}_{ctype}({", ".join(args)}) {{\n'
        "    typedef " + ctype + " T;\n"
        "    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;\n"
        "    if (i >= size) return;\n"
        f"    {' '.join(loads)}\n"
        f"    {body}\n"
        "}\n"
    )


def cuda_source() -> str:
    """Every kernel of gpu_kernels as one CUDA translation unit."""
    parts = []
    for name, (ins, outs, body) in KERNEL_SOURCES.items():
        for dtype, ctype in (("float32", "float"), ("float64", "double")):
            text = rounded_body(name, dtype) if name in _PER_DTYPE else body
            parts.append(elementwise_wrapper(name, ins, outs, text, ctype))
    for ctype in ("float", "double"):
        parts.append(SOFTMAX_CE_SOURCE.replace("{T}", ctype))
        parts.append(BIAS_SOFTMAX_CE_SOURCE.replace("{T}", ctype).replace(
            "#define MITBADAK_THREADS", "#undef MITBADAK_THREADS\n#define MITBADAK_THREADS"
        ))
    return "\n".join(parts)


def main() -> int:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        print("check_cuda_sources skipped: nvcc is not on PATH (it needs a CUDA toolkit)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "mitbadak_kernels.cu"
        src.write_text(cuda_source())
        done = subprocess.run(
            [nvcc, "-ptx", "-arch=compute_90", str(src), "-o", str(Path(tmp) / "out.ptx")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            print(done.stdout + done.stderr)
            print(f"check_cuda_sources: nvcc failed ({done.returncode})")
            return 1
        ptx = (Path(tmp) / "out.ptx").read_text()
    kernels = ptx.count(".entry")
    print(f"check_cuda_sources: {kernels} kernels compiled to PTX with {nvcc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
