//! Keras HDF5 weights (`.h5`), as `tf.keras.applications` downloads them and
//! `model.save_weights("x.h5")` writes them, read into runner's PyTorch-layout tensors.
//!
//! The file holds one group per Keras layer (under `model_weights/` in a whole-model file),
//! with datasets such as `Conv1/Conv1/kernel:0`. A layer's tensors become `<layer>.<param>`
//! with the layouts of [`super::weights`]: `kernel` `[kh, kw, in, out]` becomes `weight`
//! `[out, in, kh, kw]`, `depthwise_kernel` `[kh, kw, c, m]` becomes `weight` `[c * m, 1, kh,
//! kw]`, a dense `kernel` `[in, out]` becomes `weight` `[out, in]`, and batch norm's `gamma`,
//! `beta`, `moving_mean` and `moving_variance` become `weight`, `bias`, `running_mean` and
//! `running_var`. Layer names are Keras' own, the names of the `mobilenet_v2_keras_<alpha>`
//! and `mobilenet_v1_<alpha>` bases, so such a file loads with the same all-or-nothing report
//! as their safetensors files.
//!
//! `hdf5-pure` reads the file: pure Rust, so the default build still needs no system library
//! (the `hdf5` crate binds libhdf5).

use super::weights::RawTensor;
use hdf5_pure::{DType, File, Group};
use std::collections::BTreeMap;

/// The first bytes of an HDF5 file (its superblock signature at offset 0).
pub const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Every float tensor of the Keras HDF5 file `bytes`, by runner name, in PyTorch layouts.
pub fn read(bytes: Vec<u8>) -> Result<BTreeMap<String, RawTensor>, String> {
    let file = File::from_bytes(bytes).map_err(|e| format!("not a readable HDF5 file: {e}"))?;
    let root = file.root();
    let layers = match root.group("model_weights") {
        Ok(group) => group,
        Err(_) => root,
    };
    let mut out = BTreeMap::new();
    for (layer, group) in layers
        .iter_groups()
        .map_err(|e| format!("cannot list the layers: {e}"))?
    {
        let mut datasets = Vec::new();
        collect_datasets(&group, &layer, &mut datasets)?;
        for (path, tensor) in datasets {
            let param = path
                .rsplit('/')
                .next()
                .unwrap_or(&path)
                .trim_end_matches(":0");
            if path.split('/').any(|part| part == "vars") {
                return Err(format!(
                    "`{path}` is from a Keras 3 `.weights.h5` file, which names tensors by \
                     position; runner reads the Keras 2 HDF5 layout that \
                     `tf.keras.applications` downloads (in Keras 3, save with \
                     `keras.saving.legacy` or export the weights to safetensors)"
                ));
            }
            let (name, tensor) = to_pytorch(&layer, param, tensor);
            out.insert(name, tensor);
        }
    }
    if out.is_empty() {
        return Err("an HDF5 file without Keras layer weights in it".into());
    }
    Ok(out)
}

/// Every float dataset under `group` (whose path is `path`), with its path.
fn collect_datasets(
    group: &Group,
    path: &str,
    out: &mut Vec<(String, RawTensor)>,
) -> Result<(), String> {
    let listing = |e| format!("cannot list `{path}`: {e}");
    for (name, dataset) in group.iter_datasets().map_err(listing)? {
        let full = format!("{path}/{name}");
        let floats = matches!(dataset.dtype(), Ok(DType::F32 | DType::F64));
        if !floats {
            continue;
        }
        let shape = dataset
            .shape()
            .map_err(|e| format!("cannot read the shape of `{full}`: {e}"))?;
        let values = dataset
            .read_f32()
            .map_err(|e| format!("cannot read `{full}`: {e}"))?;
        let shape = shape.into_iter().map(|d| d as usize).collect();
        out.push((full, RawTensor { shape, values }));
    }
    for (name, child) in group.iter_groups().map_err(listing)? {
        collect_datasets(&child, &format!("{path}/{name}"), out)?;
    }
    Ok(())
}

/// The runner name and PyTorch layout of Keras tensor `param` of `layer`.
fn to_pytorch(layer: &str, param: &str, tensor: RawTensor) -> (String, RawTensor) {
    let renamed = match param {
        "kernel" | "depthwise_kernel" | "gamma" => "weight",
        "beta" => "bias",
        "moving_mean" => "running_mean",
        "moving_variance" => "running_var",
        other => other,
    };
    let tensor = match (param, tensor.shape.as_slice()) {
        ("kernel", &[_, _, _, _]) => tensor.permuted([3, 2, 0, 1]),
        ("depthwise_kernel", &[kh, kw, c, m]) => RawTensor {
            shape: vec![c * m, 1, kh, kw],
            values: tensor.permuted([2, 3, 0, 1]).values,
        },
        ("kernel", &[cin, cout]) => RawTensor {
            shape: vec![cout, cin],
            values: RawTensor {
                shape: vec![cin, cout, 1, 1],
                values: tensor.values,
            }
            .permuted([1, 0, 2, 3])
            .values,
        },
        _ => tensor,
    };
    (format!("{layer}.{renamed}"), tensor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conv_kernel_becomes_out_in_kh_kw() {
        // [kh=1, kw=2, in=1, out=3]: value = 10 * kw + out.
        let values = vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
        let tensor = RawTensor {
            shape: vec![1, 2, 1, 3],
            values,
        };
        let (name, t) = to_pytorch("Conv1", "kernel", tensor);
        assert_eq!(name, "Conv1.weight");
        assert_eq!(t.shape, [3, 1, 1, 2]);
        assert_eq!(t.values, [0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
    }

    #[test]
    fn a_dense_kernel_is_transposed_and_batch_norm_renamed() {
        let tensor = RawTensor {
            shape: vec![2, 3],
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let (_, t) = to_pytorch("predictions", "kernel", tensor);
        assert_eq!(t.shape, [3, 2]);
        assert_eq!(t.values, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let stat = RawTensor {
            shape: vec![2],
            values: vec![1.0, 2.0],
        };
        assert_eq!(
            to_pytorch("bn_Conv1", "moving_variance", stat).0,
            "bn_Conv1.running_var"
        );
    }
}
