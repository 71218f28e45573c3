//! The Burn model built from a plan runs every op, agrees with the planner's shapes, and pads
//! like TensorFlow ("SAME": the odd row/column at the bottom/right).

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use runner::model::{GraphModel, Layer};
use runner::plan::{self, Plan};
use std::path::Path;

/// Plans `nodes` over `size` x `size` images (the input node must take them).
fn plan_of(dir: &Path, size: usize, nodes: &str, outputs: &str) -> Plan {
    let text = format!(
        "name: t\ndata: {{root: {}, image_size: [{size}, {size}]}}\nmodel:\n  nodes:\n{nodes}  outputs: [{outputs}]\nloss: {{categorical_crossentropy: {{}}}}\nphases: [{{name: p, epochs: 1, optimizer: {{sgd: {{lr: 0.1}}}}}}]\n",
        dir.display()
    );
    let loaded = runner::spec::parse(&dir.join("t.yaml"), text, &[])
        .unwrap_or_else(|r| panic!("{}", r.render(false)));
    plan::plan_offline(&loaded).unwrap_or_else(|r| panic!("{}", r[0].render(false)))
}

#[test]
fn every_op_runs_with_the_planned_output_shape() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = r"
    - {name: image, op: input, shape: [15, 15, 3]}
    - {name: scale, op: rescale, input: image, scale: 0.5, offset: -1}
    - {name: c1, op: conv2d, input: scale, filters: 8, kernel_size: 3, strides: 2, padding: same, activation: relu6}
    - {name: bn, op: batch_norm, input: c1}
    - {name: dw, op: depthwise_conv2d, input: bn, kernel_size: 3, padding: same, depth_multiplier: 2, activation: hard_swish}
    - {name: pw, op: conv2d, input: dw, filters: 8, kernel_size: 1, groups: 2, use_bias: false}
    - {name: sum, op: add, inputs: [c1, pw]}
    - {name: gate, op: activation, input: sum, activation: sigmoid}
    - {name: prod, op: multiply, inputs: [sum, gate]}
    - {name: padded, op: zero_padding, input: prod, padding: [1, 0, 0, 1]}
    - {name: mp, op: max_pool, input: padded, pool_size: 3, strides: 2, padding: same}
    - {name: ap, op: avg_pool, input: padded, pool_size: 3, strides: 2, padding: same}
    - {name: cat, op: concatenate, inputs: [mp, ap]}
    - {name: dil, op: conv2d, input: cat, filters: 4, kernel_size: 3, dilation_rate: 2, padding: same, activation: gelu}
    - {name: flat, op: flatten, input: dil}
    - {name: gap, op: global_avg_pool, input: cat}
    - {name: gmp, op: global_max_pool, input: cat}
    - {name: vec, op: concatenate, inputs: [flat, gap, gmp]}
    - {name: drop, op: dropout, input: vec, rate: 0.3}
    - {name: hidden, op: dense, input: drop, units: 16, activation: swish}
    - {name: vbn, op: batch_norm, input: hidden}
    - {name: logits, op: dense, input: vbn, units: 5, activation: softmax}
";
    let plan = plan_of(dir.path(), 15, nodes, "logits");
    let shape_of = |name: &str| {
        plan.graph.nodes[plan.graph.find(name).unwrap()]
            .shape
            .to_string()
    };
    assert_eq!(shape_of("c1"), "(8, 8, 8)");
    assert_eq!(shape_of("padded"), "(9, 9, 8)");
    assert_eq!(shape_of("mp"), "(5, 5, 8)");
    assert_eq!(shape_of("cat"), "(5, 5, 16)");
    assert_eq!(shape_of("vec"), "(132,)");
    let device = Device::flex();
    let model = GraphModel::new(&plan.graph, &device);
    let out = model.forward(Tensor::random(
        [2, 3, 15, 15],
        burn::tensor::Distribution::Uniform(0.0, 255.0),
        &device,
    ));
    assert_eq!(out.dims(), [2, 5]);
    let rows: Vec<f32> = out.sum_dim(1).into_data().try_to_vec::<f32>().unwrap();
    for total in rows {
        assert!(
            (total - 1.0).abs() < 1e-5,
            "softmax rows sum to 1, got {total}"
        );
    }
}

#[test]
fn same_padding_puts_the_extra_row_and_column_at_the_bottom_right() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = r"
    - {name: image, op: input, shape: [4, 4, 3]}
    - {name: conv, op: conv2d, input: image, filters: 1, kernel_size: 3, strides: 2, padding: same, use_bias: false}
    - {name: flat, op: flatten, input: conv}
";
    let plan = plan_of(dir.path(), 4, nodes, "flat");
    let device = Device::flex();
    let mut model = GraphModel::new(&plan.graph, &device);
    let Layer::Conv(conv) = &mut model.layers[0] else {
        panic!("first layer is the conv")
    };
    conv.weight = Param::from_tensor(Tensor::ones([1, 3, 3, 3], &device));
    // The same 4x4 plane in each of the 3 channels: the output is 3 window sums.
    let pixels: Vec<f32> = (1..=16).map(|v| v as f32).collect();
    let input = Tensor::<4>::from_data(TensorData::new(pixels.repeat(3), [1, 3, 4, 4]), &device);
    let out: Vec<f32> = model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    // TensorFlow SAME for 4 -> 2 with a 3x3 window, stride 2: 0 rows/cols of padding before, 1 after.
    let window_sum = |r0: usize, c0: usize| -> f32 {
        (r0..r0 + 3)
            .flat_map(|r| (c0..c0 + 3).map(move |c| (r, c)))
            .filter(|(r, c)| *r < 4 && *c < 4)
            .map(|(r, c)| pixels[r * 4 + c])
            .sum::<f32>()
            * 3.0
    };
    assert_eq!(
        out,
        vec![
            window_sum(0, 0),
            window_sum(0, 2),
            window_sum(2, 0),
            window_sum(2, 2)
        ]
    );
}

#[test]
fn constant_prefix_forward_gives_the_same_output_and_gradients_with_no_graph_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = r"
    - {name: image, op: input, shape: [8, 8, 3]}
    - {name: scale, op: rescale, input: image, scale: 0.1}
    - {name: c1, op: conv2d, input: scale, filters: 4, kernel_size: 3, padding: same, activation: relu}
    - {name: bn, op: batch_norm, input: c1}
    - {name: c2, op: conv2d, input: bn, filters: 4, kernel_size: 3, padding: same}
    - {name: sum, op: add, inputs: [bn, c2]}
    - {name: gap, op: global_avg_pool, input: sum}
    - {name: drop, op: dropout, input: gap, rate: 0.0}
    - {name: logits, op: dense, input: drop, units: 2}
";
    let text = format!(
        "name: t\ndata: {{root: {}, image_size: [8, 8]}}\nmodel:\n  nodes:\n{nodes}  outputs: [logits]\nloss: {{categorical_crossentropy: {{}}}}\nphases: [{{name: p, epochs: 1, freeze: [c1, bn], optimizer: {{sgd: {{lr: 0.1}}}}}}]\n",
        dir.path().display()
    );
    let loaded = runner::spec::parse(&dir.path().join("t.yaml"), text, &[]).unwrap();
    let plan = plan::plan_offline(&loaded).unwrap_or_else(|r| panic!("{}", r[0].render(false)));
    let phase = &plan.phases[0];
    let names: Vec<&str> = plan
        .graph
        .nodes
        .iter()
        .zip(&phase.constant)
        .filter(|(_, c)| **c)
        .map(|(n, _)| n.name.as_str())
        .collect();
    assert_eq!(names, ["image", "scale", "c1", "bn"], "the frozen prefix");

    let device = Device::flex().autodiff();
    let model = runner::train::phase::apply(GraphModel::new(&plan.graph, &device), phase);
    let values: Vec<f32> = (0..2 * 3 * 8 * 8).map(|i| (i % 17) as f32).collect();
    let images = || Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 3, 8, 8]), &device);
    let plain = model.forward(images());
    let split = model.forward_with_constant_prefix(&phase.constant, images());
    assert_eq!(plain.to_data(), split.to_data(), "same output");
    let c2 = |m: &GraphModel| match &m.layers[plan_layer(&plan, m, "c2")] {
        Layer::Conv(conv) => conv.weight.clone(),
        _ => unreachable!(),
    };
    let plain_grads = plain.sum().backward();
    let split_grads = split.sum().backward();
    let weight: Param<Tensor<4>> = c2(&model);
    assert_eq!(
        weight.grad(&plain_grads).unwrap().to_data(),
        weight.grad(&split_grads).unwrap().to_data(),
        "same gradient for the trainable conv"
    );
}

fn plan_layer(plan: &Plan, model: &GraphModel, name: &str) -> usize {
    let node = plan
        .graph
        .nodes
        .iter()
        .position(|n| n.name == name)
        .unwrap();
    model.layer_of(node).unwrap()
}
