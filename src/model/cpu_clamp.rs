//! ReLU and ReLU6 on flex's inference path, in place on every core.
//!
//! burn-flex 0.22 applies `clamp` and `relu` one element at a time on one thread, while its
//! convolutions use every core. In a MobileNetV2 forward pass every convolution but the
//! projections is followed by a ReLU6, so on the 2-core machine the clamp alone took 13-16 %
//! of the CPU time of `runner bench experiments/mobilenet_ft.yaml` (perf), with the second
//! core idle meanwhile. Here a tensor that no autodiff graph records (the frozen prefix,
//! evaluation, prediction) and that lives on flex is clamped in its own buffer, in chunks
//! spread over rayon's pool. Every other tensor takes Burn's own operation; the values are the
//! same either way (NaN stays NaN, as in flex).

use burn::tensor::{Device, Tensor, activation};
use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs nothing next to the work.
const CHUNK: usize = 1 << 15;

/// `activation::relu`.
pub fn relu<const D: usize>(tensor: Tensor<D>) -> Tensor<D> {
    // As flex: NaN stays NaN, -0 becomes 0.
    in_place_or(tensor, |x| if x <= 0.0 { 0.0 } else { x }, activation::relu)
}

/// `activation::relu6`.
pub fn relu6<const D: usize>(tensor: Tensor<D>) -> Tensor<D> {
    // As flex's `clamp(0, 6)`: NaN stays NaN, -0 stays -0.
    in_place_or(tensor, |x| x.clamp(0.0, 6.0), activation::relu6)
}

/// Applies `kernel` to every element of `tensor` in place over all cores where it is a flex
/// tensor outside autodiff; otherwise `burn_op` (the same values, and its own gradient).
fn in_place_or<const D: usize>(
    tensor: Tensor<D>,
    kernel: impl Fn(f32) -> f32 + Sync,
    burn_op: fn(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let device = tensor.device();
    if device.is_autodiff() || device != Device::flex() {
        return burn_op(tensor);
    }
    // flex hands its buffer over without a copy when nothing else holds it.
    let mut data = tensor.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => values.par_chunks_mut(CHUNK).for_each(|chunk| {
            for x in chunk {
                *x = kernel(*x);
            }
        }),
        Err(_) => return burn_op(Tensor::from_data(data, &device)),
    }
    Tensor::from_data(data, &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values() -> Vec<f32> {
        let mut v: Vec<f32> = (0..3 * CHUNK + 7)
            .map(|i| (i as f32 - 40000.0) * 1e-3)
            .collect();
        v.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 6.0, 6.5]);
        v
    }

    fn bits(t: Tensor<2>) -> Vec<u32> {
        let data = t.into_data();
        data.as_slice::<f32>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect()
    }

    #[test]
    fn the_parallel_clamp_gives_burns_values_bit_for_bit() {
        let device = Device::flex();
        let v = values();
        let tensor = || Tensor::<2>::from_data(TensorData::new(v.clone(), [1, v.len()]), &device);
        let same = |ours: Vec<u32>, burns: Vec<u32>| {
            let differ = ours.iter().zip(&burns).position(|(a, b)| a != b);
            assert_eq!(
                differ.map(|i| (v[i], f32::from_bits(ours[i]), f32::from_bits(burns[i]))),
                None
            );
        };
        same(bits(relu6(tensor())), bits(activation::relu6(tensor())));
        same(bits(relu(tensor())), bits(activation::relu(tensor())));
    }

    #[test]
    fn a_tensor_under_autodiff_keeps_burns_gradient() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![-1.0f32, 0.5, 3.0, 7.0], [1, 4]),
            &device,
        )
        .require_grad();
        let grads = relu6(x.clone()).sum().backward();
        let grad = x.grad(&grads).expect("x is tracked").into_data();
        assert_eq!(grad.as_slice::<f32>().unwrap(), &[0.0, 1.0, 1.0, 0.0]);
    }
}
