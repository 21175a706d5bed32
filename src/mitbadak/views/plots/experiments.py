"""Chapter 6's experiment figures, drawn from the data of :mod:`mitbadak.training.experiments`
(``data=None`` computes the default experiment first, so ``mitbadak plot NAME`` draws it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.views.plots._base import finish, new_figure, words

__all__ = ["optimizer_paths", "weight_init_histogram", "batchnorm_gradient_check"]

_KO_INIT = {"std=1": "표준편차 1", "std=0.01": "표준편차 0.01", "xavier": "Xavier", "he": "He"}


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
