"""Runs an ONNX model with ONNX Runtime on raw float32 images and prints its outputs as JSON.

    python run_onnx.py MODEL.onnx IMAGES.f32 N H W

IMAGES.f32 holds N images of [3, H, W] float32 RGB pixels 0..255, little-endian, one after
the other: the input runner's models take. Prints {"input": name, "outputs": [[...], ...]}.
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def main(model, images, n, h, w):
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    x = np.fromfile(images, "<f4").reshape(int(n), 3, int(h), int(w))
    name = session.get_inputs()[0].name
    (outputs,) = session.run(None, {name: x})
    print(json.dumps({"input": name, "outputs": outputs.tolist()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
