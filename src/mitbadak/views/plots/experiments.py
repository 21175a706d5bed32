"""Chapter 6's experiment figures, drawn from the data of :mod:`mitbadak.training.experiments`
(``data=None`` computes the default experiment first, so ``mitbadak plot NAME`` draws it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.views.plots._base import finish, new_figure, words

__all__ = [
    "optimizer_paths",
    "optimizer_mnist",
    "weight_init_histogram",
    "weight_init_compare",
    "batchnorm",
    "overfit_weight_decay",
    "overfit_dropout",
    "batchnorm_gradient_check",
]

_KO_INIT = {"std=1": "표준편차 1", "std=0.01": "표준편차 0.01", "xavier": "Xavier", "he": "He"}
_EN_INIT = {"std=1": "std=1", "std=0.01": "std=0.01", "xavier": "Xavier", "he": "He"}
#: the optimizers' names as the book writes them
_OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov",
                     "adagrad": "AdaGrad", "adam": "Adam", "rmsprop": "RMSprop"}  # fmt: skip
_MARKERS = ("o", "x", "s", "D", "^", "v")


def _partial_note(data: dict[str, Any], w) -> str:
    return w(" (interrupted: partial)", " (중단됨: 일부 결과)") if data.get("partial") else ""


def _mnist_data() -> dict[str, Any]:
    from mitbadak.training.experiments import load_experiment_data

    d = load_experiment_data()
    return {k: d[k] for k in ("x_train", "t_train", "x_test", "t_test", "used")}


def _loss_curves(ax, curves: dict[str, tuple[str, list[float]]], w) -> None:
    """Smoothed loss per iteration, one line per entry, a marker every 1/10 of the run."""
    for i, (label, values) in enumerate(curves.values()):
        every = max(len(values) // 10, 1)
        ax.plot(np.arange(1, len(values) + 1), values, marker=_MARKERS[i % len(_MARKERS)],
                markevery=every, markersize=4, linewidth=1.2, label=label)  # fmt: skip
    ax.set_xlabel(w("iterations", "반복 횟수"))
    ax.set_ylabel(w("loss (smoothed)", "손실 함수 값 (평활화)"))
    ax.legend()



def optimizer_paths(data: dict[str, Any] | None = None, lang: str = "en"):
    """One panel per optimizer: its path on the contours of x²/20 + y² (the book's fig. 6-8)."""
    from mitbadak.training.experiments import optimizer_paths as compute
    from mitbadak.training.experiments import paths_function

    data = compute() if data is None else data
    w = words(lang)
    names = list(data["optimizers"])
    cols = 3
    rows = -(-len(names) // cols)
    fig = new_figure(4.0 * cols, 3.2 * rows)
    gx, gy = np.meshgrid(np.arange(-10, 10, 0.05), np.arange(-5, 5, 0.05))
    z = paths_function(gx, gy)
    z[z > 7] = 0  # as the book: the contour's levels stay near the valley
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        path = data["optimizers"][name]
        ax.contour(gx, gy, z, levels=12, linewidths=0.6, colors="grey")
        ax.plot(path["x"], path["y"], "o-", color="red", markersize=2.5, linewidth=1)
        ax.plot(0, 0, "+", color="black")
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
        ax.set_title(f"{name} (lr {path['lr']:g})")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.suptitle(w(f"f(x, y) = x²/20 + y² from (-7, 2), {data['steps']} steps",
                   f"f(x, y) = x²/20 + y², (-7, 2)에서 {data['steps']}번 갱신"))  # fmt: skip
    return finish(fig, w)


def weight_init_histogram(data: dict[str, Any] | None = None, lang: str = "en"):
    """A grid of activation histograms: one row per (activation, weight scale), one column per
    layer (the book's figures 6-10 to 6-14)."""
    from mitbadak.training.experiments import weight_init_histogram as compute

    data = compute() if data is None else data
    w = words(lang)
    cases = list(data["cases"].values())
    layers = data["layers"]
    fig = new_figure(2.2 * layers, 1.35 * len(cases))
    for r, case in enumerate(cases):
        edges = np.asarray(data["edges"][case["activation"]])
        counts = np.asarray(case["counts"])
        for i in range(layers):
            ax = fig.add_subplot(len(cases), layers, r * layers + i + 1)
            ax.bar(edges[:-1], counts[i], width=np.diff(edges), align="edge", color="#1f77b4")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if r == 0:
                ax.set_title(w(f"layer {i + 1}", f"{i + 1}층"), fontsize=8)
            if i == 0:
                init = case["init"] if not w.ko else _KO_INIT[case["init"]]
                ax.set_ylabel(f"{case['activation']}\n{init}", fontsize=7)
    fig.suptitle(w("Activation histograms (values outside the range counted in the end bins)",
                   "활성화값 분포 (범위 밖의 값은 양 끝 구간에 셈)"), fontsize=10)  # fmt: skip
    return finish(fig, w)


def batchnorm_gradient_check(data: dict[str, Any] | None = None, lang: str = "en"):
    """Two bar charts of backprop-vs-numerical differences per parameter (log scale): one image
    beside a batch, with the reason in the caption."""
    if data is None:
        from mitbadak.training.experiments import batchnorm_gradient_check as compute
        from mitbadak.training.experiments import load_check_images

        x, t, _ = load_check_images()
        data = compute(x, t)
    w = words(lang)
    fig = new_figure(11, 4.6)
    n = data["batch_size"]
    panels = (
        ("one", w("one image: mean |backprop - numerical|", "이미지 1장: 평균 |역전파 - 수치|")),
        ("batch", w(f"batch of {n}: relative difference", f"이미지 {n}장: 상대 오차")),
    )
    for k, (key, title) in enumerate(panels):
        if key not in data:  # an interrupted check
            continue
        ax = fig.add_subplot(1, 2, k + 1)
        names = list(data[key])
        field = "mean_abs_diff" if key == "one" else "relative"
        values = [max(data[key][n][field], 1e-18) for n in names]
        colors = ["#d62728" if v > 1e-6 else "#2ca02c" for v in values]
        ax.bar(names, values, color=colors)
        ax.set_yscale("log")
        ax.axhline(1e-6, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.text(0.5, 0.01, w(
        "One image: each BN layer's mean is its input, so every BN output is beta (0): nothing "
        "before BN moves the loss, and beta sits on ReLU's kink, where backprop takes slope 0 and "
        "the central difference 1/2.\nA batch: BN's output follows its input and no value sits "
        "on the kink, so every parameter agrees (dashed line: 1e-6).",
        "이미지 1장: 배치 평균이 입력 자신이라 배치 정규화의 출력은 모두 beta(0)입니다. 그 앞의 "
        "매개변수는 손실을 바꾸지 못하고, beta는 ReLU의 꺾인 점에 있어 역전파는 기울기 0,\n"
        "중앙 차분은 1/2을 얻습니다. 배치: 출력이 입력을 따르고 꺾인 점에 놓인 값이 없어 모든 "
        "매개변수가 일치합니다 (점선: 1e-6)."),
        ha="center", va="bottom", fontsize=8, wrap=True)  # fmt: skip
    fig.get_layout_engine().set(rect=(0, 0.12, 1, 0.88))
    return finish(fig, w)


def optimizer_mnist(data: dict[str, Any] | None = None, lang: str = "en"):
    """The smoothed training loss per iteration of each optimizer (the book's fig. 6-9)."""
    if data is None:
        from mitbadak.training.experiments import optimizer_mnist as compute

        data = compute(**_mnist_data())
    w = words(lang)
    fig = new_figure(7.5, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    lr = w("lr", "학습률")
    _loss_curves(ax, {k: (f"{_OPTIMIZER_LABELS.get(k, k)} ({lr} {v['lr']:g})", v["smoothed"])
                      for k, v in data["optimizers"].items()}, w)  # fmt: skip
    ax.set_ylim(0, 1)
    ax.set_title(w(f"Optimizers on MNIST: 784-100-100-100-100-10 (ReLU), batch "
                   f"{data['batch_size']}, {data['iterations']} iterations",
                   f"MNIST에서 최적화 기법 비교: 784-100-100-100-100-10 (ReLU), 배치 "
                   f"{data['batch_size']}, {data['iterations']}회 반복") + _partial_note(data, w),
                 fontsize=9)  # fmt: skip
    return finish(fig, w)


def weight_init_compare(data: dict[str, Any] | None = None, lang: str = "en"):
    """The smoothed training loss per iteration for each initial weight scale (the book's
    fig. 6-15)."""
    if data is None:
        from mitbadak.training.experiments import weight_init_compare as compute

        data = compute(**_mnist_data())
    w = words(lang)
    fig = new_figure(7.5, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    names = _KO_INIT if w.ko else _EN_INIT
    _loss_curves(ax, {k: (names.get(k, k), v["smoothed"]) for k, v in data["inits"].items()}, w)
    ax.set_ylim(0, 2.5)
    ax.set_title(w(f"Initial weights on MNIST: 4 hidden layers of 100 (ReLU), SGD lr 0.01, "
                   f"{data['iterations']} iterations",
                   f"MNIST에서 가중치 초깃값 비교: 은닉층 100×4 (ReLU), SGD 학습률 0.01, "
                   f"{data['iterations']}회 반복") + _partial_note(data, w),
                 fontsize=9)  # fmt: skip
    return finish(fig, w)


def batchnorm(data: dict[str, Any] | None = None, lang: str = "en"):
    """The book's 4×4 grid (fig. 6-19): one small plot per initial weight scale, training
    accuracy per epoch with Batch Normalization (solid) and without (dashed)."""
    if data is None:
        from mitbadak.training.experiments import batchnorm as compute

        data = compute(**_mnist_data())
    w = words(lang)
    scales = data["scales"]
    cols = 4
    rows = max(-(-len(scales) // cols), 1)
    fig = new_figure(10, 2.3 * rows + 0.6)
    cases = {round(c["scale"], 12): c for c in data["cases"]}
    for i, scale in enumerate(scales):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_title(f"W: {scale:.3g}", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_xlim(0, max(data["epochs"] - 1, 1))
        ax.tick_params(labelsize=7)
        case = cases.get(round(scale, 12))
        if case is not None:
            epochs = np.arange(len(case["bn_train_acc"]))
            ax.plot(epochs, case["bn_train_acc"], color="#1f77b4", linewidth=1.3,
                    label=w("Batch Normalization", "배치 정규화"))
            ax.plot(epochs, case["plain_train_acc"], color="#ff7f0e", linestyle="--",
                    linewidth=1.3, label=w("without BatchNorm", "배치 정규화 없음"))  # fmt: skip
        if i % cols == 0:
            ax.set_ylabel(w("accuracy", "정확도"), fontsize=8)
        if i >= len(scales) - cols:
            ax.set_xlabel(w("epochs", "에폭"), fontsize=8)
        if case is not None and not any(a.get_legend() for a in fig.axes):
            ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(w(f"Training accuracy by initial weight scale W ({data['train_size']:,} images, "
                   f"5 hidden layers of 100): with Batch Normalization (solid) and without "
                   f"(dashed)",
                   f"가중치 초깃값의 표준편차 W별 훈련 정확도 (이미지 {data['train_size']:,}장, "
                   f"은닉층 100×5): 배치 정규화 사용(실선)과 미사용(점선)")
                 + _partial_note(data, w), fontsize=9)  # fmt: skip
    return finish(fig, w)


def _train_test(ax, curves: dict[str, list[float]], title: str, epochs: int, w) -> None:
    for key, label, style in (("train_acc", w("train", "훈련 데이터"), "-"),
                              ("test_acc", w("test", "시험 데이터"), "--")):  # fmt: skip
        values = curves[key]
        ax.plot(np.arange(len(values)), values, linestyle=style, linewidth=1.3, label=label,
                marker="o" if key == "train_acc" else "s", markevery=max(epochs // 10, 1),
                markersize=4)  # fmt: skip
    ax.set_xlim(0, max(epochs - 1, 1))
    ax.set_ylim(0, 1.0)
    ax.set_xlabel(w("epochs", "에폭"))
    ax.set_ylabel(w("accuracy", "정확도"))
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right")


def _overfit(data: dict[str, Any], titles: tuple[str, str], suptitle: str, w):
    fig = new_figure(11, 4.4)
    _train_test(fig.add_subplot(1, 2, 1), data, titles[0], data["epochs"], w)
    if "baseline" in data:
        _train_test(fig.add_subplot(1, 2, 2), data["baseline"], titles[1], data["epochs"], w)
    fig.suptitle(suptitle + _partial_note(data, w), fontsize=10)
    return finish(fig, w)


def overfit_weight_decay(data: dict[str, Any] | None = None, lang: str = "en"):
    """Training and test accuracy per epoch with weight decay and without (the book's figs.
    6-20 and 6-21)."""
    if data is None:
        from mitbadak.training.experiments import overfit_weight_decay as compute

        data = compute(**_mnist_data())
    w = words(lang)
    lam = data["weight_decay"]
    n = data["train_size"]
    return _overfit(data, (w(f"weight decay λ = {lam:g}", f"가중치 감소 λ = {lam:g}"),
                           w("without weight decay (λ = 0)", "가중치 감소 없음 (λ = 0)")),
                    w(f"Overfitting: {n} training images, 6 hidden layers of 100",
                      f"오버피팅: 훈련 이미지 {n}장, 은닉층 100×6"), w)  # fmt: skip


def overfit_dropout(data: dict[str, Any] | None = None, lang: str = "en"):
    """Training and test accuracy per epoch with Dropout and without (the book's fig. 6-23)."""
    if data is None:
        from mitbadak.training.experiments import overfit_dropout as compute

        data = compute(**_mnist_data())
    w = words(lang)
    r = data["dropout_ratio"]
    n = data["train_size"]
    return _overfit(data, (w(f"Dropout (ratio {r:g})", f"드롭아웃 (비율 {r:g})"),
                           w("without Dropout", "드롭아웃 없음")),
                    w(f"Overfitting: {n} training images, 6 hidden layers of 100",
                      f"오버피팅: 훈련 이미지 {n}장, 은닉층 100×6"), w)  # fmt: skip
