"""`mitbadak predict MODEL IMAGE...`: classify photos or scans of hand-written digits."""

from __future__ import annotations

import json
import sys

from mitbadak.cli import CLIError
from mitbadak.cli._args import add_device_argument, int_between, resolve_device_argument


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="classify digit images (PNG/JPEG) or 28x28 inputs (.npy)",
        description="Preprocess each image the way MNIST was made (grayscale, inverted if dark on "
        "light, cropped, scaled to 20x20 inside 28x28, centred by mass) and print the top-3 "
        "classes. A .npy file (784 values in [0, 1], e.g. the draw page's '28x28 input' "
        "download) is used as it is. MODEL is a .npz model file, a run folder, or one of the "
        "book's pickles (sample_weight.pkl, params.pkl, deep_convnet_params.pkl).",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument(
        "--top", type=int_between(1, 10), default=3, help="how many classes to show (default 3)"
    )
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from mitbadak.cli._args import load_model_noting
    from mitbadak.core.backend import to_host
    from mitbadak.files.photos import (
        ImageError,
        load_digit_array,
        load_image,
        preprocess_digit,
    )

    device = resolve_device_argument(args)
    network, _meta = load_model_noting(args.model)
    network.to(device)
    if network.input_size != 784:
        raise CLIError(
            f"{args.model}: the model expects {network.input_size} inputs, not 28x28 images"
        )
    top = max(1, min(args.top, network.output_size))
    results, failures = [], 0
    for path in args.images:
        try:
            if str(path).lower().endswith(".npy"):
                x = load_digit_array(path)  # already the network's input: no preprocessing
            else:
                x = preprocess_digit(load_image(path))
        except ImageError as exc:
            failures += 1
            results.append({"image": path, "error": str(exc)})
            if not args.json:
                print(f"mitbadak: error: {exc}", file=sys.stderr)
            continue
        # (1, 784) for a multilayer net, (1, 1, 28, 28) for a convnet
        batch = x.reshape((1, *getattr(network, "input_shape", (x.size,))))
        probs = to_host(network.predict_proba(batch))[0]
        order = np.argsort(probs)[::-1][:top]
        entry = {
            "image": path,
            "prediction": int(order[0]),
            "top": [{"class": int(c), "probability": round(float(probs[c]), 6)} for c in order],
        }
        results.append(entry)
        if not args.json:
            ranked = "  ".join(f"{d['class']} ({d['probability']:.1%})" for d in entry["top"])
            print(f"{path}: {entry['prediction']}   top-{top}: {ranked}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failures else 0
