"""experiments/mobilenet_ft.yaml in PyTorch, as a fair PyTorch user would write it, for an
end-to-end comparison with `runner run` (ci/bench/recipe_compare.py runs both).

Usage: python ci/bench/torch_recipe.py [--data DIR] [--weights FILE] [--epochs HEAD TUNE]
                                       [--threads N] [--seed S] [--dropout P] [--lr LR]
                                       [--device cpu|cuda[:N]] [--tf32 on|off]

The same work as the spec:
- data: the class folders under DATA/train and DATA/validation, every image decoded once and
  resized to 160x160 (bilinear, no crop) into memory; 20% of each validation class carved off as
  the test split; batches of 32, training order shuffled per epoch;
- augmentation of training batches: horizontal flip (p=0.5) and a rotation of up to 0.2 of a
  turn (+-72 degrees) with reflected borders, as Keras' RandomFlip/RandomRotation;
- model: the shared TF-slim MobileNetV2 1.0 weights (batch norm folded into the conv biases,
  TensorFlow SAME padding), x/127.5-1, global average pool, Dropout(0.2), Linear(1280, 1),
  BCE-with-logits;
- phase 1: the base frozen and run under torch.no_grad (as the frozen Keras base records no
  gradients), Adam 1e-4, HEAD epochs;
- phase 2: from expanded_conv_12's depthwise conv on trainable (Keras fine_tune_at=100), the
  frozen part under no_grad, RMSprop 1e-5 (Keras defaults rho 0.9, eps 1e-7), TUNE epochs, then
  the weights of the best epoch by validation accuracy (the spec's early_stopping restore_best);
- evaluation on the test split.
On a GPU (`--device cuda`) the images stay decoded in host memory and each batch is copied to the
GPU, where augmentation and the model run (the random draws are the CPU's, so they are the same
on every device); `--tf32` sets PyTorch's TF32 switches for matmuls and cuDNN convolutions
(default: PyTorch's own, on for convolutions and off for matmuls).
Prints one JSON line per phase and a final JSON summary (wall seconds per phase, accuracies,
peak resident memory). Checks the model against reference_io.safetensors first.
"""

import argparse
import json
import math
import os
import random
import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "../shared/weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors"
DATA = ROOT / "../shared/data/cats_and_dogs"
# (name, stride, expand) of the inverted residual blocks; residual when stride 1 and the
# channel counts match.
BLOCKS = [(f"expanded_conv_{i}", s) for i, s in enumerate(
    [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1], start=1)]
NAMES = [name for name, _ in BLOCKS]


def same_pad(x, kernel, stride):
    """TensorFlow SAME padding: the extra row/column goes to the bottom/right."""
    h, w = x.shape[2:]
    ph = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class Conv(torch.nn.Module):
    def __init__(self, weights, name, stride=1, groups=1, relu6=True):
        super().__init__()
        self.weight = torch.nn.Parameter(weights[f"{name}.weight"].clone())
        self.bias = torch.nn.Parameter(weights[f"{name}.bias"].clone())
        self.stride, self.groups, self.relu6 = stride, groups, relu6

    def forward(self, x):
        k = self.weight.shape[-1]
        if k > 1:
            x = same_pad(x, k, self.stride)
        x = F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)
        return F.relu6(x) if self.relu6 else x


class Block(torch.nn.Module):
    def __init__(self, weights, name, stride):
        super().__init__()
        expand = f"{name}.expand.weight" in weights
        channels = weights[f"{name}.depthwise.weight"].shape[0]
        layers = [Conv(weights, f"{name}.expand")] if expand else []
        layers.append(Conv(weights, f"{name}.depthwise", stride, groups=channels))
        layers.append(Conv(weights, f"{name}.project", relu6=False))
        self.layers = torch.nn.Sequential(*layers)
        in_channels = weights[f"{name}.expand.weight"].shape[1] if expand else channels
        self.residual = stride == 1 and in_channels == weights[f"{name}.project.weight"].shape[0]

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


def mobilenet_v2(weights):
    return torch.nn.ModuleDict(
        {"Conv2d_0_0": Conv(weights, "Conv2d_0_0", 2)}
        | {name: Block(weights, name, stride) for name, stride in BLOCKS}
        | {"Conv2d_18_1": Conv(weights, "Conv2d_18_1")}
    )


def base_forward(base, x, cut=None):
    """Runs the base. `cut` = (block, layer index) where training starts: everything before it
    runs under no_grad (all of the base when `cut` is None)."""
    first = NAMES.index(cut[0]) if cut else len(NAMES)
    with torch.no_grad():
        x = base["Conv2d_0_0"](x)
        for name in NAMES[:first]:
            x = base[name](x)
        if cut is None:
            return base["Conv2d_18_1"](x)
        block = base[cut[0]]
        y = x
        for layer in block.layers[: cut[1]]:
            y = layer(y)
    for layer in block.layers[cut[1]:]:
        y = layer(y)
    x = x + y if block.residual else y
    for name in NAMES[first + 1:]:
        x = base[name](x)
    return base["Conv2d_18_1"](x)


def load_split(folder, size):
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, labels = [], []
    for label, cls in enumerate(classes):
        for path in sorted((folder / cls).iterdir()):
            with Image.open(path) as im:
                im = im.convert("RGB").resize((size, size), Image.BILINEAR)
            images.append(np.asarray(im))
            labels.append(label)
    return np.stack(images), np.array(labels)


def augment(batch, generator):
    """Random horizontal flip and rotation (+-0.2 turn, reflected borders) of float NCHW, on the
    batch's device (the random draws come from the CPU generator)."""
    n = batch.shape[0]
    flip = (torch.rand(n, generator=generator) < 0.5).to(batch.device)
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    angle = ((torch.rand(n, generator=generator) * 2 - 1) * 0.2 * 2 * math.pi).to(batch.device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros(n, device=batch.device)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1),
                         torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, batch.shape, align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def batches(x, y, size, order, device="cpu"):
    for i in range(0, len(order), size):
        idx = order[i:i + size]
        images = torch.from_numpy(x[idx]).to(device).permute(0, 3, 1, 2).float()
        yield images, torch.from_numpy(y[idx]).float().to(device)


def evaluate(base, head, x, y, device="cpu"):
    head.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for images, labels in batches(x, y, 32, np.arange(len(y)), device):
            logits = head(base_forward(base, images / 127.5 - 1).mean((2, 3))).squeeze(1)
            loss += F.binary_cross_entropy_with_logits(logits, labels, reduction="sum").item()
            correct += ((logits > 0).float() == labels).sum().item()
    return correct / len(y), loss / len(y)


def check_reference(base, weights_path, device):
    ref = load_file(str(Path(weights_path).parent / "reference_io.safetensors"))
    with torch.no_grad():
        features = base_forward(base, ref["input_nchw"].to(device)).mean((2, 3))
    diff = (features - ref["features"].to(device)).abs().max().item()
    assert diff < 1e-3, f"the PyTorch base does not reproduce reference_io: max diff {diff}"
    return diff


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--weights", default=str(WEIGHTS))
    parser.add_argument("--epochs", nargs=2, type=int, default=[10, 10])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dropout", type=float, default=0.2, help="the head's dropout rate")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam's learning rate (feature extraction)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--tf32", choices=["on", "off"], help="TF32 for matmuls and cuDNN convolutions")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    weights = load_file(args.weights)
    base = mobilenet_v2(weights).to(device)
    base.requires_grad_(False)
    diff = check_reference(base, args.weights, device)

    x_train, y_train = load_split(Path(args.data) / "train", 160)
    x_val, y_val = load_split(Path(args.data) / "validation", 160)
    test = np.concatenate([rng.choice(np.flatnonzero(y_val == c), round(0.2 * (y_val == c).sum()), replace=False)
                           for c in np.unique(y_val)])
    keep = np.setdiff1d(np.arange(len(y_val)), test)
    x_test, y_test, x_val, y_val = x_val[test], y_val[test], x_val[keep], y_val[keep]
    load_seconds = time.perf_counter() - started
    print(json.dumps({"load_seconds": round(load_seconds, 1), "reference_max_diff": diff,
                      "train": len(y_train), "validation": len(y_val), "test": len(y_test),
                      "device": str(device), "torch": torch.__version__,
                      "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                      "tf32_cudnn": torch.backends.cudnn.allow_tf32}), flush=True)

    head = torch.nn.Sequential(torch.nn.Dropout(args.dropout), torch.nn.Linear(1280, 1)).to(device)
    phases = [
        ("feature_extraction", args.epochs[0], None,
         lambda params: torch.optim.Adam(params, lr=args.lr)),
        ("fine_tune", args.epochs[1], ("expanded_conv_12", 1),
         lambda params: torch.optim.RMSprop(params, lr=1e-5, alpha=0.9, eps=1e-7)),
    ]
    report = {"phases": []}
    for name, epochs, grad_from, make_optimizer in phases:
        phase_started = time.perf_counter()
        params = list(head.parameters())
        if grad_from is not None:
            block, first = grad_from
            for n in NAMES[NAMES.index(block) + 1:]:
                base[n].requires_grad_(True)
            for layer in base[block].layers[first:]:
                layer.requires_grad_(True)
            base["Conv2d_18_1"].requires_grad_(True)
            params += [p for p in base.parameters() if p.requires_grad]
        optimizer = make_optimizer(params)
        best = (-1.0, None)
        for epoch in range(epochs):
            head.train()
            order = rng.permutation(len(y_train))
            for images, labels in batches(x_train, y_train, 32, order, device):
                images = augment(images, generator) / 127.5 - 1
                features = base_forward(base, images, grad_from).mean((2, 3))
                loss = F.binary_cross_entropy_with_logits(head(features).squeeze(1), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            accuracy, val_loss = evaluate(base, head, x_val, y_val, device)
            print(json.dumps({"phase": name, "epoch": epoch + 1, "validation_accuracy": accuracy,
                              "validation_loss": round(val_loss, 4)}), flush=True)
            if grad_from is not None and accuracy > best[0]:
                best = (accuracy, ({k: v.clone() for k, v in base.state_dict().items()},
                                   {k: v.clone() for k, v in head.state_dict().items()}))
        if best[1] is not None:
            base.load_state_dict(best[1][0])
            head.load_state_dict(best[1][1])
        report["phases"].append({"phase": name, "seconds": round(time.perf_counter() - phase_started, 1)})
    test_accuracy, _ = evaluate(base, head, x_test, y_test, device)
    report["test_accuracy"] = test_accuracy
    report["validation_accuracy"] = evaluate(base, head, x_val, y_val, device)[0]
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["peak_memory_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
