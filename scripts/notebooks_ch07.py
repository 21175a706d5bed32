"""Chapter 7's notebook (합성곱 신경망), in the format of ``make_notebooks.py``: its title cell
and the cells after the shared setup cell. The book's trained SimpleConvNet (``params.pkl``) is
used where it is found (``../shared/data/ch07``, ``$MITBADAK_DATA``, the cache); elsewhere the
experiments train one briefly (a few seconds)."""

# ruff: noqa: E501  (Korean prose is wide; a bilingual «en|ko» phrase stays on one line)
from __future__ import annotations

TITLE = ("md", """
# Chapter 7 — Convolutional neural networks (7장 합성곱 신경망)

An image is not a list of 784 numbers: neighbouring pixels belong together. A **convolution
layer** slides small filters over the image and keeps its shape (channels, height, width); a
**pooling layer** keeps the largest value of each small window. This notebook computes both the
way the book does (with `im2col`), looks at what the book's trained **SimpleConvNet** learned
(its filters and what they respond to), measures its accuracy, and compares the speed of the
readable layers with mitbadak's fast path.

Train one yourself with `mitbadak train --model convnet` (the book's `train_convnet.py`: Adam,
learning rate 0.001, batch 100, 20 epochs).
""", """
# 7장 합성곱 신경망(CNN)

이미지는 숫자 784개를 늘어놓은 것이 아닙니다. 이웃한 픽셀끼리 의미가 있습니다. **합성곱 계층**은 작은
필터를 이미지 위로 밀며 계산하고 이미지의 형상(채널, 높이, 너비)을 유지합니다. **풀링 계층**은 작은
영역마다 가장 큰 값만 남깁니다. 이 노트북은 두 계층을 책처럼 `im2col`로 계산하고, 책에서 학습한
**SimpleConvNet**이 무엇을 배웠는지(필터와 필터가 반응하는 곳) 보고, 정확도를 재고, 읽기 쉬운 계층과
mitbadak의 빠른 경로의 속도를 비교합니다.

직접 학습하려면 `mitbadak train --model convnet`을 실행하세요(책의 `train_convnet.py`: Adam,
학습률 0.001, 배치 100, 20에폭).
""")

BODY = [
    ("md", """
## 7.4 im2col on a small example

A 3×3 filter over a 4×4 image (stride 1, no padding) visits 2×2 = 4 positions. `im2col` copies
each position's 3×3 window into one row; the convolution is then a single matrix product of those
rows with the filter flattened into a column.
""", """
## 7.4 작은 예로 보는 im2col

4×4 이미지 위에서 3×3 필터(스트라이드 1, 패딩 없음)는 2×2 = 4곳을 지납니다. `im2col`은 각 위치의
3×3 영역을 한 행으로 펼쳐 복사합니다. 그러면 합성곱은 이 행들과 한 열로 펼친 필터의 행렬 곱
한 번입니다.
"""),
    ("code", """
import matplotlib.pyplot as plt

from mitbadak.book.common.util import im2col

if LANG == "ko":  # «Korean labels need a Hangul font|한글 제목에는 한글 글꼴이 필요합니다»
    plt.rcParams["font.family"] = find_hangul_font()

x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)  # «one image, one channel, 4x4|이미지 1장, 채널 1개, 4x4»
col = im2col(x, 3, 3, stride=1, pad=0)
print("x:", x.shape, "-> col:", col.shape)
print(col)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2),
                                  gridspec_kw={"width_ratios": [1, 2.4]})
left.imshow(x[0, 0], cmap="Blues")
for (i, j), v in np.ndenumerate(x[0, 0]):
    left.text(j, i, f"{v:.0f}", ha="center", va="center")
left.add_patch(plt.Rectangle((-0.5, -0.5), 3, 3, fill=False, edgecolor="red", linewidth=2))
left.set_title("«input (the red window is row 0)|입력 (빨간 영역이 0번 행)»")
right.imshow(col, cmap="Blues", aspect="auto")
for (i, j), v in np.ndenumerate(col):
    right.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8)
right.set_title("«im2col: one row per window position|im2col: 영역 위치마다 한 행»")
for ax in (left, right):
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
"""),
    ("code", """
from mitbadak.nn.convolution import Convolution

rng = np.random.default_rng(0)
W = rng.normal(size=(1, 1, 3, 3))
by_product = (col @ W.reshape(1, -1).T).reshape(2, 2)
by_loops = np.array([[np.sum(x[0, 0, i:i + 3, j:j + 3] * W[0, 0]) for j in range(2)]
                     for i in range(2)])
by_layer = Convolution(W, np.zeros(1)).forward(x)[0, 0]
print("«one matrix product:|행렬 곱 한 번:»", by_product.ravel())
print("«four windows by hand:|영역 네 개를 직접:»", by_loops.ravel())
print("«largest difference:|가장 큰 차이:»", np.abs(by_product - by_loops).max(),
      np.abs(by_layer - by_loops).max())
"""),
    ("md", """
## 7.3 Pooling

Max pooling 2×2 with stride 2 keeps the largest value of each window: a 4×4 input becomes 2×2.
It has no parameters, keeps the number of channels, and does not move when the input shifts a
little.
""", """
## 7.3 풀링 계층

2×2 최대 풀링(스트라이드 2)은 각 영역에서 가장 큰 값만 남깁니다. 4×4 입력이 2×2가 됩니다. 학습할
매개변수가 없고, 채널 수가 변하지 않으며, 입력이 조금 움직여도 결과가 잘 변하지 않습니다.
"""),
    ("code", """
from mitbadak.nn.pooling import Pooling

print(Pooling(2, 2, stride=2).forward(x)[0, 0])  # «the largest of each 2x2 window|2x2 영역마다 최댓값»
"""),
    ("md", """
## 7.5 SimpleConvNet: the book's trained network

Convolution (30 filters of 5×5) → ReLU → pooling → Affine (100) → ReLU → Affine (10). The book
trained it for 20 epochs on MNIST and saved `params.pkl`; mitbadak reads that pickle without
running it. Its accuracy is measured on MNIST's test images where they are here (else the
packaged sample's).
""", """
## 7.5 SimpleConvNet: 책에서 학습한 신경망

합성곱(5×5 필터 30개) → ReLU → 풀링 → Affine(100) → ReLU → Affine(10)입니다. 책은 이 신경망을
MNIST로 20에폭 학습하고 `params.pkl`로 저장했습니다. mitbadak은 이 피클 파일을 실행하지 않고
읽습니다. 정확도는 MNIST 시험 이미지가 있으면 그것으로, 없으면 패키지에 든 샘플로 잽니다.
"""),
    ("code", """
from mitbadak.training import experiments as ex

test = ex.load_test_images(data_dir=SHARED / "mnist")
x_test, t_test = test["x_test"], test["t_test"]
print(test["used"])
weights = ex.optional_weights("params.pkl", SHARED)
if weights is None:
    print("«The book's params.pkl was not found: the figures below use a short run.|책의 params.pkl이 없어 아래 그림은 짧은 학습의 결과입니다.»")
    print("«Get it with: mitbadak data download book-convnets|받는 방법: mitbadak data download book-convnets»")
    sample = ex.load_experiment_data("mnist-sample")
    train_images = {"x_train": sample["x_train"], "t_train": sample["t_train"]}
else:
    net = mb.SimpleConvNet()
    net.load_params(str(weights))
    train_images = {}
    n = 1000
    acc = net.accuracy(x_test[:n].reshape(-1, 1, 28, 28), t_test[:n])
    print(f"«test accuracy of the book's SimpleConvNet|책의 SimpleConvNet 시험 정확도» "
          f"({n:,}« images|장»): {acc:.4f}")
"""),
    ("md", """
### The first layer's filters

Before training the 30 filters are noise (random weights of standard deviation 0.01). After
training they are small edge and blob detectors: dark and light stripes in one direction.
""", """
### 첫 번째 층의 필터

학습 전의 필터 30개는 잡음입니다(표준편차 0.01의 무작위 가중치). 학습 후에는 작은 에지(경계)와
블롭(덩어리) 검출기가 됩니다. 한 방향으로 어둡고 밝은 줄무늬가 보입니다.
"""),
    ("code", """
filters = ex.conv_filters(seed=0, weights=weights, x_test=x_test, t_test=t_test, **train_images)
print(filters["after_source"], "|", "«test accuracy|시험 정확도»", round(filters["test_acc"], 4))
plots.conv_filters(filters, lang=LANG)
"""),
    ("md", """
### Feature maps: what each filter responds to

Each filter convolved with a digit gives a **feature map**: dark where the image has the pattern
the filter looks for (a horizontal edge, a vertical one, ...). `mitbadak experiment apply-filter
--image FILE` does the same with your own picture.
""", """
### 특징 맵: 필터마다 반응하는 곳

필터를 숫자 이미지와 합성곱하면 **특징 맵**이 나옵니다. 필터가 찾는 무늬(가로 에지, 세로 에지 등)가
있는 곳이 진하게 나타납니다. `mitbadak experiment apply-filter --image 파일`로 직접 고른 사진에도
해 볼 수 있습니다.
"""),
    ("code", """
digit = x_test[0].reshape(28, 28)
maps = ex.apply_filter(image=digit, weights=weights, image_source=f"«test digit 0 (a|시험 이미지 0 (»{t_test[0]})",
                       **train_images)
print(maps["responses"].shape, "«= 16 feature maps of 24x24|= 24x24 특징 맵 16장»")
plots.apply_filter(maps, lang=LANG)
"""),
    ("md", """
## Speed: readable layers against the fast path

The layers compute the book's way (`im2col`, one matrix product, `col2im`). Training uses
mitbadak's fast path, tested to give the same numbers: images kept channels-last, pooling by
reshape, no gradient below the first layer. The table from `benchmarks/results/cnn.md` (one
thread) is shown when this notebook runs inside the repository, then a small live timing.
""", """
## 속도: 읽기 쉬운 계층과 빠른 경로

계층은 책의 방식(`im2col`, 행렬 곱 한 번, `col2im`)으로 계산합니다. 학습에는 같은 숫자를 내도록
테스트한 mitbadak의 빠른 경로를 씁니다(채널을 마지막 축에 두고, 풀링은 reshape으로, 첫 번째 층
아래로는 기울기를 구하지 않습니다). 저장소 안에서 실행하면 `benchmarks/results/cnn.md`의 표(스레드 1개)를
보여 주고, 이어서 작게 직접 재 봅니다.
"""),
    ("code", """
import time

from mitbadak.training.steps import choose_scores

table = next((d / "benchmarks" / "results" / "cnn.md" for d in Path.cwd().resolve().parents
              if (d / "benchmarks" / "results" / "cnn.md").is_file()), None)
if table is not None:
    text = table.read_text(encoding="utf-8")
    print(text[text.index("**SimpleConvNet: one forward"):text.index("**DeepConvNet: one")])

timed = mb.SimpleConvNet(seed=0)
batch = x_test[:100].reshape(-1, 1, 28, 28)
fast_scores = choose_scores(timed)


def best_of(f, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


layers_s = best_of(lambda: timed.predict(batch))
fast_s = best_of(lambda: fast_scores(batch))
print(f"«scores of 100 images|이미지 100장의 점수»: «layers|계층» {layers_s * 1000:.1f} ms, "
      f"«fast path|빠른 경로» {fast_s * 1000:.1f} ms")
print("«same numbers:|같은 결과:»", np.allclose(timed.predict(batch), fast_scores(batch)))
"""),
]
