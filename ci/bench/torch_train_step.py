"""The same work as `cargo bench --bench train_step`, in PyTorch, for a speed ratio.

Usage: python ci/bench/torch_train_step.py [STEPS] [DEVICE] [--tf32 on|off] (default 8 timed
steps after 2 warm-up, on the CPU; DEVICE `cuda` or `cuda:N` for a GPU, timed after synchronizing
it; `--tf32` sets PyTorch's TF32 switches for matmuls and cuDNN convolutions, by default on for
convolutions and off for matmuls). The last line of the output is the figures as JSON.

MobileNetV2 1.0 (torchvision, random weights: speed does not depend on them) at 160x160,
batch 32, threads like runner's (torch.set_num_threads: OMP_NUM_THREADS, else os.cpu_count()):
- feature extraction: base frozen and in eval mode, global average pool, Dropout(0.2),
  Linear(1280, 1), BCE-with-logits, Adam 1e-4 (only the head trains; the base runs under
  no_grad, as the tutorial's frozen Keras base does not record gradients);
- fine-tuning: blocks from index 13 on (torchvision's features[13], runner's
  expanded_conv_12) train with batch norm in eval mode, RMSprop 1e-5;
- inference of the whole model under no_grad.
Needs torch and torchvision: ci/bench/setup-torch.sh makes a venv with them.
"""

import argparse
import json
import os
import time

import torch
import torchvision


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("steps", nargs="?", type=int, default=8)
    parser.add_argument("device", nargs="?", default="cpu")
    parser.add_argument("--tf32", choices=["on", "off"])
    args = parser.parse_args()
    steps = args.steps
    device = torch.device(args.device)
    if args.tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    base = torchvision.models.mobilenet_v2(weights=None).features
    head = torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(1280, 1),
    )
    images = torch.arange(32 * 3 * 160 * 160, dtype=torch.float32).reshape(32, 3, 160, 160)
    images = ((images * 7 % 256) / 127.5 - 1).to(device)
    labels = (torch.arange(32) % 2).float().reshape(32, 1).to(device)
    base.to(device)
    head.to(device)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads, batch 32, {steps} timed steps, "
          f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32} cuDNN {torch.backends.cudnn.allow_tf32}")
    figures = {"torch": torch.__version__, "device": str(device), "steps": steps,
               "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
               "tf32_cudnn": torch.backends.cudnn.allow_tf32}

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed(name, step):
        for i in range(steps + 2):
            if i == 2:
                sync()
                start = time.perf_counter()
            step()
        sync()
        seconds = time.perf_counter() - start
        print(f"{name}: {steps * 32 / seconds:.1f} images/s ({1000 * seconds / steps:.0f} ms/step)")
        figures[name.replace("train ", "").strip("`")] = round(steps * 32 / seconds, 1)

    # Feature extraction.
    base.eval()
    base.requires_grad_(False)
    head.train()
    adam = torch.optim.Adam(head.parameters(), lr=1e-4)

    def feature_step():
        with torch.no_grad():
            features = base(images)
        loss = loss_fn(head(features), labels)
        adam.zero_grad()
        loss.backward()
        adam.step()

    timed("train `feature_extraction`", feature_step)

    # Fine-tuning from block 13 on, batch norm kept in inference mode.
    tuned = [p for block in base[13:] for p in block.parameters()]
    for p in tuned:
        p.requires_grad_(True)
    rmsprop = torch.optim.RMSprop(tuned + list(head.parameters()), lr=1e-5, alpha=0.9, eps=1e-7)

    def fine_tune_step():
        with torch.no_grad():
            early = base[:13](images)
        loss = loss_fn(head(base[13:](early)), labels)
        rmsprop.zero_grad()
        loss.backward()
        rmsprop.step()

    timed("train `fine_tune`", fine_tune_step)

    model = torch.nn.Sequential(base, head).eval()

    def inference_step():
        with torch.no_grad():
            model(images)

    timed("inference", inference_step)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
