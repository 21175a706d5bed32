"""2-D toy data sets generated from a seed, and 2-D point sets a user supplies.

A toy set is named by a short string that ``mitbadak train --dataset`` accepts:

* ``spiral`` (K arms, one class each), ``moons`` (two interleaved half circles), ``circles``
  (K concentric rings), ``xor`` (four Gaussian blobs, opposite corners share a class);
* options follow a colon: ``spiral:classes=5,noise=0.1,samples=600``.

The points come from ``np.random.default_rng([seed, 3])`` and are split into train and test sets
by a permutation from the same seed, so a name and a seed give the same arrays on every machine.
Coordinates lie roughly in [-1.5, 1.5]; ``noise`` is the standard deviation of the Gaussian
jitter added to each coordinate, in those units.

A point set (``dataset_from_points``) is a list of ``(x, y, label)``, e.g. clicked on a page; it
is validated (at most :data:`MAX_POINTS` points, finite coordinates, labels 0..9, at least two
classes) and can be stored as a CSV file that ``--dataset points.csv`` reads back.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mitbadak.core.atomic import atomic_write_text
from mitbadak.core.errors import DataError
from mitbadak.files.datasets import registry

__all__ = [
    "ToySpec",
    "ToyData",
    "TOY_DATASETS",
    "MAX_POINTS",
    "MAX_SAMPLES",
    "make_toy",
    "parse_toy_name",
    "is_toy_name",
    "load_toy",
    "dataset_from_points",
    "read_points_csv",
    "write_points_csv",
    "train_test_split",
    "TRAIN_DATASETS",
    "check_train_dataset",
    "load_generated",
    "class_count",
    "data_shape",
]

MAX_POINTS = 2000
"""The most points a user-supplied point set may hold."""
MAX_SAMPLES = 20_000
"""The most points a generated toy set may hold."""
MAX_CLASSES = 10
TEST_FRACTION = 0.2

Points = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ToySpec:
    """A generated 2-D data set: its name, defaults and the range of classes it allows."""

    name: str
    title: str
    classes: int  # default number of classes
    min_classes: int
    max_classes: int
    noise: float  # default jitter
    samples: int  # default number of points (train + test)
    generate: Callable[[np.random.Generator, list[int], float], Points]

    def to_dict(self) -> dict[str, object]:
        """The set's name, title and option ranges (what a form needs), JSON-ready."""
        return {
            "name": self.name,
            "title": self.title,
            "classes": self.classes,
            "min_classes": self.min_classes,
            "max_classes": self.max_classes,
            "noise": self.noise,
            "samples": self.samples,
            "max_samples": MAX_SAMPLES,
        }


@dataclass(frozen=True)
class ToyData:
    """A 2-D data set ready for training: (x, t) of train and test and the number of classes.

    ``as_run_data()`` gives the ``data=`` argument of :func:`mitbadak.training.runs.run_training`.
    """

    name: str
    train: Points
    test: Points
    n_classes: int

    def as_run_data(self) -> tuple[Points, Points, str]:
        return self.train, self.test, self.name


def _counts(n: int, k: int) -> list[int]:
    """n points shared out over k classes as evenly as possible (the first ones get the rest)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _labels(counts: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def _spiral(rng: np.random.Generator, counts: list[int], noise: float) -> Points:
    """Arm k: radius r in (0, 1], angle 2 pi k / K + 4 r (about two thirds of a turn)."""
    k_arms = len(counts)
    parts = []
    for k, n in enumerate(counts):
        r = np.linspace(0.05, 1.0, n) if n > 1 else np.array([0.5])
        theta = 2.0 * math.pi * k / k_arms + 4.0 * r
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    x = np.concatenate(parts) * 1.4
    return x + noise * rng.standard_normal(x.shape), _labels(counts)


def _moons(rng: np.random.Generator, counts: list[int], noise: float) -> Points:
    """Upper half circle (cos a, sin a) and the lower one (1 - cos a, 0.5 - sin a), centred."""
    a0 = rng.uniform(0.0, math.pi, counts[0])
    a1 = rng.uniform(0.0, math.pi, counts[1])
    upper = np.stack([np.cos(a0), np.sin(a0)], axis=1)
    lower = np.stack([1.0 - np.cos(a1), 0.5 - np.sin(a1)], axis=1)
    x = np.concatenate([upper, lower]) - np.array([0.5, 0.25])
    return x + noise * rng.standard_normal(x.shape), _labels(counts)


def _circles(rng: np.random.Generator, counts: list[int], noise: float) -> Points:
    """Ring k of K has radius 1.4 (k + 1) / K; angles uniform."""
    k_rings = len(counts)
    parts = []
    for k, n in enumerate(counts):
        a = rng.uniform(0.0, 2.0 * math.pi, n)
        radius = 1.4 * (k + 1) / k_rings
        parts.append(radius * np.stack([np.cos(a), np.sin(a)], axis=1))
    x = np.concatenate(parts)
    return x + noise * rng.standard_normal(x.shape), _labels(counts)


def _xor(rng: np.random.Generator, counts: list[int], noise: float) -> Points:
    """Blobs at (+-0.7, +-0.7): class 0 where x0 * x1 > 0, class 1 where x0 * x1 < 0.

    ``noise`` is the blobs' standard deviation.
    """
    corners = {0: np.array([[0.7, 0.7], [-0.7, -0.7]]), 1: np.array([[0.7, -0.7], [-0.7, 0.7]])}
    parts = []
    for k, n in enumerate(counts):
        which = np.arange(n) % 2  # alternate between the two corners of the class
        parts.append(corners[k][which])
    x = np.concatenate(parts)
    return x + noise * rng.standard_normal(x.shape), _labels(counts)


TOY_DATASETS: dict[str, ToySpec] = {
    spec.name: spec
    for spec in (
        ToySpec("spiral", "spiral with K arms", 3, 2, MAX_CLASSES, 0.05, 600, _spiral),
        ToySpec("moons", "two interleaved half moons", 2, 2, 2, 0.1, 400, _moons),
        ToySpec("circles", "K concentric rings", 2, 2, 6, 0.08, 400, _circles),
        ToySpec("xor", "XOR: four blobs, opposite corners share a class", 2, 2, 2, 0.25, 400, _xor),
    )
}
"""The generated 2-D data sets, by name."""


def make_toy(
    name: str,
    n_samples: int | None = None,
    *,
    classes: int | None = None,
    noise: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate toy set ``name``: x float64 (N, 2) and integer labels t (N,), in shuffled order.

    None takes the set's default. Raises ``ValueError`` naming the allowed range on bad options.
    """
    spec = _spec(name)
    n = spec.samples if n_samples is None else _int_option("samples", n_samples)
    k = spec.classes if classes is None else _int_option("classes", classes)
    sigma = spec.noise if noise is None else _float_option("noise", noise)
    if not spec.min_classes <= k <= spec.max_classes:
        allowed = (
            str(spec.min_classes)
            if spec.min_classes == spec.max_classes
            else f"{spec.min_classes} to {spec.max_classes}"
        )
        raise ValueError(f"{spec.name} takes {allowed} classes, got classes={k}")
    if not 2 * k <= n <= MAX_SAMPLES:
        raise ValueError(
            f"{spec.name} with {k} classes takes {2 * k} to {MAX_SAMPLES:,} samples, got {n}"
        )
    if not 0.0 <= sigma <= 1.0:
        raise ValueError(f"noise must be between 0 and 1, got {sigma}")
    rng = np.random.default_rng([_seed(seed), 3])
    x, t = spec.generate(rng, _counts(n, k), sigma)
    order = rng.permutation(n)
    return x[order], t[order].astype(np.int64)


def parse_toy_name(text: str) -> tuple[ToySpec, dict[str, int | float]]:
    """``'spiral:classes=5,noise=0.1'`` -> (the spiral spec, {'classes': 5, 'noise': 0.1}).

    Options: ``classes`` (int), ``noise`` (float), ``samples`` (int). Raises ``ValueError``.
    """
    base, _, rest = str(text).strip().partition(":")
    spec = _spec(base)
    options: dict[str, int | float] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or key not in ("classes", "noise", "samples"):
            raise ValueError(
                f"toy data set options are classes=K, noise=S and samples=N "
                f"(e.g. {spec.name}:classes=3,noise=0.1), got {item!r} in {text!r}"
            )
        options[key] = _float_option(key, value) if key == "noise" else _int_option(key, value)
    return spec, options


def is_toy_name(text: str) -> bool:
    """True when ``text`` names a toy set (with or without options), valid or not."""
    return str(text).strip().partition(":")[0].lower() in TOY_DATASETS


def load_toy(text: str, seed: int = 0, test_fraction: float = TEST_FRACTION) -> ToyData:
    """Generate the toy set ``text`` names (see :func:`parse_toy_name`) and split it by ``seed``.

    The last ``test_fraction`` of the shuffled points are the test set.
    """
    spec, options = parse_toy_name(text)
    n_classes = int(options.get("classes", spec.classes))
    x, t = make_toy(
        spec.name,
        options.get("samples"),
        classes=n_classes,
        noise=options.get("noise"),
        seed=seed,
    )
    n_test = _test_size(len(x), test_fraction)
    return ToyData(
        str(text).strip(), (x[:-n_test], t[:-n_test]), (x[-n_test:], t[-n_test:]), n_classes
    )


def dataset_from_points(
    points: Iterable[Sequence],
    *,
    seed: int = 0,
    test_fraction: float = TEST_FRACTION,
    name: str = "points",
    max_points: int = MAX_POINTS,
) -> ToyData:
    """A training set from user points ``[(x, y, label), ...]``, split into train/test by ``seed``.

    A point may also be ``{"x": ..., "y": ..., "label": ...}``.
    Checks: at most ``max_points`` points; each is three numbers; x and y finite; labels whole
    numbers 0..9; at least two classes. The number of classes is the highest label + 1. With
    fewer than 5 points all of them serve as both train and
    test set (a note for the learner: that test accuracy says nothing about generalisation).
    Raises :class:`DataError` naming the first bad point.
    """
    x, t = _validate_points(points, max_points)
    n_classes = int(t.max()) + 1
    if len(x) < 5:
        return ToyData(name, (x, t), (x.copy(), t.copy()), n_classes)
    train, test = train_test_split(x, t, test_fraction, seed)
    return ToyData(name, train, test, n_classes)


def write_points_csv(path: str | os.PathLike, points: Iterable[Sequence]) -> Path:
    """Validate ``points`` and write them atomically as CSV with the header ``x,y,label``."""
    x, t = _validate_points(points, MAX_POINTS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["x", "y", "label"])
    for (a, b), label in zip(x.tolist(), t.tolist(), strict=True):
        writer.writerow([repr(a), repr(b), label])
    return atomic_write_text(path, out.getvalue())


def read_points_csv(path: str | os.PathLike) -> list[tuple[float, float, int]]:
    """Read a CSV of points (header ``x,y,label``, or no header) as a list of (x, y, label).

    Raises :class:`DataError` for a missing or malformed file (the line is named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read point file {path}: {exc}") from None
    points = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if lineno == 1 and [c.strip().lower() for c in row] == ["x", "y", "label"]:
            continue
        if len(row) != 3:
            raise DataError(f"{path}, line {lineno}: expected x,y,label, got {','.join(row)!r}")
        try:
            points.append((float(row[0]), float(row[1]), _whole(row[2])))
        except ValueError:
            raise DataError(
                f"{path}, line {lineno}: expected two numbers and a class label, "
                f"got {','.join(row)!r}"
            ) from None
    return points


def train_test_split(
    x: np.ndarray, t: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = 0
) -> tuple[Points, Points]:
    """Shuffle (x, t) by ``seed`` and return ((x_train, t_train), (x_test, t_test))."""
    order = np.random.default_rng([_seed(seed), 4]).permutation(len(x))
    x, t = x[order], t[order]
    n_test = _test_size(len(x), test_fraction)
    return (x[:-n_test], t[:-n_test]), (x[-n_test:], t[-n_test:])


# --- the names ``mitbadak train --dataset`` accepts ------------------------------------------


TRAIN_DATASETS: tuple[str, ...] = (*registry.DATASETS, *TOY_DATASETS)
"""Every data set name training accepts; a toy name may carry options; a .csv is a point set."""


def check_train_dataset(text: str) -> str:
    """Return ``text`` if training can use it: a registry name, a toy set (options checked) or
    a point file ``*.csv`` (read when training starts). Raises ``ValueError`` otherwise."""
    text = str(text).strip()
    if text in registry.DATASETS:
        return text
    if is_toy_name(text):
        spec, options = parse_toy_name(text)
        samples = options.get("samples", 2 * spec.max_classes)  # a tiny draw checks the options
        make_toy(spec.name, samples, classes=options.get("classes"), noise=options.get("noise"))
        return text
    if text.lower().endswith(".csv"):
        return text
    raise ValueError(
        f"unknown dataset {text!r}; expected one of {', '.join(TRAIN_DATASETS)} "
        "(a toy set may take options, e.g. spiral:classes=5,noise=0.1), or a point file *.csv"
    )


def load_generated(text: str, seed: int = 0) -> ToyData | None:
    """The toy set or point file (``*.csv``) ``text`` names, split by ``seed``; None for the
    file-backed data sets of the registry (MNIST and friends)."""
    text = str(text).strip()
    if text in registry.DATASETS:
        return None
    if is_toy_name(text):
        return load_toy(text, seed)
    if text.lower().endswith(".csv"):
        return dataset_from_points(read_points_csv(text), seed=seed, name=text)
    return None


def data_shape(dataset: str | None) -> tuple[int, int]:
    """(input size, class count) of a network for ``dataset``, known before loading it.

    A registry dataset: the pixels of one image and its class list (None, the CLI's default, is
    MNIST's: the sample that stands in for it has the same shape). A toy set: 2 inputs and its
    ``classes``. A point file: 2 inputs and its highest label + 1, or :data:`MAX_CLASSES` while
    the file cannot be read (training will say why).
    """
    name = str(dataset or "mnist").strip()
    if name in registry.DATASETS:
        spec = registry.DATASETS[name]
        images = spec.split_files("train")[0]
        return int(np.prod(images.shape[1:])), len(spec.classes)
    if is_toy_name(name):
        return 2, class_count(name)
    if name.lower().endswith(".csv"):
        try:
            labels = [label for _x, _y, label in read_points_csv(name)]
        except (OSError, ValueError, DataError):
            return 2, MAX_CLASSES
        return 2, max(2, max(labels, default=1) + 1)
    return 2, MAX_CLASSES


def class_count(dataset: str | None, *labels: np.ndarray) -> int:
    """How many classes a network for ``dataset`` needs: the registry's class list, the toy
    set's ``classes``, or else the highest label in ``labels`` + 1 (at least 2)."""
    name = str(dataset or "").strip()
    if name in registry.DATASETS:
        return len(registry.DATASETS[name].classes)
    if is_toy_name(name):
        spec, options = parse_toy_name(name)
        return int(options.get("classes", spec.classes))
    for t in labels:
        if np.ndim(t) == 2:  # one-hot rows
            return int(np.shape(t)[1])
    highest = max((int(np.max(t)) for t in labels if np.size(t)), default=1)
    return max(2, highest + 1)


# --- internals -----------------------------------------------------------------------------


def _spec(name: str) -> ToySpec:
    key = str(name).strip().lower()
    if key not in TOY_DATASETS:
        known = ", ".join(TOY_DATASETS)
        raise ValueError(f"unknown toy data set {name!r}; expected one of {known}")
    return TOY_DATASETS[key]


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _int_option(key: str, value) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{key} must be a whole number, got {value!r}")
    return int(number)


def _float_option(key: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return number


def _test_size(n: int, test_fraction: float) -> int:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    return min(max(1, round(n * test_fraction)), n - 1)


def _whole(value) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def _validate_points(points: Iterable[Sequence], max_points: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(points, np.ndarray):
        points = points.tolist()
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise DataError(f"points must be a list of (x, y, label), got {type(points).__name__}")
    xs: list[tuple[float, float]] = []
    labels: list[int] = []
    for i, point in enumerate(points):
        if len(xs) >= max_points:
            raise DataError(f"too many points: at most {max_points:,} are allowed")
        if isinstance(point, Mapping) and set(point) == {"x", "y", "label"}:
            point = (point["x"], point["y"], point["label"])  # a JSON object per point
        if isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(point) != 3:
            raise DataError(f"point {i} must be (x, y, label), got {point!r}")
        a, b, label = point
        try:
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            raise DataError(f"point {i}: x and y must be numbers, got {point!r}") from None
        if not (math.isfinite(a) and math.isfinite(b)):
            raise DataError(f"point {i}: x and y must be finite, got {point!r}")
        if isinstance(label, bool):
            raise DataError(f"point {i}: the label must be a class number 0-9, got {label!r}")
        try:
            k = _whole(label)
        except (TypeError, ValueError):
            raise DataError(
                f"point {i}: the label must be a class number 0-9, got {label!r}"
            ) from None
        if not 0 <= k < MAX_CLASSES:
            raise DataError(f"point {i}: the label must be a class number 0-9, got {label!r}")
        xs.append((a, b))
        labels.append(k)
    if len(xs) < 2:
        raise DataError(f"a point set needs at least 2 points, got {len(xs)}")
    t = np.array(labels, dtype=np.int64)
    if len(np.unique(t)) < 2:
        raise DataError(f"a point set needs at least two classes, but every point is class {t[0]}")
    return np.array(xs, dtype=np.float64), t
