//! Keras `MobileNet` (v1, Howard et al. 2017) with a width multiplier, one node per Keras layer.

use super::{Builder, Conv};
use crate::spec::model::ModelSpec;

/// Depthwise-separable blocks: pointwise filters (before alpha) and depthwise stride.
const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// Keras layout (`mobilenet_v1_0.25_224.safetensors`): `input_1`, `conv1`, `conv1_bn`,
/// `conv1_relu`, per block i = 1..13 `conv_pad_i` (stride 2 only), `conv_dw_i`, `conv_dw_i_bn`,
/// `conv_dw_i_relu`, `conv_pw_i`, `conv_pw_i_bn`, `conv_pw_i_relu`; with the top
/// `global_average_pooling2d`, `dropout` (0.001, as Keras) and `conv_preds` (1000 classes; a 1x1
/// conv in Keras, a dense layer here, logits).
pub fn keras(alpha: f64, top: bool) -> ModelSpec {
    const MOMENTUM: f64 = 0.99;
    let filters = |f: usize| ((f as f64 * alpha).floor() as usize).max(1);
    let mut g = Builder::default();
    let input = g.input("input_1");
    let mut x = g.conv("conv1", &input, filters(32), Conv::new(3, 2));
    x = g.batch_norm("conv1_bn", &x, MOMENTUM);
    x = g.relu6("conv1_relu", &x);
    for (i, &(f, stride)) in BLOCKS.iter().enumerate() {
        let id = i + 1;
        let dw = if stride == 2 {
            x = g.pad_bottom_right(&format!("conv_pad_{id}"), &x);
            Conv::new(3, 2).valid()
        } else {
            Conv::new(3, 1)
        };
        x = g.depthwise(&format!("conv_dw_{id}"), &x, dw);
        x = g.batch_norm(&format!("conv_dw_{id}_bn"), &x, MOMENTUM);
        x = g.relu6(&format!("conv_dw_{id}_relu"), &x);
        x = g.conv(&format!("conv_pw_{id}"), &x, filters(f), Conv::new(1, 1));
        x = g.batch_norm(&format!("conv_pw_{id}_bn"), &x, MOMENTUM);
        x = g.relu6(&format!("conv_pw_{id}_relu"), &x);
    }
    if top {
        x = g.global_avg_pool("global_average_pooling2d", &x);
        x = g.dropout("dropout", &x, 1e-3);
        x = g.dense("conv_preds", &x, 1000);
    }
    g.finish(x)
}
