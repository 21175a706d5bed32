"""Write the chapter notebooks (notebooks/ch03_forward.ipynb, ch04_learning.ipynb,
ch05_backprop.ipynb) from the cell texts below, without outputs.

The notebooks are generated so that they stay reviewable (this file is plain Python in a diff)
and reproducible (fixed cell ids; no outputs, so never stale). Usage::

    python scripts/make_notebooks.py          # (re)write the notebooks
    python scripts/make_notebooks.py --check  # exit 1 if a stored notebook differs from this file
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"

# Every notebook starts with the same setup cell. Paths are relative to notebooks/, where the
# notebooks run: ../../shared/data is the read-only shared data next to the repository, if any.
SETUP = """
%matplotlib inline
from pathlib import Path

import numpy as np

import mitbadak as mb
from mitbadak import plots

np.set_printoptions(precision=8, suppress=False)
SHARED = Path("../../shared/data")  # the real MNIST test set and the book's weights, if present
print("mitbadak", mb.__version__, "| shared data:", "found" if SHARED.is_dir() else "absent")
"""

# A notebook is a list of ("md" | "code", text).
CH03 = [
    ("md", """
# Chapter 3 — Neural networks (3장 신경망)

A neural network (신경망) turns an input into an output by passing signals forward through layers:
each layer multiplies by a weight matrix, adds a bias, and applies an **activation function**.
This notebook follows the chapter with `mitbadak`: activations, the three-layer example, the output
layer, and inference (추론) on handwritten digits (손글씨 숫자) with the book's trained weights.
Everything runs offline.
"""),
    ("code", SETUP),
    ("md", """
## Activation functions (활성화 함수)

The **step function (계단 함수)** outputs 1 when the input is positive and 0 otherwise — the
perceptron's rule. The **sigmoid function (시그모이드 함수)** h(x) = 1 / (1 + exp(−x)) is its
smooth version: it also squashes to [0, 1], but its slope is never zero, which is what learning
(chapter 4) needs. **ReLU (렐루 함수)** passes positive inputs through and zeroes the rest.
All three work element-wise on NumPy arrays.
"""),
    ("code", """
x = np.array([-1.0, 1.0, 2.0])
print("step   ", mb.step_function(x))
print("sigmoid", mb.sigmoid(x))
print("relu   ", mb.relu(x))
"""),
    ("code", "plots.activations()"),
    ("md", """
## Multidimensional arrays and the matrix product (다차원 배열, 행렬의 곱)

One layer of a network is one matrix product (행렬의 곱): with inputs `X` of shape (2,) and
weights `W` of shape (2, 3), `X @ W` has shape (3,) — the inner dimensions must agree.
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
"""),
    ("code", """
network = mb.init_network()
for name, value in network.items():
    print(name, value.shape)
y = mb.forward(network, np.array([1.0, 0.5]))
print("y =", y)
np.testing.assert_allclose(y, [0.31682708, 0.69627909], rtol=1e-7)  # the book's numbers
"""),
    ("md", """
## The output layer: identity and softmax (출력층: 항등 함수와 소프트맥스 함수)

Regression uses the **identity function (항등 함수)**; classification uses the
**softmax function (소프트맥스 함수)** y_k = exp(a_k) / Σ_i exp(a_i). Its outputs are positive,
sum to 1 and keep the order of the inputs, so they read as probabilities. `mb.softmax`
subtracts the maximum first, so huge scores do not overflow (오버플로) — `[1010, 1000, 990]` works.
"""),
    ("code", """
a = np.array([0.3, 2.9, 4.0])
y = mb.softmax(a)
print("softmax(a) =", y, "sum =", y.sum())
print("no overflow:", mb.softmax(np.array([1010.0, 1000.0, 990.0])))
"""),
    ("code", "plots.softmax(a)"),
    ("md", """
## Handwritten digits: the MNIST data set (손글씨 숫자 인식, MNIST 데이터셋)

Images are 28×28 gray levels, flattened (평탄화) to 784 values and normalized (정규화) to [0, 1]
— the preprocessing (전처리) the book applies. We use the real MNIST test set when
`../../shared/data/mnist` exists, and otherwise the sample of real MNIST that ships inside the
package (`mnist-sample`), so this works without internet.
"""),
    ("code", """
from mitbadak.datasets import load_split

if (SHARED / "mnist").is_dir():
    x_test, t_test = load_split("mnist", "test", data_dir=SHARED / "mnist", download=False)
    source = "the real MNIST test set"
else:
    x_test, t_test = load_split("mnist-sample", "test")
    source = "the packaged mnist-sample test split"
print(f"{source}: x_test {x_test.shape} {x_test.dtype} in [{x_test.min()}, {x_test.max()}], "
      f"labels {t_test[:10]} ...")
"""),
    ("code", 'plots.samples(x_test, t_test, count=20, title="MNIST test images")'),
    ("md", """
## Inference with trained weights (학습된 매개변수로 추론하기)

The book ships `sample_weight.pkl`, a trained 784 → 50 → 100 → 10 sigmoid network.
`mitbadak.modelfile.import_book_weights` reads it **without executing pickle code** (a pickle can
run arbitrary code; only NumPy arrays in a dict are accepted). On the full test set its accuracy
(정확도) is 0.9352, as in the book. If the file is not next to the repository, this step is skipped.
"""),
    ("code", """
from mitbadak.modelfile import import_book_weights

weights_path = SHARED / "sample_weight.pkl"
if weights_path.is_file():
    book_net = import_book_weights(weights_path)
    print(book_net)
    accuracy = book_net.accuracy(x_test, t_test)
    print(f"accuracy on {len(x_test)} images: {accuracy:.4f}")
    if len(x_test) == 10_000:
        assert round(accuracy, 4) == 0.9352  # the book's number
else:
    book_net = None
    print(f"{weights_path} not found: skipping inference with the book's weights")
"""),
    ("md", """
What went wrong? The images the network misclassifies, with its predicted probability — many are
hard for people too. Its first layer's weights, drawn as 28×28 images, show the strokes each of
the 50 hidden units responds to (red: positive, blue: negative).
"""),
    ("code", """
if book_net is not None:
    probs = book_net.predict_proba(x_test)
    display(plots.misclassified(x_test, t_test, probs.argmax(axis=1), probs, max_images=20))
    display(plots.weights(book_net.params["W1"]))
"""),
    ("md", """
## Batch processing (배치 처리)

Feeding 100 images at once turns 100 vector–matrix products into one matrix–matrix product:
X (100, 784) · W1 (784, 50) → (100, 50) → … → (100, 10). NumPy does that much faster than a Python
loop over single images (usually by far; timings vary with the machine's load), and the
predictions are identical. (Without the book's weights we use an
untrained network of the same shape: the shapes and the speed-up are the point here.)
"""),
    ("code", """
import time

net = book_net if book_net is not None else mb.MultiLayerNet(
    784, [50, 100], 10, activation="sigmoid", seed=0)
batch = x_test[:1000]


def best_of_5(work):
    # the fastest of five runs, in milliseconds (the first run also warms up caches)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return result, min(times) * 1000


one_by_one, single_ms = best_of_5(
    lambda: np.array([net.predict(image).argmax() for image in batch]))
batched, batch_ms = best_of_5(lambda: np.concatenate(
    [net.predict(batch[i:i + 100]).argmax(axis=1) for i in range(0, len(batch), 100)]))

print("shapes:", batch[:100].shape, "->", net.predict(batch[:100]).shape)
print("same predictions:", np.array_equal(one_by_one, batched))
print(f"1000 images one at a time: {single_ms:.1f} ms; in batches of 100: {batch_ms:.1f} ms")
"""),
]

CH04 = [
    ("md", """
# Chapter 4 — Training neural networks (4장 신경망 학습)

Learning (학습) means finding the weights that make a **loss function** small. This chapter does
it with the most direct tool: **numerical differentiation** — nudge a number, watch the loss.
We follow it with `mitbadak` and finish by training a two-layer network on real handwritten digits
with numerical gradients, exactly the chapter's algorithm (fast enough thanks to a vectorized
central difference).
"""),
    ("code", SETUP),
    ("md", """
## Loss functions (손실 함수)

With one-hot labels (원-핫 인코딩) t, the **sum of squares error (오차제곱합)** is
E = ½ Σ_k (y_k − t_k)² and the **cross-entropy error (교차 엔트로피 오차)** is
E = −Σ_k t_k log y_k (with a tiny δ inside the log so that log 0 never happens).
Both are small when the network puts its probability on the right class ("2" here) and large
when it prefers a wrong one ("7").
"""),
    ("code", """
t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
y_right = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
y_wrong = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
for name, y in (("predicts 2", y_right), ("predicts 7", y_wrong)):
    print(f"{name}: sum of squares {mb.sum_squares_error(y, t):.4f}, "
          f"cross-entropy {mb.cross_entropy_error(y, t):.4f}")
"""),
    ("md", """
## Mini-batch learning (미니배치 학습)

Computing the loss over all training images at every step is slow; instead each step uses a
random **mini-batch (미니배치)** and the loss is averaged over it. The cross-entropy accepts a
batch with one-hot or integer labels.
"""),
    ("code", """
from mitbadak.datasets import load_mnist

(x_train, t_train), (x_test, t_test) = load_mnist(name="mnist-sample")
print("train", x_train.shape, "test", x_test.shape)

rng = np.random.default_rng(0)
batch_mask = rng.choice(len(x_train), 10, replace=False)
y_uniform = np.full((10, 10), 0.1)  # a network that knows nothing: 1/10 everywhere
print("batch labels", t_train[batch_mask])
print("mean cross-entropy of a clueless network:",
      mb.cross_entropy_error(y_uniform, t_train[batch_mask]))
print("= log(10) =", np.log(10))
"""),
    ("md", """
## Numerical differentiation (수치 미분)

The derivative (미분) is the slope at a point. `numerical_diff(f, x)` uses the
**central difference (중심 차분)** (f(x+h) − f(x−h)) / 2h with h = 1e-4: small enough for a good
slope, large enough to avoid rounding error (반올림 오차). For f(x) = 0.01x² + 0.1x the exact
derivatives at 5 and 10 are 0.2 and 0.3; the numerical ones differ only in the 12th digit.
The **tangent line (접선)** through each point has that slope.
"""),
    ("code", """
def function_1(x):
    return 0.01 * x**2 + 0.1 * x

print(mb.numerical_diff(function_1, 5), mb.numerical_diff(function_1, 10))
"""),
    ("code", "plots.tangent()"),
    ("md", """
## Partial derivatives and the gradient (편미분과 기울기)

For f(x0, x1) = x0² + x1², the **partial derivatives (편미분)** ∂f/∂x0 and ∂f/∂x1 together form the
**gradient (기울기)** ∇f. `numerical_gradient(f, x)` computes it one element at a time.
At (3, 4) it is (6, 8); at (0, 2), (0, 4); at (3, 0), (6, 0).
"""),
    ("code", """
def function_2(x):
    return float(np.sum(x**2))

for point in ([3.0, 4.0], [0.0, 2.0], [3.0, 0.0]):
    print(point, "->", mb.numerical_gradient(function_2, np.array(point)))
"""),
    ("code", "plots.surface()"),
    ("md", """
Drawn as arrows, the negative gradient −∇f points downhill, toward the minimum at (0, 0), and is
longer where the surface is steeper. Each arrow below is one call to `numerical_gradient`.
"""),
    ("code", "plots.gradient_field()"),
    ("md", """
## Gradient descent (경사 하강법)

Step against the gradient, again and again: x ← x − η ∇f(x). η is the **learning rate (학습률)**.
From (−3, 4) with η = 0.1, 100 steps land next to (0, 0).
"""),
    ("code", """
x_final = mb.gradient_descent(function_2, init_x=np.array([-3.0, 4.0]), lr=0.1, step_num=100)
print(x_final)
"""),
    ("code", "plots.descent()"),
    ("md", """
## The learning rate is a hyperparameter (학습률, 하이퍼파라미터)

Hyperparameters (하이퍼파라미터) are set by people, not learned. Too large a learning rate
diverges (발산): with η = 10 the point leaps further out at every step, until the numbers are so
large (~1e13) that x ± h rounds to x and the numerical gradient becomes exactly 0 — the book's
`[-2.58983747e+13, -1.29524862e+12]`. Too small (η = 1e-10) and it barely moves.
"""),
    ("code", """
for lr in (10.0, 1e-10):
    x_final = mb.gradient_descent(function_2, np.array([-3.0, 4.0]), lr=lr, step_num=100)
    print(f"lr = {lr:g}:", x_final)
"""),
    ("code", "plots.learning_rates()"),
    ("md", """
## The gradient of a neural network (신경망에서의 기울기)

`SimpleNet` has one 2×3 weight matrix W. Its loss is cross_entropy(softmax(x·W), t), and the
gradient ∂L/∂W has W's shape: each entry says how the loss changes when that weight is nudged.
With the book's W (fixed here instead of random), x = [0.6, 0.9] and the label 2, the loss is
0.928 and ∂L/∂W is [[0.219, 0.144, −0.363], [0.329, 0.215, −0.544]].
"""),
    ("code", """
net = mb.SimpleNet(W=[[0.47355232, 0.9977393, 0.84668094],
                      [0.85557411, 0.03563661, 0.69422093]])
x = np.array([0.6, 0.9])
t = np.array([0, 0, 1])
print("scores", net.predict(x), "-> predicted class", np.argmax(net.predict(x)))
print("loss", net.loss(x, t))
print("dL/dW\\n", net.numerical_gradient(x, t)["W"])
"""),
    ("md", """
## The learning algorithm: a two-layer network (학습 알고리즘 구현: 2층 신경망)

`TwoLayerNet(784, 50, 10)` is Affine → sigmoid → Affine → softmax, with weights drawn from
0.01·N(0, 1) as in the book. Its `numerical_gradient` computes ∂L/∂param for all 39,760
parameters by central differences. Chapter 5 computes the same gradient by backpropagation
(`net.gradient`) — on a tiny batch they agree to about 1e-10:
"""),
    ("code", """
import time

net = mb.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float64)
x_batch, t_batch = x_train[:3].astype(np.float64), t_train[:3]

start = time.perf_counter()
numerical = net.numerical_gradient(x_batch, t_batch)
numerical_seconds = time.perf_counter() - start
start = time.perf_counter()
backprop = net.gradient(x_batch, t_batch)
backprop_seconds = time.perf_counter() - start

for name in net.params:
    diff = np.max(np.abs(numerical[name] - backprop[name]))
    print(f"{name:3s} {str(numerical[name].shape):10s} max |numerical - backprop| = {diff:.2e}")
print(f"numerical {numerical_seconds * 1000:.1f} ms, backprop {backprop_seconds * 1000:.2f} ms")
"""),
    ("md", """
Now the chapter's training loop: **stochastic gradient descent (확률적 경사 하강법, SGD)** on
mini-batches of 100 images, with the gradient computed numerically. An **epoch (에폭)** is one pass
over the training set (here 4,000 sample images → 40 iterations). After each epoch we measure the
accuracy on the training and the test images: when both rise together, the network is learning
rather than memorizing (과대적합, overfitting). The book runs 10,000 iterations at η = 0.1; to
see progress in a few seconds on the small sample we take 3 epochs at η = 0.5.
"""),
    ("code", """
from mitbadak.training import train

net = mb.TwoLayerNet(784, 50, 10, seed=0)
result = train(net, (x_train, t_train), (x_test, t_test), optimizer="sgd", lr=0.5,
               batch_size=100, epochs=3, gradient="numerical", seed=0)
for record in result.history.epochs:
    print(f"epoch {record['epoch']}: train acc {record['train_acc']:.4f}, "
          f"test acc {record['test_acc']:.4f}")
"""),
    ("code", """
plots.curves(result.history, title="TwoLayerNet trained with numerical gradients, mnist-sample")
"""),
]

CH05 = [
    ("md", """
# Chapter 5 — Backpropagation (5장 오차역전파법)

Numerical gradients cost two forward passes per parameter. **Backpropagation (오차역전파법)**
gets every gradient from one forward and one backward pass, by applying the **chain rule
(연쇄법칙)** node by node on a **computational graph (계산 그래프)**. This notebook builds the
chapter's graphs and layers with `mitbadak.layers`, checks backprop against numerical gradients,
and trains a network with it.
"""),
    ("code", SETUP),
    ("md", """
## Computational graphs: buying apples (계산 그래프: 사과 쇼핑)

Each node is a layer with `forward` and `backward`. A **multiplication layer (곱셈 계층)**
`MulLayer` passes back the upstream gradient times the *other* input; an
**addition layer (덧셈 계층)** `AddLayer` passes it back unchanged. Two apples at 100 with 10 % tax
cost 220; the backward pass (역전파) says how the price reacts to each input: 2.2 per unit of
apple price, 110 per apple, 200 per unit of tax.
"""),
    ("code", """
from mitbadak.layers import AddLayer, MulLayer

apple, apple_num, tax = 100, 2, 1.1
mul_apple, mul_tax = MulLayer(), MulLayer()
price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax)  # forward (순전파)
print("price", price)

dapple_price, dtax = mul_tax.backward(1)  # backward (역전파), starting from d price / d price = 1
dapple, dapple_num = mul_apple.backward(dapple_price)
print("d price / d apple", dapple, "| d apple_num", dapple_num, "| d tax", dtax)
"""),
    ("md", """
Add three oranges at 150 and the graph gains an addition node. The figure below is drawn from
values computed by `MulLayer`/`AddLayer` (`plots.shopping_graph_values`): forward values above
each edge, gradients of the price below it.
"""),
    ("code", """
values = plots.shopping_graph_values()
for edge, (forward_value, gradient) in values.items():
    print(f"{edge:12s} forward {forward_value:8.6g}   d price / d {edge}: {gradient:.6g}")
"""),
    ("code", "plots.graph()"),
    ("md", """
## Activation layers (활성화 함수 계층)

**ReLU layer**: forward remembers which inputs were ≤ 0 (a mask); backward passes the gradient
where x > 0 and blocks it elsewhere. **Sigmoid layer**: y = 1 / (1 + exp(−x)), and since
dy/dx = y(1 − y), backward needs only the output it cached.
"""),
    ("code", """
x = np.array([[1.0, -0.5], [-2.0, 3.0]])
relu = mb.Relu()
print("relu forward\\n", relu.forward(x))
print("relu backward of ones\\n", relu.backward(np.ones_like(x)))

sigmoid = mb.Sigmoid()
y = sigmoid.forward(x)
print("sigmoid backward of ones = y(1 - y)\\n", sigmoid.backward(np.ones_like(x)))
np.testing.assert_allclose(sigmoid.backward(np.ones_like(x)), y * (1 - y))
"""),
    ("md", """
## Affine and Softmax-with-Loss layers (Affine 계층, Softmax-with-Loss 계층)

The **Affine layer** computes X·W + b for a whole batch; backward gives
∂L/∂X = ∂L/∂Y·Wᵀ, ∂L/∂W = Xᵀ·∂L/∂Y and ∂L/∂b = the column sums of ∂L/∂Y. The
**Softmax-with-Loss layer** combines softmax and cross-entropy, and its backward is beautifully
simple: (y − t) / N — the prediction error, averaged over the batch.
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
print("loss", loss_layer.forward(scores, labels))
print("backward = (softmax - one-hot) / N\\n", loss_layer.backward())
"""),
    ("md", """
## Gradient check (기울기 확인)

Backprop is fast but easy to get subtly wrong; numerical differentiation is slow but simple.
A **gradient check** compares the two on a few images. In float64 they agree to ~1e-10 or
better, as the book shows.
"""),
    ("code", """
from mitbadak.datasets import load_mnist

(x_train, t_train), (x_test, t_test) = load_mnist(name="mnist-sample")
net = mb.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float64)
for row in mb.gradient_check(net, x_train[:3], t_train[:3]):
    print(f"{row.name:3s} {str(row.shape):10s} max abs diff {row.max_abs:.2e}   "
          f"relative {row.max_rel:.2e}")
    assert row.max_rel < 1e-6
"""),
    ("md", """
## Training with backpropagation (오차역전파법을 사용한 학습)

The same recipe as chapter 4 (two-layer sigmoid network, SGD, η = 0.5, batches of 100, 3 epochs,
same seed) but with `gradient="backprop"`. Since both methods compute the same gradient, the
accuracies match chapter 4's digit for digit, only much faster. Then a stronger network:
ReLU hidden units with He initialization, 2 epochs.
"""),
    ("code", """
import time

from mitbadak.training import train

net = mb.TwoLayerNet(784, 50, 10, seed=0)
start = time.perf_counter()
result = train(net, (x_train, t_train), (x_test, t_test), optimizer="sgd", lr=0.5,
               batch_size=100, epochs=3, gradient="backprop", seed=0)
print(f"{time.perf_counter() - start:.2f} s")
for record in result.history.epochs:
    print(f"epoch {record['epoch']}: train acc {record['train_acc']:.4f}, "
          f"test acc {record['test_acc']:.4f}")
"""),
    ("code", """
relu_net = mb.MultiLayerNet(784, [100], 10, activation="relu", weight_init="he", seed=0)
relu_result = train(relu_net, (x_train, t_train), (x_test, t_test), optimizer="sgd", lr=0.1,
                    batch_size=100, epochs=2, seed=0)
print(f"test accuracy after 2 epochs: {relu_result.history.epochs[-1]['test_acc']:.4f}")
plots.curves(relu_result.history, title="ReLU network trained by backpropagation, mnist-sample")
"""),
    ("md", """
What the trained network gets wrong, and where its mistakes fall in the **confusion matrix
(혼동 행렬)** (rows: true digit, columns: predicted digit). Last, its first-layer weights:
after only 80 iterations they are still mostly their random start (the border pixels, always 0
in MNIST, never receive a gradient at all); compare the book's network in chapter 3, trained far
longer.
"""),
    ("code", """
from mitbadak.evaluation import evaluate_network

report = evaluate_network(relu_result.network, x_test, t_test)
print(f"accuracy {report.accuracy:.4f}, loss {report.loss:.4f}, {len(report.wrong)} mistakes")
display(plots.confusion_matrix(report.confusion))
display(plots.misclassified(x_test, t_test, report.predictions, report.probabilities,
                            max_images=15))
plots.weights(relu_result.network.params["W1"], max_units=50)
"""),
]

NOTEBOOKS = {"ch03_forward": CH03, "ch04_learning": CH04, "ch05_backprop": CH05}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A v4 notebook without outputs; cell ids are fixed so that rebuilding is byte-identical."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(cells):
        source = textwrap.dedent(text).strip("\n")
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
        cell.id = f"{name}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name, NOTEBOOKS[name]), version=4) + "\n"


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
    NOTEBOOKS_DIR.mkdir(exist_ok=True)
    stale = []
    for name in NOTEBOOKS:
        path = NOTEBOOKS_DIR / f"{name}.ipynb"
        text = render(name)
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
