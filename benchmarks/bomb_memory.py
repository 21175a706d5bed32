"""Peak memory of reading hostile files: zip bombs in model files, gzip bombs in IDX files.

    python benchmarks/bomb_memory.py [--src SRC] [--size-mb 1024]

Each case is read in a fresh subprocess with ``PYTHONPATH=SRC`` (default: this checkout's
``src``), so another checkout's code can be measured the same way. Prints one line per case: the
outcome and the peak resident set size from ``resource.getrusage``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile_files  # noqa: E402

# VmHWM is this process's own peak; ru_maxrss would include the parent's peak before exec.
PEAK = """
def peak_mib():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
"""

PROBE = PEAK + """
import sys
kind, path = sys.argv[1], sys.argv[2]
try:
    if kind == "model":
        from mitbadak.files.modelfile import load_model
        load_model(path)
    else:
        from mitbadak.files.datasets.idx import read_idx
        read_idx(path)
    outcome = "loaded"
except BaseException as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:110]}"
print(peak_mib(), outcome)
"""

BASELINE = PEAK + (
    "import mitbadak.files.modelfile, mitbadak.files.datasets.idx\nprint(peak_mib(), 'imports')"
)


def measure(src: Path, kind: str, path: Path | None) -> str:
    env = {**os.environ, "PYTHONPATH": str(src)}
    args = [sys.executable, "-c", BASELINE] if path is None else [
        sys.executable, "-c", PROBE, kind, str(path)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    out = (done.stdout.strip() or done.stderr.strip().splitlines()[-1:] or ["?"])
    return out if isinstance(out, str) else out[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--size-mb", type=int, default=1024, help="bytes each bomb inflates to")
    args = parser.parse_args()
    n = args.size_mb << 20
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for kind in ("honest", "small-header", "lying-size"):
            path = hostile_files.model_bomb(Path(tmp) / f"{kind}.npz", kind, n)
            cases.append((f"npz {kind}", "model", path))
        path = hostile_files.idx_gz_bomb(Path(tmp) / "labels.gz", n)
        cases.append(("idx.gz past its header", "idx", path))
        print(f"src: {args.src}  bombs inflate to {args.size_mb} MiB")
        print(f"{'baseline':26s} {'-':>9s}  {measure(args.src, '', None)} MiB")
        for label, kind, path in cases:
            size = path.stat().st_size
            rss, _, outcome = measure(args.src, kind, path).partition(" ")
            print(f"{label:26s} {size / 1e6:7.2f}MB  peak {rss:>5s} MiB  {outcome}")


if __name__ == "__main__":
    main()
