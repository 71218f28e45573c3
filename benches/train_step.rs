//! Training and inference speed of the reference recipe's model (a benchmark, not a test).
//!
//! `cargo bench --bench train_step -- [STEPS]` (default 8 timed steps after 2 warm-up steps)
//! builds experiments/mobilenet_ft.yaml's model (MobileNetV2 1.0 at 160x160 with its
//! ImageNet weights from ../shared), and for each of its phases times training steps on a
//! batch of 32 images (forward with the frozen prefix outside autodiff, loss, backward,
//! optimizer step), then inference on the same batch. Prints images/s. Compare with
//! `ci/bench/torch_train_step.py`, which does the same work with PyTorch on the same machine.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use runner::model::{GraphModel, weights};
use runner::train::evaluate::images_tensor;
use runner::train::{loss, optimizer, phase};
use std::path::Path;
use std::time::Instant;

const BATCH: usize = 32;

fn main() {
    let steps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(8);
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/mobilenet_ft.yaml");
    let loaded =
        runner::spec::load(&spec_path, &[]).unwrap_or_else(|r| panic!("{}", r.render(false)));
    let plan = runner::plan::plan(&loaded).unwrap_or_else(|r| panic!("{}", r[0].render(false)));
    let spec = &plan.spec.spec;
    let [h, w] = [
        spec.data.image_size[0] as usize,
        spec.data.image_size[1] as usize,
    ];
    let pixels: Vec<f32> = (0..BATCH * 3 * h * w)
        .map(|i| (i * 7 % 256) as f32)
        .collect();
    let labels: Vec<u32> = (0..BATCH as u32).map(|i| i % 2).collect();
    let device = Device::flex().autodiff();
    let mut model = GraphModel::new(&plan.graph, &device);
    weights::load_pretrained(&mut model, &plan, &device).expect("the shared weights load");
    println!(
        "{} ({}x{}), batch {BATCH}, {steps} timed steps, {} rayon threads",
        spec.name,
        h,
        w,
        rayon::current_num_threads()
    );
    for phase_plan in &plan.phases {
        model = phase::apply(model, phase_plan);
        let mut optim = optimizer::build(&phase_plan.spec.optimizer, None);
        let lr = phase_plan.spec.optimizer.learning_rate();
        let mut started = Instant::now();
        for step in 0..steps + 2 {
            if step == 2 {
                started = Instant::now();
            }
            let images = images_tensor(&pixels, BATCH, h, w, &device);
            let output = model.forward_with_constant_prefix(&phase_plan.constant, images);
            let loss = loss::loss(&spec.loss, output, &labels, &device);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "train `{}`: {:.1} images/s ({:.0} ms/step)",
            phase_plan.spec.name,
            (steps * BATCH) as f64 / seconds,
            1000.0 * seconds / steps as f64
        );
    }
    let inference = model.valid();
    let inner = Device::flex();
    let mut started = Instant::now();
    for step in 0..steps + 2 {
        if step == 2 {
            started = Instant::now();
        }
        let output = inference.forward(images_tensor(&pixels, BATCH, h, w, &inner));
        let _ = output.into_data();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "inference: {:.1} images/s ({:.0} ms/batch)",
        (steps * BATCH) as f64 / seconds,
        1000.0 * seconds / steps as f64
    );
}
