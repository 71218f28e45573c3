//! `runner bench SPEC`: how fast a spec's own model trains and predicts on this machine.
//!
//! For each phase it times training steps on one batch of the spec's batch size and image
//! size (forward with the frozen prefix outside autodiff, loss, backward, optimizer step), and,
//! where the phase has a frozen prefix, the same step from stored prefix outputs, which is
//! what an epoch costs once `train::features` holds them. Then inference. The pixels are a
//! fixed pattern (speed does not depend on them) and the pretrained weights are loaded, so the
//! work is exactly a training run's. Peak memory is the process's peak resident set.

use crate::model::{GraphModel, Value, weights};
use crate::plan::{PhasePlan, Plan};
use crate::train::evaluate::{images_tensor, to_vec};
use crate::train::{RunError, loss, optimizer, phase};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use std::time::Instant;

/// Untimed steps before each measurement (allocations, kernel selection).
const WARM_UP_STEPS: usize = 2;

/// The speed of one phase's training step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseSpeed {
    /// The phase's name.
    pub phase: String,
    /// Images per second of a full training step.
    pub images_per_second: f64,
    /// Images per second of a step from stored frozen-prefix outputs, where the phase has a
    /// frozen prefix.
    pub stored_prefix_images_per_second: Option<f64>,
}

/// What `runner bench` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// The spec's name.
    pub spec: String,
    /// Images per batch.
    pub batch_size: usize,
    /// `[height, width]`.
    pub image_size: [usize; 2],
    /// Timed steps per measurement.
    pub steps: usize,
    /// Threads of the compute pool.
    pub threads: usize,
    /// Backend and device.
    pub device: String,
    /// Per phase, in order.
    pub phases: Vec<PhaseSpeed>,
    /// Images per second of inference (the final model, evaluation mode).
    pub inference_images_per_second: f64,
    /// The process's peak resident memory in bytes (Linux), after all measurements.
    pub peak_memory_bytes: Option<u64>,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: batch {} of {}x{}, {} timed steps after {WARM_UP_STEPS} warm-up, {} threads, {}",
            self.spec,
            self.batch_size,
            self.image_size[0],
            self.image_size[1],
            self.steps,
            self.threads,
            self.device
        )?;
        writeln!(
            f,
            "{:<24} {:>12} {:>22}",
            "", "images/s", "from stored prefix"
        )?;
        for p in &self.phases {
            let stored = p
                .stored_prefix_images_per_second
                .map_or("-".to_string(), |v| format!("{v:.1}"));
            writeln!(
                f,
                "{:<24} {:>12.1} {:>22}",
                format!("train `{}`", p.phase),
                p.images_per_second,
                stored
            )?;
        }
        writeln!(
            f,
            "{:<24} {:>12.1}",
            "inference", self.inference_images_per_second
        )?;
        match self.peak_memory_bytes {
            Some(bytes) => write!(f, "peak memory: {}", crate::machine::human(bytes as f64)),
            None => write!(f, "peak memory: unknown on this system"),
        }
    }
}

/// Measures `plan`'s model: `steps` timed training steps per phase, then inference.
pub fn run(plan: &Plan, steps: usize) -> Result<BenchReport, RunError> {
    let spec = &plan.spec.spec;
    let batch = spec.data.batch_size;
    let [h, w] = spec.data.image_size.map(|v| v as usize);
    let pixels: Vec<f32> = (0..batch * 3 * h * w)
        .map(|i| (i * 7 % 256) as f32)
        .collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 2).collect();
    let opened = crate::device::open(spec.device.unwrap_or_default())?;
    let inner = opened.device.clone();
    let device = inner.clone().autodiff();
    let mut model = GraphModel::new(&plan.graph, &device);
    weights::load_pretrained(&mut model, plan, &device)?;
    let timed = |work: &mut dyn FnMut() -> Result<(), RunError>| -> Result<f64, RunError> {
        let mut started = Instant::now();
        for step in 0..steps + WARM_UP_STEPS {
            if step == WARM_UP_STEPS {
                opened.sync()?;
                started = Instant::now();
            }
            work()?;
        }
        // A GPU queues work: wait for it before reading the clock.
        opened.sync()?;
        Ok((steps * batch) as f64 / started.elapsed().as_secs_f64())
    };
    let mut phases = Vec::new();
    for phase_plan in &plan.phases {
        model = phase::apply(model, phase_plan);
        let mut optim = optimizer::build(&phase_plan.spec.optimizer, None);
        let mut step = Step {
            model: &mut model,
            optim: &mut optim,
            phase: phase_plan,
            plan,
            labels: &labels,
            device: &device,
        };
        let images = || images_tensor(&pixels, batch, h, w, &device);
        let full = timed(&mut || {
            let output = step
                .model
                .forward_with_constant_prefix(&phase_plan.constant, images());
            step.take(output)
        })?;
        let stored = match stored_prefix(step.model, phase_plan, images()) {
            Some(known) => Some(timed(&mut || {
                let output = step
                    .model
                    .forward_from_prefix(&phase_plan.constant, known.clone());
                step.take(output)
            })?),
            None => None,
        };
        phases.push(PhaseSpeed {
            phase: phase_plan.spec.name.clone(),
            images_per_second: full,
            stored_prefix_images_per_second: stored,
        });
    }
    let inference = model.valid();
    let inference_images_per_second = timed(&mut || {
        let output = inference.forward(images_tensor(&pixels, batch, h, w, &inner));
        to_vec(output).map(drop)
    })?;
    Ok(BenchReport {
        spec: spec.name.clone(),
        batch_size: batch,
        image_size: [h, w],
        steps,
        threads: rayon::current_num_threads(),
        device: format!("{} {}", opened.info.backend, opened.info.device),
        phases,
        inference_images_per_second,
        peak_memory_bytes: peak_memory(),
    })
}

/// One training step's moving parts.
struct Step<'a> {
    model: &'a mut GraphModel,
    optim: &'a mut ModuleOptimizer,
    phase: &'a PhasePlan,
    plan: &'a Plan,
    labels: &'a [u32],
    device: &'a Device,
}

impl Step<'_> {
    /// Loss, backward and optimizer step from the model's `output`.
    fn take(&mut self, output: Tensor<2>) -> Result<(), RunError> {
        let spec = &self.plan.spec.spec;
        let loss = loss::loss(&spec.loss, output, self.labels, self.device);
        let grads = GradientsParams::from_grads(loss.backward(), &*self.model);
        let lr = self.phase.spec.optimizer.learning_rate();
        *self.model = self.optim.step(lr, self.model.clone(), grads);
        Ok(())
    }
}

/// The frozen prefix's outputs for `images`, as autodiff constants; `None` when the phase
/// has no frozen prefix beyond preprocessing.
fn stored_prefix(
    model: &GraphModel,
    phase: &PhasePlan,
    images: Tensor<4>,
) -> Option<Vec<(usize, Value)>> {
    if !model.prefix_worth_storing(&phase.constant) {
        return None;
    }
    Some(model.prefix_constants(&phase.constant, images))
}

/// Peak resident memory of this process (`VmHWM` of `/proc/self/status`).
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
