"""Chapter 8's notebook (딥러닝), in the format of ``make_notebooks.py``: its title cell and the
cells after the shared setup cell. The book's trained DeepConvNet (``deep_convnet_params.pkl``)
is used where it is found; without it the notebook says how to get it and half-float trains a
small SimpleConvNet briefly instead."""

# ruff: noqa: E501  (Korean prose is wide; a bilingual «en|ko» phrase stays on one line)
from __future__ import annotations

TITLE = ("md", """
# Chapter 8 — Deep learning (8장 딥러닝)

Deeper networks learn more from the same images. The book's **DeepConvNet** stacks six 3×3
convolutions (16, 16, 32, 32, 64, 64 filters) with ReLU, pools after every second one, and ends
with two Affine layers and Dropout; He initial weights, Adam. Trained for 20 epochs on MNIST
(`mitbadak train --model deepconvnet`, the book's `train_deepnet.py`), it reaches 99.35 %. This
notebook reads the book's trained weights, looks at the digits it still gets wrong, and shows
that 16-bit floats lose nothing here.
""", """
# 8장 딥러닝

신경망을 깊게 하면 같은 이미지에서 더 많이 배웁니다. 책의 **DeepConvNet**은 3×3 합성곱 여섯 개(필터
16, 16, 32, 32, 64, 64개)를 ReLU와 함께 쌓고 두 층마다 풀링을 한 뒤, Affine 계층 두 개와 드롭아웃으로
끝납니다. 가중치 초깃값은 He 초깃값, 최적화는 Adam입니다. MNIST로 20에폭 학습하면(`mitbadak train
--model deepconvnet`, 책의 `train_deepnet.py`) 정확도가 99.35%에 이릅니다. 이 노트북은 책에서 학습한
가중치를 읽어 아직 틀리는 숫자를 보고, 16비트 부동소수점으로도 정확도가 떨어지지 않음을 확인합니다.
""")

BODY = [
    ("code", """
from mitbadak.training import experiments as ex

deep = mb.DeepConvNet(seed=0)
print(deep)
print("«parameters:|매개변수 수:»", f"{sum(v.size for v in deep.params.values()):,}")
test = ex.load_test_images(data_dir=SHARED / "mnist")
x_test, t_test = test["x_test"], test["t_test"]
print(test["used"])
weights = ex.optional_weights("deep_convnet_params.pkl", SHARED)
if weights is None:
    print("«The book's deep_convnet_params.pkl was not found.|책의 deep_convnet_params.pkl이 없습니다.»")
    print("«Get it with: mitbadak data download book-convnets|받는 방법: mitbadak data download book-convnets»")
"""),
    ("md", """
## 8.1 The digits it gets wrong

The network in test mode (Dropout scales by 0.5) on the first 1,000 test images: each wrong
answer with its label. Many are digits a person would hesitate over too.
""", """
## 8.1 틀린 숫자들

시험 모드(드롭아웃은 0.5를 곱합니다)의 신경망을 시험 이미지 앞 1,000장에 적용해, 틀린 답마다 정답과 함께
보여 줍니다. 사람도 망설일 만한 숫자가 많습니다.
"""),
    ("code", """
accuracies = {}
if weights is not None:
    wrong = ex.misclassified(x_test=x_test, t_test=t_test, weights=weights)
    accuracies["DeepConvNet"] = wrong["accuracy"]
    print(f"«accuracy|정확도» {wrong['accuracy']:.4f} ({wrong['n']:,}« images|장»); "
          f"«(label, answer):|(정답, 예측):» {wrong['pairs']}")
    display(plots.misclassified_convnet(wrong, lang=LANG))
else:
    print("«skipped: needs the book's weights|건너뜀: 책의 가중치가 필요합니다»")
"""),
    ("md", """
## 8.3 Half precision (16-bit floats)

The book rounds every weight and image to `float16` and computes again: the accuracy does not
change. Deep learning needs few significant digits, which is why GPUs compute in half precision.
""", """
## 8.3 반정밀도(16비트) 부동소수점

책은 가중치와 이미지를 모두 `float16`으로 반올림하고 다시 계산합니다. 정확도는 변하지 않습니다.
딥러닝에는 유효숫자가 많이 필요하지 않고, 그래서 GPU는 반정밀도로 계산합니다.
"""),
    ("code", """
if weights is None:
    sample = ex.load_experiment_data("mnist-sample")
    half = ex.half_float(seed=0, x_test=x_test, t_test=t_test, x_train=sample["x_train"],
                         t_train=sample["t_train"])
else:
    half = ex.half_float(x_test=x_test, t_test=t_test, weights=weights)
for dtype, acc in half["accuracy"].items():
    print(f"{half['network']} {dtype}: {acc:.4f}  «answers changed:|바뀐 답:» {half['changed'][dtype]}")
plots.half_float(half, lang=LANG)
"""),
    ("md", """
## The accuracies

The book's networks on MNIST's 10,000 test images (measured with the book's own code):
SimpleConvNet 98.90 %, DeepConvNet 99.35 %. On Fashion-MNIST (clothes, harder than digits),
`mitbadak train --model convnet --dataset fashion-mnist` (the book's recipe, 20 epochs) reached
0.9159 test accuracy on a shared 2-core machine in 8.3 minutes (0.894 after 5 epochs).
""", """
## 정확도

책의 신경망을 MNIST 시험 이미지 10,000장에 적용한 정확도(책의 코드로 잰 값): SimpleConvNet 98.90%,
DeepConvNet 99.35%입니다. Fashion-MNIST(옷 이미지로, 숫자보다 어렵습니다)에서는 `mitbadak train
--model convnet --dataset fashion-mnist`(책의 설정, 20에폭)가 코어 2개를 나눠 쓰는 기계에서 8.3분 만에
시험 정확도 0.9159에 이르렀습니다(5에폭 후 0.894).
"""),
    ("code", """
book = {"SimpleConvNet «(the book, 10,000 images)|(책, 10,000장)»": 0.9890,
        "DeepConvNet «(the book, 10,000 images)|(책, 10,000장)»": 0.9935}
measured = {f"{name} «(here, |(여기서, »{len(x_test[:1000]):,}«)|장)»": acc
            for name, acc in accuracies.items()}
for name, acc in {**book, **measured}.items():
    print(f"{name:<45} {acc:.4f}")
"""),
]
