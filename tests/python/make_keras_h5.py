"""Writes a Keras 2 HDF5 weights file (the layout `tf.keras.applications` downloads and
`model.save_weights("x.h5")` writes) from one of runner's Keras-layout safetensors files.

    python make_keras_h5.py SRC.safetensors OUT.h5

Inverse of runner's mapping (src/model/keras_h5.rs): `<layer>.weight` of a convolution
[out, in, kh, kw] becomes `<layer>/<layer>/kernel:0` [kh, kw, in, out] (`depthwise_kernel:0`
[kh, kw, c, 1] for depthwise layers), a dense weight [out, in] becomes `kernel:0` [in, out]
(MobileNet's `conv_preds`, a 1x1 convolution in Keras, [1, 1, in, out]),
and batch norm tensors become gamma, beta, moving_mean and moving_variance. Root attributes
`layer_names`, `backend` and `keras_version`, and each layer's `weight_names`, are written
as Keras writes them.
"""
import json
import struct
import sys

import h5py
import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], "<f4").reshape(info["shape"])
    return tensors


BATCH_NORM = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def keras_weights(tensors):
    """{layer: [(keras weight name, array)]} in Keras' weight order."""
    layers = {}
    for name, value in tensors.items():
        layer, param = name.rsplit(".", 1)
        layers.setdefault(layer, {})[param] = value
    out = {}
    for layer, params in sorted(layers.items()):
        if "running_mean" in params:
            order = ["weight", "bias", "running_mean", "running_var"]
            out[layer] = [(BATCH_NORM[p], params[p]) for p in order]
            continue
        weight = params["weight"]
        if weight.ndim == 4 and ("depthwise" in layer or layer.startswith("conv_dw")):
            kernel = ("depthwise_kernel", weight.transpose(2, 3, 1, 0))
        elif weight.ndim == 4:
            kernel = ("kernel", weight.transpose(2, 3, 1, 0))
        elif layer == "conv_preds":
            # Keras MobileNet's classifier is a 1x1 convolution: [1, 1, in, out].
            kernel = ("kernel", weight.T[None, None])
        else:
            kernel = ("kernel", weight.T)
        out[layer] = [kernel] + ([("bias", params["bias"])] if "bias" in params else [])
    return out


def main(src, dst):
    layers = keras_weights(read_safetensors(src))
    with h5py.File(dst, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for layer, weights in layers.items():
            group = f.create_group(layer)
            names = [f"{layer}/{param}:0" for param, _ in weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, (_, value) in zip(names, weights):
                group.create_dataset(name, data=np.ascontiguousarray(value))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
