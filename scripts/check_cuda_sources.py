"""Compile mitbadak's CUDA kernel sources with nvcc to PTX: a syntax and type check without a GPU.

    python scripts/check_cuda_sources.py            # needs nvcc on PATH (a CUDA toolkit, no GPU)

CuPy compiles the kernels with NVRTC on first launch, which needs a GPU machine. This script
wraps each ``ElementwiseKernel`` body of ``mitbadak.devices.cuda_kernels.kernel_sources()``
(generated from the registered activations and optimizers) the way CuPy does (one thread per
element, the in-parameters read, the out-parameters written by reference),
for float and double (the optimizer bodies with their per-dtype rounding intrinsics), adds the
``RawKernel`` sources, and runs ``nvcc -ptx`` on the result. It catches typos, undeclared names
and wrong intrinsics before a GPU run; it does not check the numbers (tests/test_gpu_kernels.py
does that on a GPU). Exit 0 when everything compiles, 1 with nvcc's messages otherwise, 0 with one
line when nvcc is missing.

``run_raw_kernels_on_cpu`` compiles the two softmax RawKernels' source with g++ (C++20) and a
launcher that runs one ``std::thread`` per CUDA thread (``std::barrier`` for ``__syncthreads``),
so the tests can compare their numbers with the NumPy references on any machine with g++.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mitbadak.core.expressions import C_PREAMBLE
from mitbadak.devices.cuda_kernels import (
    BIAS_SOFTMAX_CE_SOURCE,
    SOFTMAX_CE_SOURCE,
    kernel_sources,
    per_dtype,
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
    """Every kernel of cuda_kernels (generated from the registries now: a throw-away activation
    or optimizer registered by a test is included) as one CUDA translation unit."""
    parts = [C_PREAMBLE]
    rounded = per_dtype()
    for name, (ins, outs, body) in kernel_sources().items():
        for dtype, ctype in (("float32", "float"), ("float64", "double")):
            text = rounded_body(name, dtype) if name in rounded else body
            parts.append(elementwise_wrapper(name, ins, outs, text, ctype))
    for ctype in ("float", "double"):
        parts.append(SOFTMAX_CE_SOURCE.replace("{T}", ctype))
        parts.append(BIAS_SOFTMAX_CE_SOURCE.replace("{T}", ctype).replace(
            "#define MITBADAK_THREADS", "#undef MITBADAK_THREADS\n#define MITBADAK_THREADS"
        ))
    return "\n".join(parts)


# A CPU emulation of a CUDA launch for the RawKernels: one std::thread per CUDA thread, a
# std::barrier for __syncthreads, function-static arrays for __shared__. It runs the kernels' own
# source text on the host, so their arithmetic and their block reduction can be checked without a
# GPU (tests/test_gpu_kernels.py compares them with the NumPy references).
_CPU_PRELUDE = r"""
#include <barrier>
#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>
using std::exp;
using std::log;
struct mitbadak_dim3 { unsigned x, y, z; };
thread_local mitbadak_dim3 threadIdx;
mitbadak_dim3 blockIdx, blockDim;
static std::barrier<>* mitbadak_barrier;
#define __global__
#define __shared__ static
inline void __syncthreads() { mitbadak_barrier->arrive_and_wait(); }
"""

_CPU_MAIN = r"""
static void launch(unsigned grid, unsigned block, const std::function<void()>& kernel) {
    blockDim = {block, 1, 1};
    for (unsigned g = 0; g < grid; ++g) {
        blockIdx = {g, 0, 0};
        std::barrier<> bar(block);
        mitbadak_barrier = &bar;
        std::vector<std::thread> threads;
        for (unsigned i = 0; i < block; ++i)
            threads.emplace_back([&, i] { threadIdx = {i, 0, 0}; kernel(); });
        for (auto& t : threads) t.join();
    }
}

template <class T, class Plain, class Head>
static int run(FILE* in, FILE* out, Plain plain, Head head) {
    long long n, c;
    if (fread(&n, 8, 1, in) != 1 || fread(&c, 8, 1, in) != 1) return 2;
    std::vector<T> x(n * c), b(c), dx(n * c), dx2(n * c), rows(n), loss(1);
    std::vector<long long> t(n);
    if (fread(x.data(), sizeof(T), n * c, in) != (size_t)(n * c)) return 2;
    if (fread(b.data(), sizeof(T), c, in) != (size_t)c) return 2;
    if (fread(t.data(), 8, n, in) != (size_t)n) return 2;
    launch(1, 256, [&] { head(x.data(), b.data(), t.data(), dx2.data(), loss.data(), n, c); });
    for (long long i = 0; i < n; ++i)  /* the plain kernel takes the scores with the bias */
        for (long long j = 0; j < c; ++j) x[i * c + j] += b[j];
    launch((n + 127) / 128, 128, [&] { plain(x.data(), t.data(), dx.data(), rows.data(), n, c); });
    fwrite(dx.data(), sizeof(T), n * c, out);
    fwrite(rows.data(), sizeof(T), n, out);
    fwrite(dx2.data(), sizeof(T), n * c, out);
    fwrite(loss.data(), sizeof(T), 1, out);
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    FILE* in = fopen(argv[2], "rb");
    FILE* out = fopen(argv[3], "wb");
    if (!in || !out) return 2;
    int rc = argv[1][0] == 'f'
        ? run<float>(in, out, mitbadak_softmax_ce_grad_float, mitbadak_bias_softmax_ce_float)
        : run<double>(in, out, mitbadak_softmax_ce_grad_double, mitbadak_bias_softmax_ce_double);
    fclose(in);
    fclose(out);
    return rc;
}
"""


def cpu_source() -> str:
    """The RawKernel sources (float and double) with a CPU launcher, as one C++20 program."""
    parts = [_CPU_PRELUDE]
    for ctype in ("float", "double"):
        parts.append(SOFTMAX_CE_SOURCE.replace("{T}", ctype))
        parts.append(BIAS_SOFTMAX_CE_SOURCE.replace("{T}", ctype).replace(
            "#define MITBADAK_THREADS", "#undef MITBADAK_THREADS\n#define MITBADAK_THREADS"
        ))
    parts.append(_CPU_MAIN)
    return "\n".join(parts).replace('extern "C" ', "")


def run_raw_kernels_on_cpu(x, b, t, workdir: Path):
    """``(dx, rows)`` of ``softmax_ce_grad`` on ``x + b`` and ``(dx, loss)`` of
    ``bias_softmax_ce`` on ``x``, ``b``: the CUDA sources compiled with g++ and run on the CPU.
    Needs g++ with C++20; ``x`` float32 or float64 (N, C), ``b`` (C,), ``t`` integer labels (N,)."""
    import numpy as np

    binary = workdir / "raw_kernels"
    if not binary.exists():
        src = workdir / "raw_kernels.cpp"
        src.write_text(cpu_source())
        subprocess.run(
            ["g++", "-std=c++20", "-O1", "-pthread", str(src), "-o", str(binary)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    dtype = np.dtype(x.dtype)
    n, c = x.shape
    inp, outp = workdir / "in.bin", workdir / "out.bin"
    with inp.open("wb") as f:
        np.array([n, c], dtype=np.int64).tofile(f)
        np.ascontiguousarray(x).tofile(f)
        np.ascontiguousarray(b, dtype=dtype).tofile(f)
        np.ascontiguousarray(t, dtype=np.int64).tofile(f)
    mode = "f" if dtype == np.float32 else "d"
    subprocess.run([str(binary), mode, str(inp), str(outp)], check=True)
    data = np.fromfile(outp, dtype=dtype)
    dx = data[: n * c].reshape(n, c)
    rows = data[n * c : n * c + n]
    dx2 = data[n * c + n : 2 * n * c + n].reshape(n, c)
    return (dx, rows), (dx2, data[-1])


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
