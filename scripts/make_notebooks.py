"""Write the chapter notebooks in English (notebooks/) and Korean (notebooks/ko/), no outputs.

One source, two languages: every markdown cell below holds its English and its Korean text, and
every code cell is shared by both editions (the setup cell sets ``LANG``, which the plots use), so
the editions cannot drift apart; a phrase inside code (a printed label, a comment, a title) is
written «English|한국어» and each edition keeps its half. The notebooks are generated so that they
stay reviewable (this file is plain Python in a diff) and reproducible (fixed cell ids; no outputs,
so never stale)::

    python scripts/make_notebooks.py          # (re)write the notebooks
    python scripts/make_notebooks.py --check  # exit 1 if a stored notebook differs from this file
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))  # chapter modules beside this file
import notebooks_ch06  # noqa: E402

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
LANGUAGES = {"en": NOTEBOOKS_DIR, "ko": NOTEBOOKS_DIR / "ko"}

# Every notebook starts with the same setup cell; only the language differs between the editions.
# The shared data (the real MNIST test set, the book's weights) is looked for in a `shared/data`
# folder beside the repository, wherever the notebook runs from; $MITBADAK_SHARED_DATA names
# another folder instead (the tests point it at an empty one to see a user's fresh clone).
SETUP = """
%matplotlib inline
import os
from pathlib import Path

import numpy as np

import mitbadak as mb
from mitbadak.views import plots
from mitbadak.views.fonts import find_hangul_font

LANG = "«en|ko»"  # «lang»
if LANG == "ko" and find_hangul_font() is None:
    LANG = "en"
    print("«no_font»")
    print("«install_font»")
np.set_printoptions(precision=8, suppress=False)
# «shared»
SHARED = Path(os.environ.get("MITBADAK_SHARED_DATA") or next(
    (d / "shared" / "data" for d in Path.cwd().resolve().parents
     if (d / "shared" / "data").is_dir()),
    "shared-data-not-found",
))
print("mitbadak", mb.__version__, "/", "«shared data:|공유 데이터:»",
      "«found|있음»" if SHARED.is_dir() else "«absent|없음»")
"""

# Times a few ways of doing one thing, fairly on a busy machine (chapters 3 and 4 use it).
FASTEST_OF = """def fastest_of(repeats, *works):
    # «fastest»
    best = [float("inf")] * len(works)
    results = [None] * len(works)
    for _ in range(repeats):
        for k, work in enumerate(works):
            start = time.perf_counter()
            results[k] = work()
            best[k] = min(best[k], (time.perf_counter() - start) * 1000)
    return results, best
"""
FASTEST_OF_PHRASES = {
    "fastest": ("run the works in turn, `repeats` rounds; keep each one's fastest time (ms) and "
                "result",
                "works를 번갈아 repeats번 실행해, 각각 가장 짧은 시간(ms)과 결과를 남깁니다"),
}

SETUP_PHRASES = {
    "lang": ('the language of the figures: "en" or "ko"', '그림의 언어: "en" 또는 "ko"'),
    "no_font": ("No Hangul font was found, so the figures are drawn in English.",
                "한글 글꼴이 없어서 그림은 영어로 그립니다."),
    "install_font": ("To draw them in Korean, install one (e.g. sudo apt install fonts-nanum) "
                     "and restart the kernel.",
                     "한글로 그리려면 글꼴을 설치하고(예: sudo apt install fonts-nanum) "
                     "커널을 다시 시작하세요."),
    "shared": (
        "The real MNIST test set and the book's weights, if shared/data is beside the repository\n"
        "# ($MITBADAK_SHARED_DATA names another folder):",
        "저장소 옆에 shared/data 폴더가 있으면 실제 MNIST 시험 데이터와 책의 가중치를 씁니다\n"
        "# ($MITBADAK_SHARED_DATA로 다른 폴더를 정할 수도 있습니다):",
    ),
}

# A notebook is a list of cells: ("md", english, korean), ("code", source) or
# ("code", source, phrases) where phrases maps the «name»s in source to (English, 한국어).
CH03 = [
    ("md", """
# Chapter 3 — Neural networks (3장 신경망)

A neural network (신경망) turns an input into an output by passing signals forward through layers:
each layer multiplies by a weight matrix, adds a bias, and applies an **activation function**.
This notebook follows the chapter with `mitbadak`: activations, the three-layer example, the
output layer, and inference (추론) on handwritten digits (손글씨 숫자) with the book's trained
weights. Everything runs offline.
""", """
# 3장 신경망

신경망은 입력 신호를 층에서 층으로 전달해 출력을 만듭니다. 각 층은 가중치 행렬을 곱하고 편향을
더한 뒤 **활성화 함수**를 적용합니다. 이 노트북은 `mitbadak`으로 3장을 따라갑니다: 활성화
함수, 3층 신경망 예제, 출력층, 그리고 책의 학습된 가중치로 손글씨 숫자를 추론하기까지. 모두
인터넷 없이 실행됩니다.
"""),
    ("code", SETUP, SETUP_PHRASES),
    ("md", """
## Activation functions (활성화 함수)

The **step function (계단 함수)** outputs 1 when the input is positive and 0 otherwise — the
perceptron's rule. The **sigmoid function (시그모이드 함수)** h(x) = 1 / (1 + exp(−x)) is its
smooth version: it also squashes to [0, 1], but its slope is never zero, which is what learning
(chapter 4) needs. The **ReLU function (ReLU 함수)** passes positive inputs through and zeroes the
rest. All three work element-wise on NumPy arrays.
""", """
## 활성화 함수

**계단 함수**는 입력이 0을 넘으면 1, 그 외에는 0을 출력합니다(퍼셉트론의 규칙). **시그모이드
함수** h(x) = 1 / (1 + exp(−x))는 계단 함수를 매끄럽게 만든 함수입니다. 출력은 역시 0과 1
사이이지만 기울기가 0이 되는 곳이 없습니다. 4장의 학습에 꼭 필요한 성질입니다. **ReLU 함수**는
입력이 0을 넘으면 그대로, 0 이하이면 0을 출력합니다. 세 함수 모두 넘파이 배열의 원소마다
적용됩니다(브로드캐스트).
"""),
    ("code", """
x = np.array([-1.0, 1.0, 2.0])
print("«step   |계단    »", mb.step_function(x))
print("«sigmoid|시그모이드»", mb.sigmoid(x))
print("«relu   |ReLU    »", mb.relu(x))
"""),
    ("code", "plots.activations(lang=LANG)"),
    ("md", """
## Non-linear functions (비선형 함수)

Step and sigmoid share one more property, the important one: both are **non-linear functions
(비선형 함수)**. A network's activation function must be non-linear. With a linear one, say
h(x) = cx, a three-layer network computes y = h(h(h(x))) = c·c·c·x = c³x — which one layer with
the weight c³ does just as well: stacking layers gains nothing, there is no point in hidden
layers. The same holds for weight matrices: three linear layers X·W1·W2·W3 are one matrix
W1·W2·W3. A sigmoid between them breaks that collapse.
""", """
## 비선형 함수

계단 함수와 시그모이드 함수의 중요한 공통점이 하나 더 있습니다. 둘 다 **비선형 함수**라는
것입니다. 신경망의 활성화 함수로는 비선형 함수를 사용해야 합니다. 선형 함수 h(x) = cx를 쓰면 3층
신경망도 y = h(h(h(x))) = c·c·c·x = c³x, 즉 가중치가 c³인 층 하나와 똑같아집니다. 층을 깊게 쌓는
의미가 사라지는 것이지요(은닉층이 없는 신경망). 가중치 행렬도 마찬가지여서, 선형 층 세 개
X·W1·W2·W3은 행렬 하나 W1·W2·W3과 같습니다. 사이에 시그모이드 함수를 넣으면 이렇게 합쳐지지
않습니다.
"""),
    ("code", """
c = 2.0


def linear(v):
    return c * v


x = np.array([1.0, -2.0, 3.0])
print("h(h(h(x))) =", linear(linear(linear(x))), "= c**3 * x =", c**3 * x)

rng = np.random.default_rng(0)
W1, W2, W3 = (rng.standard_normal((3, 3)) for _ in range(3))
one_matrix = W1 @ W2 @ W3
print("«three linear layers == one matrix:|선형 층 세 개 == 행렬 하나:»",
      np.allclose(((x @ W1) @ W2) @ W3, x @ one_matrix))
print("«with sigmoid between them        :|사이에 시그모이드를 넣으면:»",
      np.allclose(mb.sigmoid(mb.sigmoid(x @ W1) @ W2) @ W3, x @ one_matrix))
"""),
    ("md", """
## Multidimensional arrays and the matrix product (다차원 배열, 행렬의 곱)

One layer of a network is one matrix product (행렬의 곱): with inputs `X` of shape (2,) and
weights `W` of shape (2, 3), `X @ W` has shape (3,) — the inner dimensions must agree.
""", """
## 다차원 배열의 계산, 행렬의 곱

신경망의 층 하나는 행렬의 곱 하나입니다. 형상이 (2,)인 입력 `X`와 (2, 3)인 가중치 `W`를 곱하면
`X @ W`의 형상은 (3,)입니다. 대응하는 차원의 원소 수가 같아야 합니다.
"""),
    ("code", """
X = np.array([1.0, 2.0])
W = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])
print(X.shape, W.shape, "->", (X @ W).shape, X @ W)
"""),
    ("md", """
## A three-layer network (3층 신경망)

`init_network()` holds the chapter's small weights (2 inputs → 3 → 2 → 2 outputs) and
`forward(network, x)` computes
y = identity(sigmoid(sigmoid(x·W1 + b1)·W2 + b2)·W3 + b3).
For x = [1.0, 0.5] the book prints [0.31682708, 0.69627909].
""", """
## 3층 신경망 구현하기

`init_network()`는 3장의 작은 가중치(입력 2개 → 3 → 2 → 출력 2개)를 담고, `forward(network, x)`는
y = 항등 함수(시그모이드(시그모이드(x·W1 + b1)·W2 + b2)·W3 + b3)를 계산합니다.
x = [1.0, 0.5]이면 책과 같이 [0.31682708, 0.69627909]가 나옵니다.
"""),
    ("code", """
network = mb.init_network()
for name, value in network.items():
    print(name, value.shape)
y = mb.forward(network, np.array([1.0, 0.5]))
print("y =", y)
np.testing.assert_allclose(y, [0.31682708, 0.69627909], rtol=1e-7)  # «the book's numbers|책의 값»
"""),
    ("md", """
## The output layer: identity and softmax (출력층: 항등 함수와 소프트맥스 함수)

Regression uses the **identity function (항등 함수)**; classification uses the
**softmax function (소프트맥스 함수)** y_k = exp(a_k) / Σ_i exp(a_i). Its outputs are positive,
sum to 1 and keep the order of the inputs, so they read as probabilities.
""", """
## 출력층 설계하기: 항등 함수와 소프트맥스 함수

회귀에는 **항등 함수**를, 분류에는 **소프트맥스 함수** y_k = exp(a_k) / Σ_i exp(a_i)를 씁니다.
소프트맥스 함수의 출력은 0에서 1.0 사이의 실수이고 총합이 1이며 입력의 대소 관계를 그대로
유지하므로, 확률로 해석할 수 있습니다.
"""),
    ("code", """
a = np.array([0.3, 2.9, 4.0])
y = mb.softmax(a)
print("softmax(a) =", y, "«sum =|총합 =»", y.sum())
"""),
    ("code", "plots.softmax(a, lang=LANG)"),
    ("md", """
Written straight from the formula, softmax **overflows (오버플로)**: exp(1010) is too large for
a float, so `[1010, 1000, 990]` gives `[nan nan nan]` (NumPy warns about it). Subtracting the
largest input C from every input changes nothing mathematically (the factor exp(−C) cancels) but
keeps every exp() at most 1. `mb.softmax` does exactly that.
""", """
소프트맥스 함수를 수식 그대로 구현하면 **오버플로** 문제가 생깁니다. exp(1010)은 실수로 표현할 수
없을 만큼 커서, `[1010, 1000, 990]`을 넣으면 `[nan nan nan]`이 나옵니다(넘파이가 경고도 냅니다).
입력 신호 중 최댓값 C를 모든 입력에서 빼도 결과는 수학적으로 같지만(exp(−C)가 분자와 분모에서
약분됩니다), exp()의 값은 1을 넘지 않게 됩니다. `mb.softmax`가 바로 이렇게 계산합니다.
"""),
    ("code", """
a = np.array([1010.0, 1000.0, 990.0])
print("«formula as written:|수식 그대로:»", np.exp(a) / np.sum(np.exp(a)))  # [nan nan nan]
c = np.max(a)
print("a - c =", a - c)
print("«minus the maximum: |최댓값을 빼면:»", np.exp(a - c) / np.sum(np.exp(a - c)))
print("mb.softmax(a) =     ", mb.softmax(a))
"""),
    ("md", """
## Handwritten digits: the MNIST data set (손글씨 숫자 인식, MNIST 데이터셋)

Images are 28×28 gray levels, flattened (평탄화) to 784 values and normalized (정규화) to [0, 1]
— the preprocessing (전처리) the book applies. We use the real MNIST test set when
`shared/data/mnist` is found beside the repository, and otherwise the sample of real MNIST that
ships inside the package (`mnist-sample`), so this works without internet.
""", """
## 손글씨 숫자 인식: MNIST 데이터셋

이미지는 28×28 크기의 회색조 이미지입니다. 책과 같이 원소 784개짜리 1차원 배열로 평탄화하고
0.0~1.0 사이로 정규화합니다(전처리). 저장소 옆에 `shared/data/mnist`가 있으면 실제 MNIST 시험
데이터를, 없으면 패키지에 들어 있는 MNIST의 표본(`mnist-sample`)을 쓰므로 인터넷 없이도 동작합니다.
"""),
    ("code", """
from mitbadak.files.datasets import load_split

if (SHARED / "mnist").is_dir():
    x_test, t_test = load_split("mnist", "test", data_dir=SHARED / "mnist", download=False)
    source = "«the real MNIST test set|실제 MNIST 시험 데이터»"
else:
    x_test, t_test = load_split("mnist-sample", "test")
    source = "«the packaged mnist-sample test split|패키지에 들어 있는 mnist-sample 시험 데이터»"
print(f"{source}: x_test {x_test.shape} {x_test.dtype}, [{x_test.min()}, {x_test.max()}], "
      f"«labels|정답 레이블» {t_test[:10]} ...")
"""),
    ("code", """
plots.samples(x_test, t_test, count=20,
              title={"en": "MNIST test images", "ko": "MNIST 시험 이미지"}[LANG], lang=LANG)
"""),
    ("md", """
## Inference with trained weights (학습된 매개변수로 추론하기)

The book ships `sample_weight.pkl`, a trained 784 → 50 → 100 → 10 sigmoid network.
`mb.find_book_weights()` looks for it in `shared/data` beside the repository, in `$MITBADAK_DATA`
and in the user cache, where `mitbadak data download book-weights` puts it. If it is in none of
them, the cell says so and how to get it; the cells that need it are skipped and the rest of the
notebook runs as usual.
""", """
## 신경망의 추론 처리: 학습된 매개변수 사용하기

책은 학습을 마친 784 → 50 → 100 → 10 시그모이드 신경망의 가중치 `sample_weight.pkl`을 제공합니다.
`mb.find_book_weights()`는 이 파일을 저장소 옆의 `shared/data`, `$MITBADAK_DATA`, 그리고 사용자
캐시(`mitbadak data download book-weights`로 받은 파일이 저장되는 곳)에서 찾습니다. 어디에도 없으면
파일이 없다는 것과 받는 방법을 알려 주고, 이 가중치가 필요한 셀만 건너뜁니다. 나머지 셀은 그대로
실행됩니다.
"""),
    ("code", """
from mitbadak.core.errors import DatasetUnavailable

try:
    weights_path = mb.find_book_weights(data_dir=SHARED if SHARED.is_dir() else None)
    print("«the book's weights:|책의 가중치:»", weights_path)
except DatasetUnavailable as exc:
    weights_path = None
    print("«not_found»")
    for folder in exc.searched:
        print("   ", folder)
    print("«Get them with:|받는 방법:»", "mitbadak data download book-weights")
    print("«skipped»")
""", {
        "not_found": ("The book's weights (sample_weight.pkl) are not in any of these folders:",
                      "책의 가중치 파일(sample_weight.pkl)이 다음 폴더 어디에도 없습니다:"),
        "skipped": ("Then run this notebook again; until then the cells that need them are "
                    "skipped.",
                    "받은 뒤 이 노트북을 다시 실행하세요. 그때까지 이 가중치가 필요한 셀은 "
                    "건너뜁니다."),
    }),
    ("md", """
First the book's way: load the weights as a dict of arrays, run `predict(network, x)` on one
image at a time, take the most likely digit with `np.argmax`, and count the right answers.
""", """
먼저 책의 방식입니다. 가중치를 배열의 딕셔너리로 읽고, 이미지를 한 장씩 `predict(network, x)`에
넣어 `np.argmax`로 확률이 가장 높은 숫자를 고른 뒤, 정답과 같은 것의 개수를 셉니다.
"""),
    ("code", """
if weights_path is not None:
    network = mb.load_book_weights(weights_path)  # «a dict of arrays|배열의 딕셔너리»
    correct = 0
    for i in range(len(x_test)):
        y = mb.predict(network, x_test[i])  # «ten probabilities|확률 10개»
        if np.argmax(y) == t_test[i]:
            correct += 1
    print("«Accuracy:|정확도:»" + str(correct / len(x_test)))
"""),
    ("md", """
The same network as a `mitbadak` model: `mb.import_book_weights` reads the file **without
executing pickle code** (a pickle can run arbitrary code; only NumPy arrays in a dict are
accepted). On the full test set its accuracy (정확도) is 0.9352, as in the book.
""", """
같은 신경망을 `mitbadak` 모델로 읽어 봅시다. `mb.import_book_weights`는 이 파일을 **피클 코드를
실행하지 않고** 읽습니다(피클은 임의의 코드를 실행할 수 있으므로, 넘파이 배열을 담은 딕셔너리만
받아들입니다). 시험 데이터 전체에 대한 정확도는 책과 같은 0.9352입니다.
"""),
    ("code", """
if weights_path is not None:
    book_net = mb.import_book_weights(weights_path)
    print(book_net)
    accuracy = book_net.accuracy(x_test, t_test)
    print(f"«accuracy on {len(x_test)} images:|이미지 {len(x_test)}장의 정확도:»",
          f"{accuracy:.4f}")
    if len(x_test) == 10_000:
        assert round(accuracy, 4) == 0.9352  # «the book's number|책의 값»
else:
    book_net = None
"""),
    ("md", """
What went wrong? The images the network misclassifies, with its predicted probability — many are
hard for people too. Its first layer's weights, drawn as 28×28 images, show the strokes each of
the 50 hidden units responds to (red: positive, blue: negative).
""", """
무엇을 틀렸을까요? 신경망이 잘못 분류한 이미지와 그 예측 확률입니다. 사람이 봐도 헷갈리는 것이
많습니다. 1층 가중치를 28×28 이미지로 그리면 은닉층 뉴런 50개가 각각 어떤 획에 반응하는지 보입니다
(빨강: 양수, 파랑: 음수).
"""),
    ("code", """
if book_net is not None:
    probs = book_net.predict_proba(x_test)
    display(plots.misclassified(x_test, t_test, probs.argmax(axis=1), probs, max_images=20,
                                lang=LANG))
    display(plots.weights(book_net.params["W1"], lang=LANG))
"""),
    ("md", """
## Batch processing (배치 처리)

Feeding 100 images at once turns 100 vector–matrix products into one matrix–matrix product:
X (100, 784) · W1 (784, 50) → (100, 50) → … → (100, 10). NumPy does that much faster than a Python
loop over single images, and the predictions are identical. Timings on a busy machine jump around,
so each way is timed several times, alternating, and the **fastest** run of each is compared: load
can only slow a run down, never speed it up, so the fastest run is the closest to each method's
real speed and a burst of load cannot flip the comparison. (Without the book's weights we use an
untrained network of the same shape: the shapes and the speed-up are the point here.)
""", """
## 배치 처리

이미지 100장을 한꺼번에 넣으면 벡터와 행렬의 곱 100번이 행렬과 행렬의 곱 한 번이 됩니다:
X (100, 784) · W1 (784, 50) → (100, 50) → … → (100, 10). 넘파이는 이것을 이미지를 한 장씩 도는
파이썬 반복문보다 훨씬 빨리 계산하고, 예측 결과는 똑같습니다. 다른 작업으로 바쁜 컴퓨터에서는
실행 시간이 들쭉날쭉하므로, 두 방법을 번갈아 여러 번 실행해 각각 **가장 짧은** 시간을 비교합니다.
다른 작업은 실행을 늦출 수만 있고 앞당기지는 못하므로, 가장 짧은 시간이 각 방법의 실제 속도에 가장
가깝습니다. 그래서 순간적인 부하 때문에 비교 결과가 뒤집히는 일이 없습니다. (책의 가중치가 없으면
형상이 같은, 학습하지 않은 신경망을 씁니다. 여기서 중요한 것은 형상과 속도 차이입니다.)
"""),
    ("code", """
import time

net = book_net if book_net is not None else mb.MultiLayerNet(
    784, [50, 100], 10, activation="sigmoid", seed=0)
batch = x_test[:1000]


def one_at_a_time():
    return np.array([net.predict(image).argmax() for image in batch])


def in_batches_of_100():
    return np.concatenate(
        [net.predict(batch[i:i + 100]).argmax(axis=1) for i in range(0, len(batch), 100)])


""" + FASTEST_OF + """

(loop_labels, batch_labels), (loop_ms, batch_ms) = fastest_of(7, one_at_a_time, in_batches_of_100)
print("«shapes:|형상:»", batch[:100].shape, "->", net.predict(batch[:100]).shape)
print("«same predictions:|예측 결과 일치:»", np.array_equal(loop_labels, batch_labels))
print(f"«timing»")
""", {
        "timing": ("1000 images one at a time: {loop_ms:.1f} ms; in batches of 100: "
                   '{batch_ms:.1f} ms "\n      f"(fastest of 7 each): batches are '
                   "{loop_ms / batch_ms:.0f}x faster",
                   "이미지 1000장을 한 장씩: {loop_ms:.1f} ms, 100장씩 배치로: "
                   '{batch_ms:.1f} ms"\n      f"(각각 7번 중 가장 빠른 값). 배치가 '
                   "{loop_ms / batch_ms:.0f}배 빠릅니다"),
        **FASTEST_OF_PHRASES,
    }),
]

CH04 = [
    ("md", """
# Chapter 4 — Training neural networks (4장 신경망 학습)

Learning (학습) means finding the weights that make a **loss function** small. This chapter does
it with the most direct tool: **numerical differentiation** — nudge a number, watch the loss.
We follow it with `mitbadak` and finish by training a two-layer network on real handwritten digits
with numerical gradients, exactly the chapter's algorithm (fast enough thanks to a vectorized
central difference).
""", """
# 4장 신경망 학습

학습이란 **손실 함수**의 값을 가장 작게 만드는 가중치 매개변수를 찾는 것입니다. 4장은 가장
직접적인 도구인 **수치 미분**으로 이것을 합니다. 값을 조금 움직여 보고 손실이 어떻게 변하는지
보는 것이지요. `mitbadak`으로 4장을 따라가고, 마지막에는 실제 손글씨 숫자로 2층 신경망을 수치
미분 기울기로 학습시킵니다. 책의 알고리즘 그대로이며, 중심 차분을 벡터화해서 충분히 빠릅니다.
"""),
    ("code", SETUP, SETUP_PHRASES),
    ("md", """
## Loss functions (손실 함수)

With one-hot labels (원-핫 인코딩) t, the **sum of squares error (오차제곱합)** is
E = ½ Σ_k (y_k − t_k)² and the **cross-entropy error (교차 엔트로피 오차)** is
E = −Σ_k t_k log y_k (with a tiny δ inside the log so that log 0 never happens).
Both are small when the network puts its probability on the right class ("2" here) and large
when it prefers a wrong one ("7"). Printed in full, the numbers are the book's to the last digit,
rounding included: 0.09750000000000003, not 0.0975.
""", """
## 손실 함수

원-핫 인코딩된 정답 레이블 t에 대해 **오차제곱합**은 E = ½ Σ_k (y_k − t_k)², **교차 엔트로피
오차**는 E = −Σ_k t_k log y_k입니다(log 0이 되지 않도록 아주 작은 값 δ를 더합니다). 둘 다 신경망이
정답("2")에 높은 확률을 주면 작고, 오답("7")을 고르면 커집니다. 모든 자릿수를 출력하면 부동소수점
오차까지 책과 똑같습니다. 0.0975가 아니라 0.09750000000000003입니다.
"""),
    ("code", """
t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])  # «the answer is 2 (one-hot)|정답은 2(원-핫 인코딩)»
# «'2' is the most likely|'2'일 확률이 가장 높다고 추정»
y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
print(mb.sum_squares_error(y, t), mb.cross_entropy_error(y, t))
# «'7' is the most likely|'7'일 확률이 가장 높다고 추정»
y = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
print(mb.sum_squares_error(y, t), mb.cross_entropy_error(y, t))
"""),
    ("md", """
## Mini-batch learning (미니배치 학습)

Computing the loss over all training images at every step is slow; instead each step uses a
random **mini-batch (미니배치)** and the loss is averaged over it: E = −(1/N) Σ_n Σ_k t_nk log y_nk.
`np.random.choice(train_size, batch_size)` picks the batch's image numbers. The cross-entropy
accepts one sample or a batch, with one-hot or integer labels: for two samples the batch loss is
the mean of the two losses, 1.361741586147387 either way.
""", """
## 미니배치 학습

매번 훈련 데이터 전체의 손실을 계산하면 너무 느립니다. 그래서 훈련 데이터에서 무작위로 일부를
뽑아 **미니배치**를 만들고, 그 손실의 평균 E = −(1/N) Σ_n Σ_k t_nk log y_nk를 씁니다.
`np.random.choice(train_size, batch_size)`가 미니배치로 쓸 이미지의 번호를 고릅니다. 교차 엔트로피
오차는 데이터 하나도, 배치도 받고, 정답 레이블은 원-핫 인코딩이어도 숫자 레이블이어도 됩니다.
데이터 두 개의 배치 손실은 두 손실의 평균이고, 어느 쪽이든 1.361741586147387입니다.
"""),
    ("code", """
from mitbadak.files.datasets import load_mnist

(x_train, t_train), (x_test, t_test) = load_mnist(name="mnist-sample")
print("«train|훈련»", x_train.shape, "«test|시험»", x_test.shape)

np.random.seed(0)  # «the same 'random' batch every run|실행할 때마다 같은 '무작위' 배치»
train_size = x_train.shape[0]
batch_size = 10
batch_mask = np.random.choice(train_size, batch_size)
x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
print("batch_mask", batch_mask, "->", x_batch.shape, t_batch)
"""),
    ("code", """
y_1 = np.array([0.19632642, 0.44743231, 0.35624127])
y_2 = np.array([0.32645762, 0.33436991, 0.33917247])
e_1 = mb.cross_entropy_error(y_1, np.array([1, 0, 0]))  # «one-hot label|원-핫 레이블»
e_2 = mb.cross_entropy_error(y_2, np.array(1))  # «integer label|숫자 레이블»
print("e_1 =", e_1, " e_2 =", e_2, " (e_1 + e_2) / 2 =", (e_1 + e_2) / 2)

y_batch = np.array([y_1, y_2])
t_one_hot = np.array([[1, 0, 0], [0, 1, 0]])
print("«batch, one-hot:|배치, 원-핫:»", mb.cross_entropy_error(y_batch, t_one_hot))
print("«batch, integer:|배치, 숫자:»", mb.cross_entropy_error(y_batch, np.array([0, 1])))
"""),
    ("md", """
## Numerical differentiation (수치 미분)

The derivative (미분) is the slope at a point. `numerical_diff(f, x)` uses the
**central difference (중심 차분)** (f(x+h) − f(x−h)) / 2h with h = 1e-4: small enough for a good
slope, large enough to avoid rounding error (반올림 오차). For f(x) = 0.01x² + 0.1x the exact
derivatives at 5 and 10 are 0.2 and 0.3; the numerical ones differ only in the 12th digit.
The **tangent line (접선)** through each point has that slope.
""", """
## 수치 미분

미분은 한 점에서의 기울기입니다. `numerical_diff(f, x)`는 h = 1e-4로 **중심 차분**
(f(x+h) − f(x−h)) / 2h를 계산합니다. h는 기울기를 잘 근사할 만큼 작고, 반올림 오차가 생기지 않을
만큼 큽니다. f(x) = 0.01x² + 0.1x의 x = 5, 10에서 해석적으로 구한 미분값은 0.2와 0.3이고, 수치
미분 값은 소수 열두째 자리쯤에서야 다릅니다. 각 점을 지나는 **접선**의 기울기가 바로 그 값입니다.
"""),
    ("code", """
def function_1(x):
    return 0.01 * x**2 + 0.1 * x

print(mb.numerical_diff(function_1, 5), mb.numerical_diff(function_1, 10))
"""),
    ("code", "plots.tangent(lang=LANG)"),
    ("md", """
Why not simply (f(x+h) − f(x)) / h with the smallest h possible? Two reasons. A tiny h is lost to
**rounding error (반올림 오차)**: in float32, 1e-50 is 0.0. And that
**forward difference (전방 차분)** is the slope between x and x+h, not at x: its error shrinks like
h, while the central difference's shrinks like h². With the same h = 1e-4 the forward difference
is off by 1e-6, the central one by 1e-12.
""", """
그냥 (f(x+h) − f(x)) / h에 h를 최대한 작게 넣으면 안 될까요? 두 가지 문제가 있습니다. 너무 작은 h는
**반올림 오차** 때문에 사라집니다. float32에서 1e-50은 0.0이 됩니다. 또 이 **전방 차분**은 x에서의
기울기가 아니라 x와 x+h 사이의 기울기입니다. 오차가 h에 비례해 줄어드는 반면, 중심 차분의 오차는
h²에 비례해 줄어듭니다. 같은 h = 1e-4에서 전방 차분은 1e-6 정도, 중심 차분은 1e-12 정도 어긋납니다.
"""),
    ("code", """
print(np.float32(1e-50))  # «too small: rounded to 0|너무 작아서 0으로 반올림됩니다»


def forward_diff(f, x, h=1e-4):  # «the forward difference|전방 차분»
    return (f(x + h) - f(x)) / h


for x in (5, 10):
    print(f"x = {x}: «forward|전방 차분» {forward_diff(function_1, x)!r}, "
          f"«central|중심 차분» {mb.numerical_diff(function_1, x)!r}")
"""),
    ("md", """
## Partial derivatives and the gradient (편미분과 기울기)

For f(x0, x1) = x0² + x1², the **partial derivatives (편미분)** ∂f/∂x0 and ∂f/∂x1 together form
the **gradient (기울기)** ∇f. A partial derivative is a one-variable derivative with the other
variables held fixed: at (3, 4), ∂f/∂x0 is the derivative of x0² + 4² at x0 = 3, about 6.
`numerical_gradient(f, x)` computes all of them, one element at a time.
At (3, 4) it is (6, 8); at (0, 2), (0, 4); at (3, 0), (6, 0).
""", """
## 편미분과 기울기

f(x0, x1) = x0² + x1²에서 **편미분** ∂f/∂x0와 ∂f/∂x1을 벡터로 정리한 것이 **기울기** ∇f입니다.
편미분은 나머지 변수를 상수로 고정하고 한 변수로만 미분하는 것입니다. (3, 4)에서 ∂f/∂x0는
x0² + 4²을 x0 = 3에서 미분한 값으로, 약 6입니다. `numerical_gradient(f, x)`는 원소를 하나씩 움직여
기울기를 구합니다. (3, 4)에서는 (6, 8), (0, 2)에서는 (0, 4), (3, 0)에서는 (6, 0)입니다.
"""),
    ("code", """
print(mb.numerical_diff(lambda x0: x0**2 + 4.0**2, 3.0))  # ∂f/∂x0 «at|,» (3, 4)
print(mb.numerical_diff(lambda x1: 3.0**2 + x1**2, 4.0))  # ∂f/∂x1 «at|,» (3, 4)


def function_2(x):
    return float(np.sum(x**2))


for point in ([3.0, 4.0], [0.0, 2.0], [3.0, 0.0]):
    print(point, "->", mb.numerical_gradient(function_2, np.array(point)))
"""),
    ("code", "plots.surface(lang=LANG)"),
    ("md", """
Drawn as arrows, the negative gradient −∇f points downhill, toward the minimum at (0, 0), and is
longer where the surface is steeper. Each arrow below is one call to `numerical_gradient`.
""", """
기울기에 마이너스를 붙인 벡터 −∇f를 화살표로 그리면, 함수의 출력값을 가장 크게 줄이는 방향, 즉
최솟값 (0, 0)을 가리키고 경사가 가파를수록 깁니다. 아래 화살표 하나하나가 `numerical_gradient`
호출 한 번입니다.
"""),
    ("code", "plots.gradient_field(lang=LANG)"),
    ("md", """
## Gradient descent (경사 하강법)

Step against the gradient, again and again: x ← x − η ∇f(x). η is the **learning rate (학습률)**.
From (−3, 4), 100 steps at the default η = 0.01 get only part of the way, to [−0.3979, 0.5305];
at η = 0.1 they land next to (0, 0).
""", """
## 경사법(경사 하강법)

기울기의 반대 방향으로 조금씩, 계속 이동합니다: x ← x − η ∇f(x). η(에타)가 **학습률**입니다.
(−3, 4)에서 시작해 기본값 η = 0.01로 100번 갱신하면 [−0.3979, 0.5305]까지만 가고, η = 0.1이면
(0, 0) 바로 옆에 도착합니다.
"""),
    ("code", """
init_x = np.array([-3.0, 4.0])
print("lr = 0.01:", mb.gradient_descent(function_2, init_x=init_x))  # «the defaults|기본값»
print("lr = 0.1: ", mb.gradient_descent(function_2, init_x=init_x, lr=0.1, step_num=100))
"""),
    ("code", "plots.descent(lang=LANG)"),
    ("md", """
## The learning rate is a hyperparameter (학습률, 하이퍼파라미터)

Hyperparameters (하이퍼파라미터) are set by people, not learned. Too large a learning rate
diverges (발산): with η = 10 the point leaps further out at every step, until the numbers are so
large (~1e13) that x ± h rounds to x and the numerical gradient becomes exactly 0 — the book's
`[-2.58983747e+13, -1.29524862e+12]`. Too small (η = 1e-10) and it barely moves.
""", """
## 학습률은 하이퍼파라미터

하이퍼파라미터는 사람이 직접 정하는 값입니다. 학습률이 너무 크면 발산합니다. η = 10이면 점이 매번
더 멀리 튀어 나가다가, 값이 1e13 정도로 커지면 x ± h가 x로 반올림되어 수치 미분 기울기가 정확히
0이 됩니다. 책의 `[-2.58983747e+13, -1.29524862e+12]`가 그것입니다. 너무 작으면(η = 1e-10) 거의
갱신되지 않은 채로 끝납니다.
"""),
    ("code", """
for lr in (10.0, 1e-10):
    x_final = mb.gradient_descent(function_2, np.array([-3.0, 4.0]), lr=lr, step_num=100)
    print(f"lr = {lr:g}:", x_final)
"""),
    ("code", "plots.learning_rates(lang=LANG)"),
    ("md", """
## The gradient of a neural network (신경망에서의 기울기)

`SimpleNet` has one 2×3 weight matrix W. Its loss is cross_entropy(softmax(x·W), t), and the
gradient ∂L/∂W has W's shape: each entry says how the loss changes when that weight is nudged.
With the book's W (fixed here instead of random), x = [0.6, 0.9] and the label 2, the loss is
0.928 and ∂L/∂W is [[0.219, 0.144, −0.363], [0.329, 0.215, −0.544]].
""", """
## 신경망에서의 기울기

`SimpleNet`은 2×3 가중치 행렬 W 하나를 갖습니다. 손실은 cross_entropy(softmax(x·W), t)이고,
가중치 매개변수에 대한 손실 함수의 기울기 ∂L/∂W는 W와 형상이 같습니다. 각 원소는 그 가중치를 조금
움직일 때 손실이 얼마나 변하는지를 나타냅니다. 책의 W(여기서는 무작위 대신 고정), x = [0.6, 0.9],
정답 2로 계산하면 손실은 0.928, ∂L/∂W는 [[0.219, 0.144, −0.363], [0.329, 0.215, −0.544]]입니다.
"""),
    ("code", """
net = mb.SimpleNet(W=[[0.47355232, 0.9977393, 0.84668094],
                      [0.85557411, 0.03563661, 0.69422093]])
x = np.array([0.6, 0.9])
t = np.array([0, 0, 1])
p = net.predict(x)
print("«scores|점수»", p, "«-> predicted class|-> 예측한 클래스»", np.argmax(p))
print("«loss|손실»", net.loss(x, t))
print("dL/dW\\n", net.numerical_gradient(x, t)["W"])
"""),
    ("md", """
One step of learning: move W against its gradient, W ← W − 0.1·∂L/∂W, and the loss goes down.
Starting from a random W (here one that a run of the book's code drew), the loss falls from 1.6019
to 1.4618.
""", """
이제 가중치를 한 번 갱신해 봅시다. W를 기울기의 반대 방향으로 옮기면(W ← W − 0.1·∂L/∂W) 손실이
줄어듭니다. 무작위로 뽑은 W(여기서는 책의 코드를 실행했을 때 나온 값)에서 시작하면 손실이
1.6019에서 1.4618로 내려갑니다.
"""),
    ("code", """
net = mb.SimpleNet(W=[[-1.88592905, 0.433029, -0.8528666],
                      [-2.5660367, -0.70119347, -1.32334046]])
print("«loss before:|갱신 전 손실:»", round(net.loss(x, t), 4))
dW = net.numerical_gradient(x, t)["W"]
net.W -= 0.1 * dW  # «one step of gradient descent, lr = 0.1|경사 하강법 한 번, 학습률 0.1»
print("«updated W|갱신한 W»\\n", net.W)
print("«loss after: |갱신 후 손실:»", round(net.loss(x, t), 4))
"""),
    ("md", """
## The learning algorithm: a two-layer network (학습 알고리즘 구현하기: 2층 신경망)

`TwoLayerNet(784, 50, 10)` is Affine → sigmoid → Affine → softmax, with weights drawn from
0.01·N(0, 1) as in the book. Its `numerical_gradient` computes ∂L/∂param for all 39,760
parameters by central differences. Chapter 5 computes the same gradient by backpropagation
(`net.gradient`) — on a tiny batch they agree to about 1e-10. Each way is timed warm (after a
first call), several times, keeping the fastest: backpropagation is many times faster even than
the batched numerical gradient.
""", """
## 학습 알고리즘 구현하기: 2층 신경망 클래스

`TwoLayerNet(784, 50, 10)`은 Affine → 시그모이드 → Affine → 소프트맥스이고, 책처럼 가중치를
0.01·N(0, 1)에서 뽑습니다. `numerical_gradient`는 매개변수 39,760개 모두의 ∂L/∂param을 중심
차분으로 구합니다. 5장은 같은 기울기를 오차역전파법(`net.gradient`)으로 구하는데, 작은 배치에서
둘은 1e-10 정도까지 일치합니다. 두 방법 모두 한 번 호출해 준비를 마친 뒤 여러 번 재서 가장 빠른
시간을 비교합니다. 한꺼번에 계산하는 수치 미분보다도 오차역전파법이 몇 배나 빠릅니다.
"""),
    ("code", """
import time

net = mb.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float64)
x_batch, t_batch = x_train[:3].astype(np.float64), t_train[:3]


def by_numerical_differentiation():
    # «method_fast»
    # «method_reference»
    return net.numerical_gradient(x_batch, t_batch, method="fast")


def by_backprop():
    return net.gradient(x_batch, t_batch)


""" + FASTEST_OF + """

by_numerical_differentiation(), by_backprop()  # «warm_up»
(numerical, backprop), (numerical_ms, backprop_ms) = fastest_of(
    5, by_numerical_differentiation, by_backprop)
for name in net.params:
    diff = np.max(np.abs(numerical[name] - backprop[name]))
    print(f"{name:3s} {str(numerical[name].shape):10s} max |numerical - backprop| = {diff:.2e}")
print(f"«timing»")
""", {
        "method_fast": ('method="fast": the central differences, batched: the same numbers '
                        "(to ~1e-12)",
                        'method="fast": 중심 차분을 한꺼번에 계산합니다. 값은 같고'
                        "(1e-12 정도까지)"),
        "method_reference": ('in milliseconds; method="reference", the book\'s loop, takes seconds',
                             '몇 ms면 끝납니다. 책의 반복문인 method="reference"는 몇 초 걸립니다'),
        "warm_up": ("warm up: the first calls pay for setting things up",
                    "첫 호출은 준비 시간이 더 걸리므로 미리 한 번씩 실행합니다"),
        "timing": ("numerical (method='fast') {numerical_ms:.2f} ms, backprop "
                   '{backprop_ms:.3f} ms "\n      f"(fastest of 5 each, warm): backprop is '
                   "{numerical_ms / backprop_ms:.0f}x faster",
                   "수치 미분(method='fast') {numerical_ms:.2f} ms, 오차역전파법 "
                   '{backprop_ms:.3f} ms"\n      f"(각각 5번 중 가장 빠른 값): 오차역전파법이 '
                   "{numerical_ms / backprop_ms:.0f}배 빠릅니다"),
        **FASTEST_OF_PHRASES,
    }),
    ("md", """
Now the chapter's training loop: **stochastic gradient descent (확률적 경사 하강법, SGD)**. The book
writes it by hand: pick a mini-batch with `np.random.choice`, compute the gradient, move every
parameter against it (η = 0.1), record the loss; repeat. Ten iterations here, with the batched
numerical gradient (the book's one-at-a-time loop, `method="reference"`, takes about 20 s per
iteration at this size). After so few steps the loss has barely left log 10 ≈ 2.30 and the
accuracy is still near chance, as in the book's first iterations.
""", """
이제 4장의 학습 루프, **확률적 경사 하강법**(SGD)입니다. 책에서는 이 루프를 직접 작성합니다.
`np.random.choice`로 미니배치를 고르고, 기울기를 구하고, 모든 매개변수를 기울기의 반대 방향으로
갱신(η = 0.1)한 뒤 손실을 기록하는 과정을 반복합니다. 여기서는 한꺼번에 계산하는 수치 미분으로
10번 반복합니다(책처럼 원소를 하나씩 움직이는 `method="reference"`는 이 크기에서 한 번 반복하는 데
20초쯤 걸립니다). 이 정도 반복으로는 손실이 log 10 ≈ 2.30에서 거의 내려가지 않고, 정확도도
무작위로 고르는 수준(0.1 안팎)에 머뭅니다. 책의 처음 몇 번 반복과 같습니다.
"""),
    ("code", """
np.random.seed(0)  # «the same mini-batches every run|실행할 때마다 같은 미니배치»
network = mb.TwoLayerNet(784, 50, 10, seed=0)
iters_num, batch_size, learning_rate = 10, 100, 0.1
train_size = x_train.shape[0]
train_loss_list = []

for i in range(iters_num):
    batch_mask = np.random.choice(train_size, batch_size)  # «a mini-batch|미니배치»
    x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
    grad = network.numerical_gradient(x_batch, t_batch, method="fast")  # «the gradient|기울기»
    for key in ("W1", "b1", "W2", "b2"):  # «update the parameters|매개변수 갱신»
        network.params[key] -= learning_rate * grad[key]
    loss = network.loss(x_batch, t_batch)  # «record the progress|학습 경과 기록»
    train_loss_list.append(loss)
    print(f"{i}: loss = {loss:.6f} | train acc = {network.accuracy(x_train, t_train):.4f} | "
          f"test acc = {network.accuracy(x_test, t_test):.4f}")
"""),
    ("md", """
`mitbadak.training.train` runs the same loop, epoch by epoch. An **epoch (에폭)** is one
pass over the training set (here 4,000 sample images → 40 iterations). After each epoch we
measure the accuracy (정확도) on the training and the test images: when both rise together, the
network is learning rather than memorizing (**overfitting, 오버피팅**). The book runs 10,000
iterations at η = 0.1; to see progress in a few seconds on the small sample we take 3 epochs at
η = 0.5. `mitbadak.training.progress.progress_bar()` draws a progress bar while it trains (a widget
in
Jupyter, a text bar in a terminal).
""", """
`mitbadak.training.train`이 같은 루프를 에폭 단위로 실행합니다. **에폭**은 훈련 데이터를 모두 한
번씩 쓰는 단위입니다(여기서는 표본 이미지 4,000장 → 40회 반복). 에폭마다 훈련 데이터와 시험
데이터에 대한 정확도를 계산합니다. 두 정확도가 함께 오르면 신경망이 훈련 데이터를 외우는 것이
아니라 제대로 학습하고 있다는 뜻입니다(두 정확도가 벌어지면 **오버피팅**). 책은 학습률 0.1로
10,000번 반복하지만, 작은 표본에서 몇 초 만에 변화를 보기 위해 학습률 0.5로 3에폭만 학습합니다.
학습하는 동안 `mitbadak.training.progress.progress_bar()`가 진행 막대를 보여 줍니다(주피터에서는
위젯,
터미널에서는 텍스트).
"""),
    ("code", """
from mitbadak.training.progress import progress_bar
from mitbadak.training.loop import train

net = mb.TwoLayerNet(784, 50, 10, seed=0)
result = train(net, (x_train, t_train), (x_test, t_test), optimizer="sgd", lr=0.5,
               batch_size=100, epochs=3, gradient="numerical", seed=0,
               callback=progress_bar(desc="«numerical gradient|수치 미분»"))
for record in result.history.epochs:
    print(f"«epoch|에폭» {record['epoch']}: «train acc|훈련 정확도» {record['train_acc']:.4f}, "
          f"«test acc|시험 정확도» {record['test_acc']:.4f}")
"""),
    ("code", """
plots.curves(result.history, lang=LANG, title={  # «the figure's language|그림의 언어로»
    "en": "TwoLayerNet trained with numerical gradients, mnist-sample",
    "ko": "수치 미분으로 학습한 TwoLayerNet, mnist-sample",
}[LANG])
"""),
]

CH05 = [
    ("md", """
# Chapter 5 — Backpropagation (5장 오차역전파법)

Numerical gradients cost two forward passes per parameter. **Backpropagation (오차역전파법)**
gets every gradient from one forward and one backward pass, by applying the **chain rule
(연쇄법칙)** node by node on a **computational graph (계산 그래프)**. This notebook builds the
chapter's graphs and layers with `mitbadak.nn.layers`, checks backprop against numerical gradients,
and trains a network with it.
""", """
# 5장 오차역전파법

수치 미분은 매개변수 하나마다 순전파를 두 번 해야 합니다. **오차역전파법**은 **계산 그래프**의
노드마다 **연쇄법칙**을 적용해, 순전파 한 번과 역전파 한 번으로 모든 기울기를 구합니다. 이
노트북은 `mitbadak.nn.layers`로 5장의 계산 그래프와 계층을 만들고, 역전파를 수치 미분과 비교해
확인한
뒤, 그것으로 신경망을 학습시킵니다.
"""),
    ("code", SETUP, SETUP_PHRASES),
    ("md", """
## Computational graphs: buying apples (계산 그래프: 사과 쇼핑)

Each node is a layer with `forward` and `backward`. A **multiplication layer (곱셈 계층)**
`MulLayer` passes back the upstream gradient times the *other* input; an
**addition layer (덧셈 계층)** `AddLayer` passes it back unchanged. Two apples at 100 with 10 %
tax cost 220; the backward pass (역전파) says how the price reacts to each input: 2.2 per unit of
apple price, 110 per apple, 200 per unit of tax. Floating point makes 100 × 2 × 1.1 come out as
220.00000000000003, so the values are printed to 6 significant digits, as the book shows them.
""", """
## 계산 그래프: 사과 쇼핑의 예

노드 하나하나가 `forward`와 `backward`를 가진 계층입니다. **곱셈 계층** `MulLayer`는 상류에서 온
미분에 순전파 때의 입력을 '서로 바꿔' 곱해 하류로 보내고, **덧셈 계층** `AddLayer`는 상류의 값을
그대로 흘려보냅니다. 1개에 100원인 사과 2개를 소비세 10%로 사면 220원입니다. 역전파는 지불 금액이
각 입력에 어떻게 반응하는지 알려 줍니다: 사과 가격의 미분 2.2, 사과 개수의 미분 110, 소비세의 미분
200. 부동소수점 때문에 100 × 2 × 1.1은 220.00000000000003이 되므로, 책처럼 유효숫자 6자리로
출력합니다.
"""),
    ("code", """
from mitbadak.nn.layers import AddLayer, MulLayer

apple, apple_num, tax = 100, 2, 1.1
mul_apple_layer, mul_tax_layer = MulLayer(), MulLayer()

apple_price = mul_apple_layer.forward(apple, apple_num)  # «forward|순전파»
price = mul_tax_layer.forward(apple_price, tax)
print(f"{price:g}")  # 220

dprice = 1  # «backward, from d price / d price = 1|역전파: d 지불 금액 / d 지불 금액 = 1부터»
dapple_price, dtax = mul_tax_layer.backward(dprice)
dapple, dapple_num = mul_apple_layer.backward(dapple_price)
print(f"{dapple:g} {dapple_num:g} {dtax:g}")  # 2.2 110 200
"""),
    ("md", """
Add three oranges at 150 and the graph gains an addition node: the price is 715, and the
gradients are 110 (apple count), 2.2 (apple price), 3.3 (orange price), 165 (orange count) and
650 (tax) — printed in the book's order.
""", """
귤 3개(1개에 150원)를 더하면 덧셈 노드가 생깁니다. 지불 금액은 715원이고, 미분은 사과 개수 110,
사과 가격 2.2, 귤 가격 3.3, 귤 개수 165, 소비세 650입니다(책의 출력 순서).
"""),
    ("code", """
orange, orange_num = 150, 3
mul_apple_layer, mul_orange_layer = MulLayer(), MulLayer()
add_apple_orange_layer, mul_tax_layer = AddLayer(), MulLayer()

apple_price = mul_apple_layer.forward(apple, apple_num)
orange_price = mul_orange_layer.forward(orange, orange_num)
all_price = add_apple_orange_layer.forward(apple_price, orange_price)
price = mul_tax_layer.forward(all_price, tax)

dall_price, dtax = mul_tax_layer.backward(1)
dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
dorange, dorange_num = mul_orange_layer.backward(dorange_price)
dapple, dapple_num = mul_apple_layer.backward(dapple_price)

print(f"{price:g}")  # 715
print(f"{dapple_num:g} {dapple:g} {dorange:g} {dorange_num:g} {dtax:g}")  # 110 2.2 3.3 165 650
"""),
    ("md", """
The figure below draws the same graph from values computed by `MulLayer`/`AddLayer`
(`plots.shopping_graph_values`): forward values above each edge, gradients of the price below it.
""", """
아래 그림은 `MulLayer`/`AddLayer`로 계산한 값(`plots.shopping_graph_values`)으로 같은 그래프를
그립니다. 각 에지 위에는 순전파 값을, 아래에는 지불 금액의 미분(역전파 값)을 적었습니다.
"""),
    ("code", "plots.graph(lang=LANG)"),
    ("md", """
## The chain rule (연쇄법칙)

z = (x + y)² is a composite function (합성 함수): t = x + y, then z = t². The **chain rule**
says its derivative is the product of the parts' derivatives: ∂z/∂x = ∂z/∂t · ∂t/∂x = 2t · 1 =
2(x + y). On the graph that is exactly backpropagation: the square node multiplies the upstream
gradient by its local derivative 2t, and the addition node passes the result on unchanged. At
x = 1, y = 2: z = 9 and ∂z/∂x = ∂z/∂y = 6, which numerical differentiation confirms.
""", """
## 연쇄법칙

z = (x + y)²은 t = x + y와 z = t²으로 이루어진 합성 함수입니다. **연쇄법칙**에 따르면 합성 함수의
미분은 합성 함수를 구성하는 각 함수의 미분의 곱입니다: ∂z/∂x = ∂z/∂t · ∂t/∂x = 2t · 1 = 2(x + y).
계산 그래프에서는 이것이 곧 역전파입니다. 제곱 노드는 상류에서 온 미분에 국소적 미분 2t를 곱하고,
덧셈 노드는 그 값을 그대로 흘려보냅니다. x = 1, y = 2이면 z = 9, ∂z/∂x = ∂z/∂y = 6이고, 수치
미분으로 구해도 같습니다.
"""),
    ("code", """
x, y = 1.0, 2.0
add_layer = AddLayer()
t = add_layer.forward(x, y)  # «forward: t = x + y, z = t**2|순전파: t = x + y, z = t**2»
z = t**2

dz = 1.0  # «backward, starting from dz/dz = 1|역전파: dz/dz = 1에서 시작»
dt = dz * 2 * t  # «the square node: times its local derivative|제곱 노드: 국소적 미분 2t를 곱함»
dx, dy = add_layer.backward(dt)  # «the addition node: unchanged|덧셈 노드: 그대로 흘려보냄»
print("z =", z, "| dz/dx =", dx, "| dz/dy =", dy, "| 2(x + y) =", 2 * (x + y))
print("«numerical:|수치 미분:»", mb.numerical_diff(lambda x_: (x_ + y) ** 2, x))
"""),
    ("md", """
## Activation layers (활성화 함수 계층 구현하기)

**ReLU layer**: forward remembers which inputs were ≤ 0 (a mask); backward passes the gradient
where x > 0 and blocks it elsewhere. **Sigmoid layer**: y = 1 / (1 + exp(−x)), and since
dy/dx = y(1 − y), backward needs only the output it cached.
""", """
## 활성화 함수 계층 구현하기

**ReLU 계층**: 순전파 때 입력이 0 이하인 곳을 mask로 기억해 두고, 역전파 때 x > 0인 곳은 상류의
값을 그대로 흘리고 나머지는 0을 보냅니다. **Sigmoid 계층**: y = 1 / (1 + exp(−x))이고
dy/dx = y(1 − y)이므로, 역전파는 순전파의 출력 y만으로 계산할 수 있습니다.
"""),
    ("code", """
x = np.array([[1.0, -0.5], [-2.0, 3.0]])
relu = mb.Relu()
print("«relu forward|ReLU 순전파»\\n", relu.forward(x))
print("«relu backward of ones|ReLU 역전파(상류 값이 모두 1)»\\n", relu.backward(np.ones_like(x)))

sigmoid = mb.Sigmoid()
y = sigmoid.forward(x)
print("«sigmoid backward of ones = y(1 - y)|Sigmoid 역전파(상류 값이 모두 1) = y(1 - y)»\\n",
      sigmoid.backward(np.ones_like(x)))
np.testing.assert_allclose(sigmoid.backward(np.ones_like(x)), y * (1 - y))
"""),
    ("md", """
## Affine and Softmax-with-Loss layers (Affine/Softmax 계층 구현하기)

The **Affine layer** computes X·W + b for a whole batch; backward gives
∂L/∂X = ∂L/∂Y·Wᵀ, ∂L/∂W = Xᵀ·∂L/∂Y and ∂L/∂b = the column sums of ∂L/∂Y. The
**Softmax-with-Loss layer** combines softmax and cross-entropy, and its backward is beautifully
simple: (y − t) / N — the prediction error, averaged over the batch.
""", """
## Affine/Softmax 계층 구현하기

**Affine 계층**은 배치 전체에 대해 X·W + b를 계산합니다. 역전파는 ∂L/∂X = ∂L/∂Y·Wᵀ,
∂L/∂W = Xᵀ·∂L/∂Y, ∂L/∂b = ∂L/∂Y의 열별 합입니다. **Softmax-with-Loss 계층**은 소프트맥스 함수와
교차 엔트로피 오차를 합친 것으로, 역전파가 (y − t) / N으로 아주 깔끔합니다. 예측과 정답의 차이를
배치 크기로 나눈 값이지요.
"""),
    ("code", """
rng = np.random.default_rng(0)
affine = mb.Affine(rng.standard_normal((2, 3)), np.zeros(3))
X = rng.standard_normal((4, 2))
out = affine.forward(X)
dX = affine.backward(np.ones_like(out))
print("X", X.shape, "-> Y", out.shape, "| dX", dX.shape, "dW", affine.dW.shape, "db", affine.db)

loss_layer = mb.SoftmaxWithLoss()
scores = np.array([[0.3, 2.9, 4.0], [2.0, 0.1, -1.0]])
labels = np.array([2, 0])
print("«loss|손실»", loss_layer.forward(scores, labels))
print("«backward = (softmax - one-hot) / N|역전파 = (소프트맥스 출력 - 원-핫 레이블) / N»")
print(loss_layer.backward())
"""),
    ("md", """
## Gradient check (기울기 확인)

Backprop is fast but easy to get subtly wrong; numerical differentiation is slow but simple.
A **gradient check** compares the two on a few images. In float64 they agree to ~1e-10 or
better, as the book shows.
""", """
## 기울기 확인

오차역전파법은 빠르지만 구현 실수가 숨어 있기 쉽고, 수치 미분은 느리지만 단순합니다. **기울기
확인**은 이미지 몇 장으로 두 결과를 비교합니다. float64에서는 책처럼 1e-10 정도 이하로 일치합니다.
"""),
    ("code", """
from mitbadak.files.datasets import load_mnist

(x_train, t_train), (x_test, t_test) = load_mnist(name="mnist-sample")
net = mb.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float64)
for row in mb.gradient_check(net, x_train[:3], t_train[:3]):
    print(f"{row.name:3s} {str(row.shape):10s} «max abs diff|최대 절대 오차» {row.max_abs:.2e}   "
          f"«relative|상대 오차» {row.max_rel:.2e}")
    assert row.max_rel < 1e-6
"""),
    ("md", """
## Training with backpropagation (오차역전파법을 사용한 학습 구현하기)

The same recipe as chapter 4 (two-layer sigmoid network, SGD, η = 0.5, batches of 100, 3 epochs,
same seed) but with `gradient="backprop"`. Since both methods compute the same gradient, the
accuracies match chapter 4's digit for digit, only much faster. Then a stronger network:
ReLU hidden units with He initialization, 2 epochs.
""", """
## 오차역전파법을 사용한 학습 구현하기

4장과 같은 설정(2층 시그모이드 신경망, SGD, η = 0.5, 배치 100, 3에폭, 같은 시드)에
`gradient="backprop"`만 바꿉니다. 두 방법은 같은 기울기를 계산하므로 정확도가 4장과 자릿수까지
같고, 훨씬 빠릅니다. 이어서 은닉층에 ReLU 함수와 He 초깃값을 쓴 신경망을 2에폭 학습합니다.
"""),
    ("code", """
import time

from mitbadak.training.loop import train

net = mb.TwoLayerNet(784, 50, 10, seed=0)
start = time.perf_counter()
result = train(net, (x_train, t_train), (x_test, t_test), optimizer="sgd", lr=0.5,
               batch_size=100, epochs=3, gradient="backprop", seed=0)
print(f"{time.perf_counter() - start:.2f} «s|초»")
for record in result.history.epochs:
    print(f"«epoch|에폭» {record['epoch']}: «train acc|훈련 정확도» {record['train_acc']:.4f}, "
          f"«test acc|시험 정확도» {record['test_acc']:.4f}")
"""),
    ("code", """
relu_net = mb.MultiLayerNet(784, [100], 10, activation="relu", weight_init="he", seed=0)
relu_result = train(relu_net, (x_train, t_train), (x_test, t_test), optimizer="sgd", lr=0.1,
                    batch_size=100, epochs=2, seed=0)
test_acc = relu_result.history.epochs[-1]["test_acc"]
print(f"«test accuracy after 2 epochs:|2에폭 학습 후 시험 정확도:» {test_acc:.4f}")
plots.curves(relu_result.history, lang=LANG, title={  # «the figure's language|그림의 언어로»
    "en": "ReLU network trained by backpropagation, mnist-sample",
    "ko": "오차역전파법으로 학습한 ReLU 신경망, mnist-sample",
}[LANG])
"""),
    ("md", """
What the trained network gets wrong, and where its mistakes fall in the **confusion matrix
(혼동 행렬)** (rows: true digit, columns: predicted digit). Last, its first-layer weights:
after only 80 iterations they are still mostly their random start (the border pixels, always 0
in MNIST, never receive a gradient at all); compare the book's network in chapter 3, trained far
longer.
""", """
학습한 신경망이 무엇을 틀리는지, 그리고 그 실수가 **혼동 행렬**(행: 정답 숫자, 열: 예측한 숫자)의
어디에 모이는지 봅니다. 마지막으로 1층 가중치입니다. 80번만 반복했으므로 아직 대부분 무작위 초깃값
그대로이고(MNIST에서 늘 0인 가장자리 픽셀에는 기울기가 전혀 전달되지 않습니다), 훨씬 오래 학습한
3장의 책 가중치와 비교해 보세요.
"""),
    ("code", """
from mitbadak.training.evaluation import evaluate_network

report = evaluate_network(relu_result.network, x_test, t_test)
print(f"«accuracy|정확도» {report.accuracy:.4f}, «loss|손실» {report.loss:.4f}, "
      f"«mistakes|틀린 이미지» {len(report.wrong)}«|장»")
display(plots.confusion_matrix(report.confusion, model="ReLU 784-100-10", dataset="mnist-sample",
                               lang=LANG))
display(plots.misclassified(x_test, t_test, report.predictions, report.probabilities,
                            max_images=15, lang=LANG))
plots.weights(relu_result.network.params["W1"], max_units=50, lang=LANG)
"""),
]

# Chapter 6 lives in its own module (this file would be too long to read otherwise).
CH06 = [notebooks_ch06.TITLE, ("code", SETUP, SETUP_PHRASES), *notebooks_ch06.BODY]

NOTEBOOKS = {
    "ch03_forward": CH03,
    "ch04_learning": CH04,
    "ch05_backprop": CH05,
    "ch06_techniques": CH06,
}


# In a code cell, «English|한국어» is a phrase in both languages (a printed label, a comment, a
# figure title): each edition keeps its own half, so the code itself is written once. A longer
# phrase is named, «name», and given as (English, 한국어) in the cell's third element.
BILINGUAL = re.compile(r"«([^«»|\n]*)\|([^«»|\n]*)»")
NAMED = re.compile(r"«(\w+)»")


def localize(source: str, lang: str, phrases: dict[str, tuple[str, str]] | None = None) -> str:
    """``source`` with every «English|한국어» and «name» replaced by its text in ``lang``."""
    half = 1 if lang == "ko" else 0
    text = BILINGUAL.sub(lambda m: m.group(1 + half), source)
    text = NAMED.sub(lambda m: (phrases or {})[m.group(1)][half], text)
    if "«" in text or "»" in text:
        raise ValueError(f"an unmatched or malformed «English|한국어» phrase in:\n{source}")
    return text


def build(name: str, cells: list[tuple[str, ...]], lang: str) -> nbformat.NotebookNode:
    """A v4 notebook without outputs; cell ids are fixed so that rebuilding is byte-identical."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell_spec in enumerate(cells):
        kind = cell_spec[0]
        if kind == "md":
            english, korean = cell_spec[1], cell_spec[2]
            text = korean if lang == "ko" else english
            cell = nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))
        else:
            phrases = cell_spec[2] if len(cell_spec) > 2 else None
            source = localize(textwrap.dedent(cell_spec[1]).strip("\n"), lang, phrases)
            cell = nbformat.v4.new_code_cell(source)
        cell.id = f"{name}-{i:02d}" if lang == "en" else f"{name}-{lang}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str, lang: str = "en") -> str:
    return nbformat.writes(build(name, NOTEBOOKS[name], lang), version=4) + "\n"


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for lang, folder in LANGUAGES.items():
        if not args.check:
            folder.mkdir(parents=True, exist_ok=True)
        for name in NOTEBOOKS:
            path = folder / f"{name}.ipynb"
            text = render(name, lang)
            if args.check:
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    stale.append(path)
            else:
                write_atomically(path, text)
                print(f"wrote {path}")
    if stale:
        print("out of date (run scripts/make_notebooks.py): " + ", ".join(map(str, stale)),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
