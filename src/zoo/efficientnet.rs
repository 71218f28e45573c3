//! EfficientNet-Lite0 (no squeeze-excite, ReLU6, fixed stem and head) with the names of
//! `efficientnet_pytorch` / `efficientnet-lite-pytorch` state dicts.

use super::{Builder, Conv};
use crate::spec::model::ModelSpec;

/// Stages: repeats, kernel, stride of the first block, expansion, output channels.
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
];

/// `input`, `_conv_stem`, `_bn0`, `_stem_relu6`; blocks `_blocks.i.{_expand_conv, _bn0,
/// _expand_relu6, _depthwise_conv, _bn1, _depthwise_relu6, _project_conv, _bn2, _add}`
/// (i = 0..15; no expansion in block 0); `_conv_head`, `_bn1`, `_head_relu6`; with the top
/// `_avg_pooling`, `_dropout` (0.2) and `_fc` (1000 classes, logits).
pub fn lite0(top: bool) -> ModelSpec {
    // PyTorch momentum 0.01 = Keras 0.99.
    const MOMENTUM: f64 = 0.99;
    let mut g = Builder::default();
    let input = g.input("input");
    let mut x = g.conv("_conv_stem", &input, 32, Conv::new(3, 2));
    x = g.batch_norm("_bn0", &x, MOMENTUM);
    x = g.relu6("_stem_relu6", &x);
    let mut channels = 32;
    let mut index = 0;
    for &(repeats, kernel, first_stride, expand, out) in &STAGES {
        for r in 0..repeats {
            let stride = if r == 0 { first_stride } else { 1 };
            let p = format!("_blocks.{index}.");
            let block_input = x.clone();
            if expand != 1 {
                x = g.conv(
                    &format!("{p}_expand_conv"),
                    &x,
                    channels * expand,
                    Conv::new(1, 1),
                );
                x = g.batch_norm(&format!("{p}_bn0"), &x, MOMENTUM);
                x = g.relu6(&format!("{p}_expand_relu6"), &x);
            }
            x = g.depthwise(
                &format!("{p}_depthwise_conv"),
                &x,
                Conv::new(kernel, stride),
            );
            x = g.batch_norm(&format!("{p}_bn1"), &x, MOMENTUM);
            x = g.relu6(&format!("{p}_depthwise_relu6"), &x);
            x = g.conv(&format!("{p}_project_conv"), &x, out, Conv::new(1, 1));
            x = g.batch_norm(&format!("{p}_bn2"), &x, MOMENTUM);
            if stride == 1 && channels == out {
                x = g.add(&format!("{p}_add"), &block_input, &x);
            }
            channels = out;
            index += 1;
        }
    }
    x = g.conv("_conv_head", &x, 1280, Conv::new(1, 1));
    x = g.batch_norm("_bn1", &x, MOMENTUM);
    x = g.relu6("_head_relu6", &x);
    if top {
        x = g.global_avg_pool("_avg_pooling", &x);
        x = g.dropout("_dropout", &x, 0.2);
        x = g.dense("_fc", &x, 1000);
    }
    g.finish(x)
}
