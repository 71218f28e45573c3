//! TensorFlow Lite models (`.tflite`) as weights: the parameters of their convolution and
//! fully connected operators, dequantized to float32, in runner's names and layouts.
//!
//! A TFLite file is a FlatBuffer (`tensorflow/lite/schema/schema.fbs`). Its tensor names are
//! the TensorFlow name scopes the converter fused (`MobileNetV2/expanded_conv_1/project/
//! Conv2D;StatefulPartitionedCall/...`), so layers are found through the operators: each
//! `CONV_2D`, `DEPTHWISE_CONV_2D` and `FULLY_CONNECTED` operator reads its weights (input 1)
//! and bias (input 2); the layer is the weights' first name scope without the model scope and
//! the operation (`expanded_conv_1/project` becomes `expanded_conv_1.project`), the names of
//! TF-slim models such as the `mobilenet_v2_<alpha>` bases. Layouts: convolutions `[out, kh,
//! kw, in]` become `[out, in, kh, kw]`, depthwise `[1, kh, kw, c]` becomes `[c, 1, kh, kw]`.
//! Quantized tensors (int8, uint8, int32 biases; one scale per tensor or per channel) are
//! dequantized as the file defines them: `scale[c] * (q - zero_point[c])`.
//!
//! The reader follows the FlatBuffer offsets itself, with bounds checks on every read: the
//! six tables it needs take less code than the generated bindings of the whole schema, and
//! the `tflite` crates bind TensorFlow's C++ runtime.

use super::weights::RawTensor;
use std::collections::BTreeMap;

/// Bytes 4..8 of a TFLite file (its FlatBuffer file identifier).
pub const IDENTIFIER: &[u8; 4] = b"TFL3";

/// `BuiltinOperator` codes of the operators whose weights are read.
const CONV_2D: i32 = 3;
const DEPTHWISE_CONV_2D: i32 = 4;
const FULLY_CONNECTED: i32 = 9;

/// Names a layer's weights can end with that are operations, not layers.
const OPERATION_SCOPES: &[&str] = &["batch_norm", "BatchNorm", "weights_quant", "act_quant"];

/// Every weight and bias of the convolution and fully connected operators of the TFLite
/// model `bytes`, by runner name, dequantized, in PyTorch layouts.
pub fn read(bytes: &[u8]) -> Result<BTreeMap<String, RawTensor>, String> {
    let buf = Buf(bytes);
    let model = buf.root()?;
    let codes: Vec<i32> = model
        .tables(1)?
        .iter()
        .map(|code| {
            // `builtin_code` (field 3) since schema v3a; `deprecated_builtin_code` (field 0)
            // before, and the larger of the two is the real one.
            Ok(code.scalar::<i32>(3)?.max(code.scalar::<i8>(0)? as i32))
        })
        .collect::<Result<_, String>>()?;
    let buffers = model.tables(4)?;
    let subgraph = *model
        .tables(2)?
        .first()
        .ok_or("a TFLite file without a subgraph")?;
    let tensors = subgraph.tables(0)?;
    let mut out = BTreeMap::new();
    for operator in subgraph.tables(3)? {
        let code = *codes
            .get(operator.scalar::<u32>(0)? as usize)
            .ok_or("an operator with an unknown opcode")?;
        if ![CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED].contains(&code) {
            continue;
        }
        let inputs = operator.scalars::<i32>(1)?;
        let tensor = |i: usize| -> Result<Option<&Table>, String> {
            match inputs.get(i) {
                Some(&index) if index >= 0 => tensors
                    .get(index as usize)
                    .map(Some)
                    .ok_or_else(|| format!("operator input {index} is not a tensor")),
                _ => Ok(None),
            }
        };
        let weights = tensor(1)?.ok_or("a convolution without weights")?;
        let layer = layer_name(&weights.string(3)?);
        let weight = dequantize(weights, &buffers)?;
        let weight = match code {
            CONV_2D => weight.permuted([0, 3, 1, 2]),
            DEPTHWISE_CONV_2D => weight.permuted([3, 0, 1, 2]),
            _ => weight,
        };
        out.insert(format!("{layer}.weight"), weight);
        if let Some(bias) = tensor(2)? {
            out.insert(format!("{layer}.bias"), dequantize(bias, &buffers)?);
        }
    }
    if out.is_empty() {
        return Err("a TFLite model without convolution or fully connected weights".into());
    }
    Ok(out)
}

/// The runner layer of a weights tensor named `name`: its first fused name scope, without
/// the model scope, the operation and trailing operation scopes, joined with dots.
fn layer_name(name: &str) -> String {
    let first = name.split(';').next().unwrap_or(name);
    let mut parts: Vec<&str> = first.split('/').collect();
    parts.pop();
    while parts.last().is_some_and(|p| OPERATION_SCOPES.contains(p)) {
        parts.pop();
    }
    if parts.len() > 1 {
        parts.remove(0);
    }
    parts.join(".")
}

/// The float32 values of `tensor` (whose data is in `buffers`), dequantized.
fn dequantize(tensor: &Table, buffers: &[Table]) -> Result<RawTensor, String> {
    let name = tensor.string(3)?;
    let shape: Vec<usize> = tensor
        .scalars::<i32>(0)?
        .into_iter()
        .map(|d| d.max(0) as usize)
        .collect();
    let data = buffers
        .get(tensor.scalar::<u32>(2)? as usize)
        .ok_or_else(|| format!("tensor `{name}` names a missing buffer"))?
        .bytes(0)?;
    let kind = tensor.scalar::<i8>(1)?;
    let (width, raw): (usize, fn(&[u8]) -> f32) = match kind {
        0 => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        2 => (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
        3 => (1, |b| b[0] as f32),
        9 => (1, |b| b[0] as i8 as f32),
        other => return Err(format!("tensor `{name}` has TFLite type {other}, not read")),
    };
    let count: usize = shape.iter().product();
    if data.len() != count * width {
        return Err(format!(
            "tensor `{name}` has {} bytes of data for shape {shape:?}",
            data.len()
        ));
    }
    let mut values: Vec<f32> = data.chunks_exact(width).map(raw).collect();
    if kind != 0 {
        let quantization = tensor.table(4)?.ok_or_else(|| {
            format!("tensor `{name}` is quantized but has no quantization parameters")
        })?;
        let scales = quantization.scalars::<f32>(2)?;
        let zero_points = quantization.scalars::<i64>(3)?;
        let axis = quantization.scalar::<i32>(6)?.max(0) as usize;
        let inner: usize = shape.iter().skip(axis + 1).product();
        let channels = shape.get(axis).copied().unwrap_or(1).max(1);
        for (i, v) in values.iter_mut().enumerate() {
            let c = if scales.len() > 1 {
                (i / inner.max(1)) % channels
            } else {
                0
            };
            let scale = *scales
                .get(c)
                .ok_or_else(|| format!("tensor `{name}`: no scale"))?;
            let zero = zero_points.get(c).copied().unwrap_or(0) as f32;
            *v = scale * (*v - zero);
        }
    }
    Ok(RawTensor { shape, values })
}

/// The file's bytes, read with bounds checks.
#[derive(Clone, Copy)]
struct Buf<'a>(&'a [u8]);

impl<'a> Buf<'a> {
    fn at<const N: usize>(self, pos: usize) -> Result<[u8; N], String> {
        self.0
            .get(pos..pos + N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| "a FlatBuffer offset points outside the file".to_string())
    }

    fn u32(self, pos: usize) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.at(pos)?) as usize)
    }

    /// The root table.
    fn root(self) -> Result<Table<'a>, String> {
        self.table_at(0)
    }

    /// The table that the offset stored at `at` points to.
    fn table_at(self, at: usize) -> Result<Table<'a>, String> {
        let pos = at + self.u32(at)?;
        // The table starts with a signed offset back to its vtable.
        let back = i32::from_le_bytes(self.at(pos)?) as i64;
        let vtable = usize::try_from(pos as i64 - back)
            .map_err(|_| "a FlatBuffer vtable offset points outside the file".to_string())?;
        let size = u16::from_le_bytes(self.at(vtable)?) as usize;
        Ok(Table {
            buf: self,
            pos,
            vtable,
            size,
        })
    }
}

/// A FlatBuffer table: its position and its vtable.
#[derive(Clone, Copy)]
struct Table<'a> {
    buf: Buf<'a>,
    pos: usize,
    vtable: usize,
    size: usize,
}

impl<'a> Table<'a> {
    /// Position of field `id`, when present.
    fn field(&self, id: usize) -> Result<Option<usize>, String> {
        let entry = 4 + 2 * id;
        if entry + 2 > self.size {
            return Ok(None);
        }
        let offset = u16::from_le_bytes(self.buf.at(self.vtable + entry)?) as usize;
        Ok((offset != 0).then_some(self.pos + offset))
    }

    /// Scalar field `id`, or zero when absent (the schema's defaults for these fields).
    fn scalar<T: Scalar>(&self, id: usize) -> Result<T, String> {
        match self.field(id)? {
            Some(pos) => T::read(self.buf, pos),
            None => Ok(T::default()),
        }
    }

    /// Table field `id`.
    fn table(&self, id: usize) -> Result<Option<Table<'a>>, String> {
        self.field(id)?
            .map(|pos| self.buf.table_at(pos))
            .transpose()
    }

    /// Where the elements of vector field `id` start, and how many there are (none when
    /// absent).
    fn vector(&self, id: usize) -> Result<(usize, usize), String> {
        match self.field(id)? {
            Some(pos) => {
                let start = pos + self.buf.u32(pos)?;
                Ok((start + 4, self.buf.u32(start)?))
            }
            None => Ok((0, 0)),
        }
    }

    /// The tables of vector field `id`.
    fn tables(&self, id: usize) -> Result<Vec<Table<'a>>, String> {
        let (start, len) = self.vector(id)?;
        (0..len).map(|i| self.buf.table_at(start + 4 * i)).collect()
    }

    /// The scalars of vector field `id`.
    fn scalars<T: Scalar>(&self, id: usize) -> Result<Vec<T>, String> {
        let (start, len) = self.vector(id)?;
        (0..len)
            .map(|i| T::read(self.buf, start + std::mem::size_of::<T>() * i))
            .collect()
    }

    /// String field `id` (empty when absent).
    fn string(&self, id: usize) -> Result<String, String> {
        Ok(String::from_utf8_lossy(self.bytes(id)?).into_owned())
    }

    /// Byte-vector field `id` (empty when absent).
    fn bytes(&self, id: usize) -> Result<&'a [u8], String> {
        let Some(pos) = self.field(id)? else {
            return Ok(&[]);
        };
        let start = pos + self.buf.u32(pos)?;
        let len = self.buf.u32(start)?;
        self.buf
            .0
            .get(start + 4..start + 4 + len)
            .ok_or_else(|| "a FlatBuffer vector runs past the end of the file".to_string())
    }
}

/// The little-endian scalars the reader needs.
trait Scalar: Default + Sized {
    fn read(buf: Buf, pos: usize) -> Result<Self, String>;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            fn read(buf: Buf, pos: usize) -> Result<Self, String> {
                Ok(<$t>::from_le_bytes(buf.at(pos)?))
            }
        }
    )*};
}
scalar!(i8, i32, u32, i64, f32);

#[cfg(test)]
mod tests {
    use super::{Buf, layer_name};

    #[test]
    fn vectors_of_eight_byte_scalars_are_read_whole() {
        // Root offset -> table at 12 (vtable at 4: 6 bytes, one field at +4) -> a vector of
        // two i64 at 20: 5 and -3 (quantization zero points are such a vector).
        let mut bytes = Vec::new();
        bytes.extend(12u32.to_le_bytes());
        bytes.extend([6u16, 8, 4].iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend([0, 0]);
        bytes.extend(8i32.to_le_bytes());
        bytes.extend(4u32.to_le_bytes());
        bytes.extend(2u32.to_le_bytes());
        bytes.extend([5i64, -3].iter().flat_map(|v| v.to_le_bytes()));
        let root = Buf(&bytes).root().unwrap();
        assert_eq!(root.scalars::<i64>(0).unwrap(), [5, -3]);
        assert!(
            root.scalars::<i64>(1).unwrap().is_empty(),
            "an absent field"
        );
        bytes.truncate(bytes.len() - 4);
        let cut = Buf(&bytes).root().unwrap().scalars::<i64>(0);
        assert!(cut.is_err(), "a vector past the end of the file");
    }

    #[test]
    fn layer_names_come_from_the_first_name_scope() {
        let depthwise = "MobileNetV2/expanded_conv_1/depthwise/batch_norm/FusedBatchNormV3;\
                         StatefulPartitionedCall/MobileNetV2/expanded_conv_1/depthwise/x";
        assert_eq!(layer_name(depthwise), "expanded_conv_1.depthwise");
        assert_eq!(layer_name("MobileNetV2/Conv2d_0_0/Conv2D"), "Conv2d_0_0");
        assert_eq!(
            layer_name("MobileNetV2/top/Conv2d_1x1_output/Conv2D;unknown"),
            "top.Conv2d_1x1_output"
        );
    }
}
