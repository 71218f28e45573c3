//! MobileNetV2 (Sandler et al. 2018) in two layouts: TF-slim/TFLite names with batch norm folded
//! into the conv biases, and Keras `MobileNetV2` names with batch norm layers.

use super::{Builder, Conv, make_divisible};
use crate::spec::model::{ActivationFn, ModelSpec};

/// Inverted residual groups: expansion, output channels, repeats, stride of the first block.
const BLOCKS: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// Every block as (expansion, output channels, stride), after the width multiplier.
fn blocks(alpha: f64) -> impl Iterator<Item = (usize, usize, usize)> {
    BLOCKS.iter().flat_map(move |&(t, c, n, s)| {
        let out = make_divisible((c as f64 * alpha).floor(), 8);
        (0..n).map(move |i| (t, out, if i == 0 { s } else { 1 }))
    })
}

fn first_filters(alpha: f64) -> usize {
    make_divisible(32.0 * alpha, 8)
}

fn last_filters(alpha: f64) -> usize {
    if alpha > 1.0 {
        make_divisible(1280.0 * alpha, 8)
    } else {
        1280
    }
}

/// TF-slim / TFLite layout (`mobilenet_v2_1.0_224.safetensors`): `Conv2d_0_0`,
/// `expanded_conv_N.{expand,depthwise,project,add}` for N = 1..17, `Conv2d_18_1`,
/// `global_avg_pool`, `top.Conv2d_1x1_output` (1001 classes, 0 = background).
pub fn slim(alpha: f64, top: bool) -> ModelSpec {
    let relu6 = Some(ActivationFn::Relu6);
    let mut g = Builder::default();
    let input = g.input("input");
    let mut x = g.conv(
        "Conv2d_0_0",
        &input,
        first_filters(alpha),
        Conv::new(3, 2).folded(relu6),
    );
    let mut channels = first_filters(alpha);
    for (i, (t, out, stride)) in blocks(alpha).enumerate() {
        let p = format!("expanded_conv_{}", i + 1);
        let block_input = x.clone();
        if t != 1 {
            x = g.conv(
                &format!("{p}.expand"),
                &x,
                channels * t,
                Conv::new(1, 1).folded(relu6),
            );
        }
        x = g.depthwise(
            &format!("{p}.depthwise"),
            &x,
            Conv::new(3, stride).folded(relu6),
        );
        x = g.conv(
            &format!("{p}.project"),
            &x,
            out,
            Conv::new(1, 1).folded(None),
        );
        if stride == 1 && channels == out {
            x = g.add(&format!("{p}.add"), &block_input, &x);
        }
        channels = out;
    }
    x = g.conv(
        "Conv2d_18_1",
        &x,
        last_filters(alpha),
        Conv::new(1, 1).folded(relu6),
    );
    if top {
        x = g.global_avg_pool("global_avg_pool", &x);
        x = g.dense("top.Conv2d_1x1_output", &x, 1001);
    }
    g.finish(x)
}

/// Keras layout (`mobilenet_v2_0.35_224_no_top.safetensors`), one node per Keras layer in
/// Keras' order, so base index N is `base_model.layers[N]`: `input_1`, `Conv1`, `bn_Conv1`,
/// `Conv1_relu`, `expanded_conv_*`, `block_N_*` (N = 1..16), `Conv_1`, `Conv_1_bn`, `out_relu`,
/// then (with the top) `global_average_pooling2d` and `predictions` (1000 classes, logits).
pub fn keras(alpha: f64, top: bool) -> ModelSpec {
    const MOMENTUM: f64 = 0.999;
    let relu6 = |g: &mut Builder, name: String, x: &str| g.relu6(&name, x);
    let mut g = Builder::default();
    let input = g.input("input_1");
    let mut x = g.conv("Conv1", &input, first_filters(alpha), Conv::new(3, 2));
    x = g.batch_norm("bn_Conv1", &x, MOMENTUM);
    x = relu6(&mut g, "Conv1_relu".into(), &x);
    let mut channels = first_filters(alpha);
    for (i, (t, out, stride)) in blocks(alpha).enumerate() {
        let p = if i == 0 {
            "expanded_conv_".to_string()
        } else {
            format!("block_{i}_")
        };
        let block_input = x.clone();
        if i > 0 {
            x = g.conv(&format!("{p}expand"), &x, channels * t, Conv::new(1, 1));
            x = g.batch_norm(&format!("{p}expand_BN"), &x, MOMENTUM);
            x = relu6(&mut g, format!("{p}expand_relu"), &x);
        }
        let dw = if stride == 2 {
            x = g.pad_bottom_right(&format!("{p}pad"), &x);
            Conv::new(3, 2).valid()
        } else {
            Conv::new(3, 1)
        };
        x = g.depthwise(&format!("{p}depthwise"), &x, dw);
        x = g.batch_norm(&format!("{p}depthwise_BN"), &x, MOMENTUM);
        x = relu6(&mut g, format!("{p}depthwise_relu"), &x);
        x = g.conv(&format!("{p}project"), &x, out, Conv::new(1, 1));
        x = g.batch_norm(&format!("{p}project_BN"), &x, MOMENTUM);
        if stride == 1 && channels == out {
            x = g.add(&format!("{p}add"), &block_input, &x);
        }
        channels = out;
    }
    x = g.conv("Conv_1", &x, last_filters(alpha), Conv::new(1, 1));
    x = g.batch_norm("Conv_1_bn", &x, MOMENTUM);
    x = relu6(&mut g, "out_relu".into(), &x);
    if top {
        x = g.global_avg_pool("global_average_pooling2d", &x);
        x = g.dense("predictions", &x, 1000);
    }
    g.finish(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_layer_indices_match_keras() {
        let m = keras(1.0, false);
        // tf.keras MobileNetV2(include_top=False): 154 layers; the TF tutorial's fine_tune_at = 100.
        assert_eq!(m.nodes.len(), 154);
        assert_eq!(m.nodes[98].name(), "block_11_expand");
        assert_eq!(m.nodes[100].name(), "block_11_expand_relu");
        assert_eq!(m.nodes[153].name(), "out_relu");
    }
}
