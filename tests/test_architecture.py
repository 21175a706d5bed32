"""The package layout: the import graph has no circle and no upward arrow, and the old module
names of 0.1 still import (the same module objects) for one release.

The rule (docs/architecture.md): every module belongs to one layer,

    core < nn < devices, files < training < views < book < doctor, web < cli < the package root

and imports only modules of its own package or of a lower layer. Two packages of one rank never
import each other (devices and files, doctor and web). No module imports the package root
``mitbadak`` itself (the version is ``mitbadak.core.version``). Imports are read with ``ast``:
module-level, nested inside functions, ``import a.b`` and relative ``from . import x`` alike.
"""

from __future__ import annotations

import ast
import importlib
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mitbadak
from mitbadak import _aliases

SRC = Path(mitbadak.__file__).resolve().parent
ROOT = Path(__file__).resolve().parent.parent

#: top-level package or module -> rank (lower ranks never import higher ones)
RANKS = {
    "core": 0,
    "nn": 1,
    "devices": 2,
    "files": 2,
    "training": 3,
    "views": 4,
    "book": 5,
    "doctor": 6,
    "web": 6,
    "cli": 7,
    "__main__": 8,
    "_aliases": 8,
    "": 9,  # mitbadak/__init__.py: the public API and the composition root
}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in SRC.rglob("*.py"):
        parts = ("mitbadak", *path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _targets(module: str, node: ast.AST) -> list[str]:
    """The mitbadak modules one import statement names (``from a import b``: a.b if that is a
    module, else a)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    else:
        return []
    return [n for n in names if n == "mitbadak" or n.startswith("mitbadak.")]


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(module, node):
                found.add(target)
        edges[module] = found - {module}
    return edges


GRAPH = _graph()


def _group(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_the_graph_reads_nested_relative_and_dotted_imports():
    # the module docstring's claims, on the modules that show them
    assert "mitbadak.devices.fused_step" in GRAPH["mitbadak.training.steps"]  # inside a function
    assert "mitbadak.nn.networks" in GRAPH["mitbadak.devices.fused_step"]
    assert "mitbadak.views.plots._base" in GRAPH["mitbadak.views.plots.book"]
    tree = ast.parse("from . import idx\nfrom ..modelfile import x\nimport mitbadak.core.backend")
    got = [t for node in tree.body for t in _targets("mitbadak.files.datasets", node)]
    assert got == ["mitbadak.files.datasets.idx", "mitbadak.files.modelfile",
                   "mitbadak.core.backend"]  # fmt: skip


def test_every_import_names_a_module_that_exists_and_no_old_name():
    for module, targets in GRAPH.items():
        for target in targets:
            moved = _aliases.new_name(target)
            assert moved is None, f"{module} imports the old name {target}: use {moved}"
            assert target in MODULES, f"{module} imports {target}, which is not a module"


def test_no_module_imports_the_package_root():
    offenders = [m for m, targets in GRAPH.items() if "mitbadak" in targets]
    assert offenders == []  # the version: mitbadak.core.version


def test_every_module_belongs_to_a_layer():
    assert {_group(m) for m in MODULES} <= set(RANKS), {_group(m) for m in MODULES} - set(RANKS)


def test_no_upward_import_and_no_import_between_packages_of_one_rank():
    wrong = []
    for module, targets in GRAPH.items():
        for target in targets - {"mitbadak"}:
            here, there = _group(module), _group(target)
            if here != there and RANKS[there] >= RANKS[here]:
                wrong.append(f"{module} ({here}) -> {target} ({there})")
    assert wrong == []


def test_no_import_circle():
    # Tarjan's strongly connected components: every component is one module
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert circles == []


def test_the_checker_finds_a_circle_and_an_upward_import(monkeypatch):
    # the two tests above on a graph that breaks both rules
    broken = {k: set(v) for k, v in GRAPH.items()}
    broken["mitbadak.nn.networks"].add("mitbadak.devices.fused_step")
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", broken)
    with pytest.raises(AssertionError, match="nn.networks"):
        test_no_import_circle()
    with pytest.raises(AssertionError, match=r"nn.networks \(nn\) -> mitbadak.devices"):
        test_no_upward_import_and_no_import_between_packages_of_one_rank()


# -- the old names ------------------------------------------------------------------------------


def _forget(name: str) -> None:
    """Drop an old name (and its submodules) from sys.modules and the parent's attributes."""
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    parent, _, leaf = name.rpartition(".")
    if parent == "mitbadak":
        mitbadak.__dict__.pop(leaf, None)


@pytest.mark.parametrize("old", sorted(_aliases.MOVED))
def test_every_old_name_imports_the_same_module_and_warns_once(old):
    new = importlib.import_module(_aliases.MOVED[old])
    _forget(old)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {_aliases.MOVED[old]}"):
        got = importlib.import_module(old)
    assert got is new and sys.modules[old] is new
    assert new.__name__ == new.__spec__.name == _aliases.MOVED[old]  # its own identity kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second import is silent
        assert importlib.import_module(old) is new
        assert getattr(mitbadak, old.split(".")[1]) is new


def test_old_names_of_submodules_and_from_imports():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import mitbadak.networks
        from mitbadak.datasets import load_mnist
        from mitbadak.datasets.idx import read_idx
        from mitbadak.layers import Affine
        from mitbadak.plots.training_curves import loss_curve
    from mitbadak.files.datasets import idx
    from mitbadak.views.plots import training_curves

    assert load_mnist is mitbadak.load_mnist and Affine is mitbadak.Affine
    assert read_idx is idx.read_idx and sys.modules["mitbadak.datasets.idx"] is idx
    assert loss_curve is training_curves.loss_curve
    assert mitbadak.networks.TwoLayerNet is mitbadak.TwoLayerNet


def test_an_old_root_attribute_warns_at_the_callers_line():
    _forget("mitbadak.descent")
    with pytest.warns(DeprecationWarning) as caught:
        module = mitbadak.descent
    assert module is importlib.import_module("mitbadak.views.descent")
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name]
    with pytest.raises(AttributeError, match="no attribute 'no_such_module'"):
        mitbadak.no_such_module  # noqa: B018


def test_monkeypatching_an_old_name_patches_the_module(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("mitbadak.gradcheck")
    from mitbadak.nn import gradcheck

    monkeypatch.setattr(old, "supports_fast", lambda network: "patched")
    assert gradcheck.supports_fast(None) == "patched"


def test_the_public_api_is_unchanged():
    """The 0.1 names, in order, plus chapter 6's (BatchNormalization, Dropout,
    MultiLayerNetExtend, Nesterov, RMSprop, search, tune) and chapters 7-8's (SimpleConvNet,
    DeepConvNet): an addition is deliberate, a removal a break."""
    assert mitbadak.__all__ == [
        "__version__", "step_function", "sigmoid", "sigmoid_grad", "relu", "identity_function",
        "softmax", "sum_squares_error", "cross_entropy_error", "numerical_diff",
        "numerical_gradient", "gradient_descent", "tangent_line", "MulLayer", "AddLayer", "Relu",
        "Sigmoid", "Affine", "SoftmaxWithLoss", "BatchNormalization", "Dropout", "init_network",
        "forward", "predict", "SimpleNet", "simpleNet", "TwoLayerNet", "MultiLayerNet",
        "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet", "gradient_check", "SGD",
        "Momentum", "AdaGrad", "Adam", "Nesterov", "RMSprop", "train", "search", "tune",
        "load_mnist", "save_model", "load_model", "import_book_weights", "load_book_weights",
        "find_book_weights",
    ]  # fmt: skip
    for name in mitbadak.__all__:
        assert getattr(mitbadak, name) is not None, name
    from mitbadak.core.version import __version__

    assert mitbadak.__version__ == __version__


def test_mitbadak_training_is_the_package_and_gives_the_loops_names():
    from mitbadak import training
    from mitbadak.training import loop

    assert training.__all__ == loop.__all__
    for name in loop.__all__:
        assert getattr(training, name) is getattr(loop, name), name


def test_our_docs_scripts_and_notebooks_use_the_new_names():
    import re

    old = "|".join(re.escape(name) for name in sorted(_aliases.MOVED, key=len, reverse=True))
    leaves = "|".join(name.split(".")[1] for name in _aliases.MOVED)
    pattern = re.compile(
        rf"(from ({old})(\.\w+)* import|import ({old})\b"
        rf"|from mitbadak import ([\w ,]+, )?({leaves})\b|\b(mb|mitbadak)\.({leaves})\.)"
    )
    places = [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("notebooks/**/*.ipynb"),
              *ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("tests/*.py"),
              *SRC.rglob("*.py")]  # fmt: skip
    found = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path in places
        if path.name not in (Path(__file__).name, "_aliases.py")
        for m in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# -- the engines a higher layer plugs into a lower one --------------------------------------------


def test_the_fused_cupy_scores_are_registered_with_the_networks(monkeypatch):
    import types

    from mitbadak.devices import cuda_kernels, fused_step
    from mitbadak.nn.networks import DEVICE_SCORES, TwoLayerNet

    supports, scores = DEVICE_SCORES["cupy"]
    net = TwoLayerNet(6, 5, 3, seed=0, activation="tanh")
    assert supports(net)
    fake = types.ModuleType("cupy")  # NumPy under CuPy's name, with the reference kernels
    fake.__getattr__ = lambda name: getattr(np, name)
    calls = []
    real = fused_step.fused_scores

    def on_numpy(net, x, kernels=None):
        calls.append(x.shape)
        return real(net, x, cuda_kernels.reference_kernels())

    x = np.random.default_rng(0).random((4, 6))
    want = net.forward_layers(x)
    monkeypatch.setattr(fused_step, "fused_scores", on_numpy)
    monkeypatch.setattr(net, "_xp", fake)
    from mitbadak.training.steps import choose_scores

    np.testing.assert_allclose(choose_scores(net, fake)(x), want, rtol=1e-12)
    assert calls == [(4, 6)]  # inference on "cupy" went through the registered engine
    np.testing.assert_allclose(net.scores(x), want, rtol=1e-12)  # the network: its layers
    assert calls == [(4, 6)]


def test_run_folders_get_their_curves_from_the_views_layer():
    from mitbadak.training import runs
    from mitbadak.views.run_curves import write_run_curves

    assert runs._curve_writers == [write_run_curves]
