"""Chapter 6's notebook (학습 관련 기술들), in the format of ``make_notebooks.py``: its title
cell and the cells after the shared setup cell, which ``make_notebooks.py`` puts between them.

Every experiment runs at the library's quick size for a learner; the tests set
``MITBADAK_NOTEBOOK_TINY=1``, which shrinks the iterations and epochs (and picks the packaged
``mnist-sample``, so that their numbers do not depend on what a machine has downloaded).
"""

from __future__ import annotations

TITLE = ("md", """
# Chapter 6 — Training techniques (6장 학습 관련 기술들)

Chapter 5 made gradients cheap; this chapter is about using them well. It compares the ways of
**updating the parameters** (SGD, Momentum, AdaGrad, Adam and two more), shows why the
**initial weights** decide whether a deep network learns at all, adds **Batch Normalization**,
and fights **overfitting** with weight decay and Dropout. Each of the chapter's experiments is one
function of `mitbadak.training.experiments` that returns its numbers and has a figure in
`mitbadak.views.plots`; the same experiments are commands (`mitbadak experiment NAME`). The book's
classes are here too, under their book names (`mitbadak.book.common.optimizer`,
`multi_layer_net_extend`, `trainer`).

The experiments run at a quick size (from a blink to about a minute each); the book's
sizes are one argument away (`full=True`, or `--full` on the command line).
""", """
# 6장 학습 관련 기술들

5장에서 기울기를 빠르게 구할 수 있게 되었으니, 이번 장은 그 기울기를 잘 쓰는 방법입니다.
**매개변수 갱신** 방법(확률적 경사 하강법(SGD), 모멘텀, AdaGrad, Adam과 두 가지 더)을 비교하고,
**가중치의 초깃값**에 따라 깊은 신경망이 학습을 하느냐 못 하느냐가 갈리는 이유를 보고,
**배치 정규화**를 더한 뒤, 가중치 감소와 드롭아웃으로 **오버피팅**을 억제합니다. 이 장의 실험은
각각 `mitbadak.training.experiments`의 함수 하나로, 숫자를 돌려주고 `mitbadak.views.plots`에 그림이
있습니다. 같은 실험을 명령(`mitbadak experiment 이름`)으로도 실행할 수 있습니다. 책의 클래스도 책의
이름 그대로 있습니다(`mitbadak.book.common.optimizer`, `multi_layer_net_extend`, `trainer`).

실험은 빠른 크기로 실행됩니다(각각 눈 깜짝할 사이에서 1분 정도). 책의 크기로 실행하려면
`full=True`(명령줄에서는 `--full`)만 주면 됩니다.
""")

SIZES_PHRASES = {
    "tiny": (
        "The tests set MITBADAK_NOTEBOOK_TINY=1 to run everything tiny; otherwise each experiment\n"
        "# runs at its quick size (None). full=True in a call gives the book's size.",
        "테스트는 MITBADAK_NOTEBOOK_TINY=1로 모두 아주 작게 실행합니다. 그 밖에는 각 실험의\n"
        "# 빠른 크기(None)로 실행하고, 호출에 full=True를 주면 책의 크기입니다.",
    ),
    "iterations": ("quick: 500 iterations (the book: 2,000)",
                   "빠른 크기: 500회 반복 (책: 2,000회)"),
    "bn": ("quick: 10 epochs (the book: 20)", "빠른 크기: 10에폭 (책: 20에폭)"),
    "decay": ("quick: 101 epochs (the book: 201)", "빠른 크기: 101에폭 (책: 201에폭)"),
    "dropout": ("quick: 201 epochs (the book: 301)", "빠른 크기: 201에폭 (책: 301에폭)"),
    "trainer": ("the Trainer example below", "아래 Trainer 예제"),
    "data": (
        "MNIST where its four files are in the data cache, else the packaged mnist-sample:",
        "데이터 캐시에 MNIST 파일 네 개가 있으면 MNIST, 없으면 패키지에 든 mnist-sample:",
    ),
}

BODY = [
    ("code", """
from mitbadak.training import experiments as ex

# «tiny»
TINY = os.environ.get("MITBADAK_NOTEBOOK_TINY") == "1"
ITERATIONS = 100 if TINY else None  # «iterations»
BN_EPOCHS = 3 if TINY else None  # «bn»
DECAY_EPOCHS = 51 if TINY else None  # «decay»
DROPOUT_EPOCHS = 31 if TINY else None  # «dropout»
TRAINER_EPOCHS = 3 if TINY else 10  # «trainer»

# «data»
data = ex.load_experiment_data("mnist-sample" if TINY else None)
mnist = {k: data[k] for k in ("x_train", "t_train", "x_test", "t_test", "used")}
print(data["used"])
""", SIZES_PHRASES),
    ("md", """
## 6.1 Updating the parameters (매개변수 갱신)

**Stochastic gradient descent (확률적 경사 하강법, SGD)** steps against the gradient:
W ← W − η ∂L/∂W. Simple, but it has a weak spot: a function whose slope differs a lot between
directions. Take f(x, y) = x²/20 + y², a long, flat valley along x. Its gradient (x/10, 2y) points
mostly across the valley, not towards the minimum at (0, 0), so SGD zig-zags across it and crawls
along it.

The remedies:

- **Momentum (모멘텀)** keeps a velocity: v ← αv − η ∂L/∂W, W ← W + v (α = 0.9). Steps that agree
  (along x) add up; steps that flip sign (across y) cancel, like a ball rolling down the valley.
  **Nesterov** is Momentum that takes the gradient where the velocity is about to carry it.
- **AdaGrad** gives every parameter its own learning rate (학습률), divided by the root of the sum
  of its past squared gradients: h ← h + (∂L/∂W)², W ← W − η ∂L/∂W / √h. The steep y direction
  slows down at once. Since h only grows, its steps eventually shrink to nothing; **RMSprop**
  fixes that with a decaying average of the squares instead of the sum.
- **Adam** combines the two ideas (a momentum of the gradient and a per-parameter scale from its
  squares), with a correction for the first steps.

Below, each optimizer takes 30 steps from (−7, 2) with the book's learning rates (SGD 0.95,
Momentum 0.1, AdaGrad 1.5, Adam 0.3; Nesterov and RMSprop 0.1, our choice).
""", """
## 6.1 매개변수 갱신

**확률적 경사 하강법(SGD)**은 기울기의 반대 방향으로 한 걸음씩 나아갑니다: W ← W − η ∂L/∂W.
단순하지만 약점이 있습니다. 방향에 따라 기울기가 크게 다른 함수(비등방성 함수)에서 비효율적입니다.
f(x, y) = x²/20 + y²는 x축 방향으로 길고 평평한 골짜기입니다. 기울기 (x/10, 2y)는 대부분 골짜기를
가로지르는 쪽을 가리키고 최솟값 (0, 0)을 가리키지 않으므로, SGD는 골짜기를 지그재그로 가로지르며
x축 방향으로는 아주 천천히 나아갑니다.

이를 개선하는 방법들:

- **모멘텀**은 속도를 기억합니다: v ← αv − η ∂L/∂W, W ← W + v (α = 0.9). 방향이 일정한 걸음(x축)은
  쌓이고 부호가 바뀌는 걸음(y축)은 상쇄되어, 공이 골짜기를 굴러 내려가듯 움직입니다.
  **Nesterov**는 속도가 데려갈 위치에서 기울기를 구하는 모멘텀입니다.
- **AdaGrad**는 매개변수마다 학습률을 따로 둡니다. 지금까지의 기울기 제곱의 합의 제곱근으로
  나눕니다: h ← h + (∂L/∂W)², W ← W − η ∂L/∂W / √h. 기울기가 큰 y축 방향은 곧바로
  느려집니다. h는 커지기만 하므로 결국 갱신량이 0에 가까워지는데, **RMSprop**은 합 대신
  지수이동평균을 써서 이 문제를 해결합니다.
- **Adam**은 두 생각(기울기의 모멘텀, 그리고 기울기 제곱으로 정한 매개변수별 크기)을 합치고, 처음
  몇 걸음의 치우침을 보정합니다.

아래에서 각 기법은 (−7, 2)에서 책의 학습률로 30번 갱신합니다(SGD 0.95, 모멘텀 0.1, AdaGrad 1.5,
Adam 0.3; Nesterov와 RMSprop은 우리가 정한 0.1).
"""),
    ("code", """
paths = ex.optimizer_paths()
for name, path in paths["optimizers"].items():
    x, y = path["x"][-1], path["y"][-1]
    print(f"{name:9s} lr {path['lr']:<5g} «after 30 steps:|30번 갱신 후:» ({x!r}, {y!r})  "
          f"f = {ex.paths_function(x, y):.3g}")
plots.optimizer_paths(paths, lang=LANG)
"""),
    ("md", """
The same with the book's classes, written out as the book's script does: the parameters are a
dict, the gradient is computed by hand, and `optimizer.update(params, grads)` changes the dict in
place. The end points are the experiment's, number for number.
""", """
책의 클래스로 책의 스크립트처럼 직접 써 보면 다음과 같습니다. 매개변수는 딕셔너리이고, 기울기는
직접 계산하며, `optimizer.update(params, grads)`가 딕셔너리를 그 자리에서 바꿉니다. 도착점은 위
실험의 값과 자릿수까지 같습니다.
"""),
    ("code", """
from mitbadak.book.common.optimizer import SGD, AdaGrad, Adam, Momentum


def df(x, y):
    return x / 10.0, 2.0 * y


for optimizer in (SGD(lr=0.95), Momentum(lr=0.1), AdaGrad(lr=1.5), Adam(lr=0.3)):
    params = {"x": -7.0, "y": 2.0}
    for _ in range(30):
        gx, gy = df(params["x"], params["y"])
        optimizer.update(params, {"x": gx, "y": gy})
    path = paths["optimizers"][type(optimizer).__name__.lower()]
    same = (params["x"], params["y"]) == (path["x"][-1], path["y"][-1])
    print(f"{type(optimizer).__name__:9s} ({params['x']:.6f}, {params['y']:.6f})  "
          f"«the same as optimizer_paths():|optimizer_paths()와 같음:» {same}")
"""),
    ("md", """
### On MNIST (MNIST 데이터셋으로 본 갱신 방법 비교)

On a real problem the differences are smaller than on the valley, but they are there: the book
trains its "5-layer" network (four hidden layers of 100 ReLU units) with each optimizer on the
same mini-batches (미니배치) of 128 and plots the smoothed loss. SGD is the slowest; the others
learn faster, and which of them wins depends on the problem and on the learning rates. No method
is best everywhere: SGD is still widely used, Adam is a popular default.
""", """
### MNIST 데이터셋으로 본 갱신 방법 비교

실제 문제에서는 골짜기에서만큼 차이가 크지 않지만 차이는 있습니다. 책은 "5층" 신경망(뉴런 100개인
은닉층 4개, ReLU 함수)을 기법마다 같은 미니배치(128장)로 학습하고 평활화한 손실 함수 값을 그립니다.
SGD가 가장 느리고 나머지는 더 빨리 학습합니다. 그중 무엇이 가장 나은지는 문제와 학습률에 따라
다릅니다. 모든 문제에서 뛰어난 기법은 없습니다. SGD도 여전히 많이 쓰이고, Adam도 많이들 씁니다.
"""),
    ("code", """
curves = ex.optimizer_mnist(iterations=ITERATIONS, **mnist)
print(f"{curves['iterations']}« iterations, batches of|회 반복, 배치 크기» {curves['batch_size']}")
ranked = sorted(curves["optimizers"].items(), key=lambda item: item[1]["final_smoothed"])
for name, curve in ranked:
    print(f"{name:9s} lr {curve['lr']:<6g} «final smoothed loss|마지막 평활화 손실» "
          f"{curve['final_smoothed']:.4f}")
plots.optimizer_mnist(curves, lang=LANG)
"""),
    ("md", """
## 6.2 The initial weights (가중치의 초깃값)

Why not start every weight at 0, or at any one value? Then every unit of a layer computes the same
thing and receives the same gradient, so they stay equal forever: the layer is as good as one
unit. The weights must start random, and their **scale** matters a lot.

The book's experiment: 1,000 random inputs through five layers of 100 units, and a histogram of
each layer's outputs (the activations, 활성화값):

- **std 1** with sigmoid: the values pile up at 0 and 1, where the sigmoid is flat, so its
  gradient there is nearly 0 and backpropagation delivers almost nothing: **vanishing gradients**.
- **std 0.01**: everything lands near 0.5. Gradients survive, but all 100 units say the same
  thing, which wastes them (the network's expressiveness is limited).
- **Xavier initialization**: std 1/√n, n the number of inputs of the layer; the spread stays wide
  in every layer. It suits sigmoid and tanh.
- **He initialization**: std √(2/n) for ReLU, which zeroes half of its inputs, so the weights need
  twice the variance. With ReLU, std 0.01 shrinks the values towards 0 layer after layer, Xavier
  shrinks them slowly, He keeps them.

Below, the spread (standard deviation) of each layer's values, read from the histograms, and the
histograms themselves.
""", """
## 6.2 가중치의 초깃값

가중치를 모두 0으로, 또는 모두 같은 값으로 시작하면 어떨까요? 그러면 한 층의 뉴런이 모두 같은 값을
계산하고 같은 기울기를 받으므로 영원히 같은 값으로 남습니다. 층 전체가 뉴런 하나와 다를 바 없습니다.
그래서 가중치의 초깃값은 무작위로 정해야 하고, 그 **크기**(표준편차)가 아주 중요합니다.

책의 실험: 무작위 입력 1,000개를 뉴런 100개인 층 5개에 통과시키고 각 층의 출력(활성화값)의
분포를 히스토그램으로 그립니다.

- 시그모이드 함수에 **표준편차 1**: 활성화값이 0과 1에 몰립니다. 그 근처에서 시그모이드 함수는
  평평해서 기울기가 거의 0이고, 역전파로 전해지는 값이 거의 없습니다. **기울기 소실**입니다.
- **표준편차 0.01**: 모든 값이 0.5 근처에 모입니다. 기울기는 살아 있지만 뉴런 100개가 모두 같은
  값을 내므로 여러 개를 둔 의미가 없습니다(표현력을 제한).
- **Xavier 초깃값**: 표준편차 1/√n (n은 앞 층의 노드 수). 모든 층에서 활성화값이 넓게 퍼집니다.
  시그모이드 함수와 tanh 함수에 알맞습니다.
- **He 초깃값**: ReLU 함수용 표준편차 √(2/n). ReLU 함수는 입력의 절반을 0으로 만들므로 분산이 두
  배 필요합니다. ReLU 함수에 표준편차 0.01을 쓰면 층을 지날수록 값이 0으로 줄어들고, Xavier
  초깃값은 천천히 줄어들며, He 초깃값은 그대로 유지됩니다.

아래는 히스토그램에서 읽은 각 층 활성화값의 퍼짐(표준편차)과 히스토그램 자체입니다.
"""),
    ("code", """
hist = ex.weight_init_histogram()


def spread(counts, edges):
    # «spread»
    centres = (edges[:-1] + edges[1:]) / 2
    mean = (counts * centres).sum() / counts.sum()
    return float(np.sqrt((counts * (centres - mean) ** 2).sum() / counts.sum()))


print(f"{'':18s}" + "".join(f"«layer |»{i + 1}«|층»".rjust(8) for i in range(hist["layers"])))
for key, case in hist["cases"].items():
    edges = np.asarray(hist["edges"][case["activation"]])
    row = "".join(f"{spread(counts, edges):8.3f}" for counts in case["counts"])
    print(f"{key:18s}{row}")
plots.weight_init_histogram(hist, lang=LANG)
""", {"spread": ("the standard deviation of the values, read from the histogram (bin centres)",
                 "히스토그램에서 읽은 값의 표준편차 (구간의 가운데 값으로)")}),
    ("md", """
### On MNIST (MNIST 데이터셋으로 본 가중치 초깃값 비교)

The same 5-layer ReLU network from three initial scales, trained by SGD (learning rate 0.01) on
the same batches. With std 0.01 the signal is nearly 0 by the last layer, so are the gradients,
and the loss stays at ln 10 ≈ 2.30, the loss of guessing: it does not learn at all. He learns
fastest, Xavier follows.
""", """
### MNIST 데이터셋으로 본 가중치 초깃값 비교

같은 5층 ReLU 신경망을 세 가지 초깃값에서 시작해 같은 배치로 SGD(학습률 0.01)로 학습합니다.
표준편차 0.01에서는 마지막 층에 이를 때 신호가 거의 0이고 기울기도 그렇습니다. 손실 함수 값은
아무렇게나 찍을 때의 손실인 ln 10 ≈ 2.30에 머물러 전혀 학습하지 못합니다. He 초깃값이 가장 빠르고
Xavier 초깃값이 그 뒤를 따릅니다.
"""),
    ("code", """
inits = ex.weight_init_compare(iterations=ITERATIONS, **mnist)
for name, curve in inits["inits"].items():
    print(f"{name:9s} «std of W1:|W1의 표준편차:» {curve['std'][0]:.4f}  "
          f"«final smoothed loss|마지막 평활화 손실» {curve['final_smoothed']:.4f}")
plots.weight_init_compare(inits, lang=LANG)
"""),
    ("md", """
## 6.3 Batch Normalization (배치 정규화)

Instead of hoping the initial weights keep the activations well spread, force them: a
**Batch Normalization** layer after each Affine layer (before the activation) normalizes each
unit over the mini-batch, x̂ = (x − μ_B) / √(σ_B² + ε), then scales and shifts it,
y = γ x̂ + β, with γ (starting at 1) and β (starting at 0) learned like weights. At test time
it uses running averages of μ and σ² instead of the batch's. The book lists three gains:
training goes faster, it depends much less on the initial weights, and it reduces overfitting.

In the library it is `MultiLayerNetExtend(..., use_batchnorm=True)`, and the book's `Trainer`
runs the chapter's training loop (the batches come from NumPy's global generator, as in the book,
so `np.random.seed` fixes them). Here from std 0.01, with and without it:
""", """
## 6.3 배치 정규화

초깃값이 활성화값을 잘 퍼뜨려 주기를 바라는 대신 강제로 퍼뜨립니다. 각 Affine 계층 뒤(활성화 함수
앞)에 **배치 정규화** 계층을 두어, 미니배치 안에서 뉴런마다 x̂ = (x − μ_B) / √(σ_B² + ε)로
정규화한 뒤 y = γ x̂ + β로 확대와 이동을 합니다. γ(처음 1)와 β(처음 0)는 가중치처럼 학습합니다.
시험할 때는 배치의 값 대신 학습 중에 구한 μ와 σ²의 이동평균을 씁니다. 책이 꼽는 장점은 세 가지
입니다: 학습이 빨라지고, 초깃값에 크게 의존하지 않으며, 오버피팅을 억제합니다.

라이브러리에서는 `MultiLayerNetExtend(..., use_batchnorm=True)`이고, 책의 `Trainer`가 이 장의 학습
루프를 실행합니다(책처럼 넘파이의 전역 난수 생성기에서 배치를 뽑으므로 `np.random.seed`로
고정됩니다).
표준편차 0.01에서 시작해 배치 정규화를 쓸 때와 안 쓸 때를 비교합니다.
"""),
    ("code", """
from mitbadak.book.common.multi_layer_net_extend import MultiLayerNetExtend
from mitbadak.book.common.trainer import Trainer

x_small, t_small = mnist["x_train"][:1000], mnist["t_train"][:1000]
for use_batchnorm in (True, False):
    network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100] * 5, output_size=10,
                                  weight_init_std=0.01, use_batchnorm=use_batchnorm, seed=0)
    if use_batchnorm:
        print(" -> ".join(network.layers))
    np.random.seed(0)
    trainer = Trainer(network, x_small, t_small, mnist["x_test"], mnist["t_test"],
                      epochs=TRAINER_EPOCHS, mini_batch_size=100, optimizer="sgd",
                      optimizer_param={"lr": 0.01}, verbose=False)
    trainer.train()
    label = "«with Batch Normalization|배치 정규화 사용»" if use_batchnorm else "«without|미사용»"
    print(f"{label}: «train acc|훈련 정확도» "
          + " ".join(f"{a:.3f}" for a in trainer.train_acc_list))
"""),
    ("md", """
The book's figure: the same comparison for 16 initial scales from 1 down to 0.0001 (training
accuracy per epoch, 1,000 images). With Batch Normalization the network learns at almost every
scale; without it, only a narrow band of scales learns at all.
""", """
책의 그림: 같은 비교를 초깃값의 표준편차 16가지(1에서 0.0001까지)로 합니다(에폭마다 훈련 정확도,
이미지 1,000장). 배치 정규화를 쓰면 거의 모든 경우에 학습이 진행되고, 쓰지 않으면 좁은 범위의
초깃값에서만 학습합니다.
"""),
    ("code", """
bn = ex.batchnorm(epochs=BN_EPOCHS, **mnist)
print(f"{bn['epochs']}« epochs, |에폭, 이미지 »{bn['train_size']:,}« images|장»")
for case in bn["cases"]:
    print(f"W {case['scale']:<9.3g} «with BN|배치 정규화 사용» {case['bn_train_acc'][-1]:.3f}   "
          f"«without|미사용» {case['plain_train_acc'][-1]:.3f}")
plots.batchnorm(bn, lang=LANG)
"""),
    ("md", """
## 6.4 Overfitting (오버피팅), and two remedies

A network **overfits** when it fits its training data so well that it stops generalizing: high
accuracy (정확도) on the training data, much lower on the test data. It happens when there are
many parameters and little data. The book provokes it: only 300 training images and a network of
six hidden layers of 100.

**Weight decay (가중치 감소)** penalizes large weights: the loss gains ½λ Σ‖W‖² (λ = 0.1 here), so
every gradient dW gains λW, pulling the weights towards 0. The train-test gap narrows (and the
training accuracy no longer reaches 100 %).
""", """
## 6.4 바른 학습을 위해: 오버피팅과 대책 두 가지

신경망이 훈련 데이터에만 지나치게 적응해 범용 성능이 떨어지는 것을 **오버피팅**이라고 합니다.
훈련 데이터의 정확도는 높은데 시험 데이터의 정확도는 훨씬 낮습니다. 매개변수가 많고 훈련 데이터가
적을 때 일어납니다. 책은 일부러 오버피팅을 일으킵니다: 훈련 이미지 300장에 뉴런 100개인 은닉층이
6개인 신경망입니다.

**가중치 감소**는 큰 가중치에 벌점을 줍니다. 손실 함수에 ½λ Σ‖W‖²(여기서는 λ = 0.1)을 더하므로
모든 기울기 dW에 λW가 더해져 가중치를 0 쪽으로 당깁니다. 훈련과 시험 정확도의 차이가 줄어듭니다
(그리고 훈련 정확도가 100 %에 이르지 않습니다).
"""),
    ("code", """
def last_epoch(name, curves):
    train, test = curves["train_acc"][-1], curves["test_acc"][-1]
    print(f"{name:24s} «train|훈련» {train:.3f}  «test|시험» {test:.3f}  "
          f"«gap|차이» {train - test:.3f}")


decay = ex.overfit_weight_decay(epochs=DECAY_EPOCHS, **mnist)
print(f"{decay['epochs']}« epochs, |에폭, 훈련 이미지 »{decay['train_size']}"
      "« training images|장»")
last_epoch(f"«weight decay|가중치 감소» λ={decay['weight_decay']:g}", decay)
last_epoch("«without|미사용» (λ=0)", decay["baseline"])
plots.overfit_weight_decay(decay, lang=LANG)
"""),
    ("md", """
**Dropout (드롭아웃)** switches off a random part of the hidden units (here 20 %) at every training
step, a new choice each time; at test time every unit works, its output scaled by the share that
was kept (1 − 0.2), as in the book. Each step trains a different thinned network, and the test
uses something like their average, an ensemble in one network. It is slow to get going (at the
quick size it is still climbing; `full=True` runs the book's 301 epochs), and its train-test gap
stays small all the way.
""", """
**드롭아웃**은 학습의 매 단계마다 은닉층 뉴런의 일부(여기서는 20 %)를 무작위로 끕니다. 끄는
뉴런은 매번 새로 고릅니다. 시험 때에는 모든 뉴런을 쓰되, 책처럼 출력에 남긴 비율(1 − 0.2)을
곱합니다. 단계마다 다른 작은 신경망을 학습하고 시험에서는 그 평균 비슷한 것을 쓰는 셈이므로, 신경망
하나로 앙상블 학습을 하는 것과 같습니다. 학습이 본궤도에 오르기까지 오래 걸리지만(빠른 크기에서는
아직 올라가는 중입니다. `full=True`이면 책의 301에폭을 실행합니다), 훈련과 시험 정확도의 차이는
내내 작게 유지됩니다.
"""),
    ("code", """
dropout = ex.overfit_dropout(epochs=DROPOUT_EPOCHS, **mnist)
print(f"{dropout['epochs']}« epochs, |에폭, 훈련 이미지 »{dropout['train_size']}"
      "« training images|장»")
last_epoch(f"«Dropout|드롭아웃» {dropout['dropout_ratio']:g}", dropout)
last_epoch("«without|미사용»", dropout["baseline"])
plots.overfit_dropout(dropout, lang=LANG)
"""),
    ("md", """
## Gradient check with Batch Normalization (배치 정규화의 기울기 확인)

The book checks its Batch Normalization network's backpropagation against numerical gradients on
**one** image and finds beta2's gradients disagree (a mean difference of about 0.05) while all the
others agree. That is not a bug: with a batch of one, the batch mean is the input itself, so every
normalized value is 0 and every BN output is just β (0 at the start). Nothing before it can change
the loss, so every numerical gradient before it is exactly 0; and β sits right on ReLU's kink at 0,
where backpropagation takes the slope 0 and the central difference takes ½. With a batch of 10
the outputs vary again, nothing sits on the kink, and every parameter agrees. Each row: the mean
absolute difference (the book's number) and, in brackets, the relative error. How large beta2's
difference is depends on the network: the book's 784-100-100-10 with `full=True`, 784-10-10-10
at the quick size.
""", """
## 배치 정규화의 기울기 확인

책은 배치 정규화를 쓴 신경망의 오차역전파법을 이미지 **1장**으로 수치 미분과 비교하고, beta2의
기울기만 어긋나고(평균 차이 약 0.05) 나머지는 모두 일치한다는 결과를 얻습니다. 이것은 버그가
아닙니다. 배치 크기가 1이면 배치의 평균이 입력 그 자체이므로 정규화한 값은 모두 0이고, 배치 정규화
계층의 출력은 모두 β(처음에는 0)입니다. 그 앞의 어떤 값도 손실을 바꾸지 못하므로 앞쪽의 수치 미분
기울기는 정확히 0입니다. 그리고 β가 ReLU 함수가 꺾이는 0에 놓여, 오차역전파법은 기울기 0을,
중심 차분은 ½을 씁니다. 배치가 10장이면 출력이 다시 다양해지고 꺾이는 점에 놓이는 값도 없어서
모든 매개변수가 일치합니다. 각 행은 평균 절대 오차(책이 출력하는 값)와 괄호 안의 상대 오차입니다.
beta2의 오차가 얼마나 큰지는 신경망에 따라 다릅니다. `full=True`이면 책의 784-100-100-10, 빠른
크기에서는 784-10-10-10입니다.
"""),
    ("code", """
x_check, t_check, used_check = ex.load_check_images(data="mnist-sample" if TINY else None)
check = ex.batchnorm_gradient_check(x_check, t_check)
print(used_check, "784-" + "-".join(map(str, check["hidden"])) + "-10")
for key in check["one"]:
    one, batch = check["one"][key], check["batch"][key]
    print(f"{key:7s} «one image:|이미지 1장:» {one['mean_abs_diff']:.2e} ({one['relative']:.1e})"
          f"   «batch of 10:|배치 10장:» {batch['mean_abs_diff']:.2e} ({batch['relative']:.1e})")
plots.batchnorm_gradient_check(check, lang=LANG)
"""),
    ("md", """
## The same on the command line, and the book's sizes

Every experiment above is one command that writes its numbers (`data.json` and a CSV) and its
figure into a folder, with a progress bar; Ctrl-C keeps what was computed:

```sh
mitbadak experiment optimizer-paths --lang ko
mitbadak experiment batchnorm --full      # the book's size
```

`mitbadak experiment --help` lists the eight names. The chapter's last section, choosing
hyperparameters on validation data by random search, is `mitbadak search`.
""", """
## 명령줄에서 같은 실험, 그리고 책의 크기

위의 실험은 모두 명령 하나로 실행되고, 숫자(`data.json`과 CSV)와 그림을 폴더에 씁니다. 진행
막대가 나오고, Ctrl-C로 멈춰도 그때까지 계산한 값은 남습니다:

```sh
mitbadak experiment optimizer-paths --lang ko
mitbadak experiment batchnorm --full      # 책의 크기
```

실험 여덟 개의 이름은 `mitbadak experiment --help`가 보여 줍니다. 이 장의 마지막 절, 검증
데이터로 하이퍼파라미터를 무작위로 탐색하는 방법은 `mitbadak search`로 실행합니다.
"""),
]
