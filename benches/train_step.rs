//! Training and inference speed of the reference recipe's model (a benchmark, not a test).
//!
//! `cargo bench --bench train_step -- [STEPS]` (default 8 timed steps after 2 warm-up steps)
//! measures experiments/mobilenet_ft.yaml's model (MobileNetV2 1.0 at 160x160 with its
//! ImageNet weights from ../shared) as `runner bench` does: each phase's training step on a
//! batch of 32 images, the step from stored frozen-prefix outputs, inference. Compare with
//! `ci/bench/torch_train_step.py`, which does the same work with PyTorch on the same machine.

use std::path::Path;

fn main() {
    runner::device::allocator::reuse_freed_buffers();
    let steps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(8);
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/mobilenet_ft.yaml");
    let loaded =
        runner::spec::load(&spec_path, &[]).unwrap_or_else(|r| panic!("{}", r.render(false)));
    let plan =
        runner::plan::plan_offline(&loaded).unwrap_or_else(|r| panic!("{}", r[0].render(false)));
    match runner::bench::run(&plan, steps) {
        Ok(report) => println!("{report}"),
        Err(e) => panic!("{e}"),
    }
}
