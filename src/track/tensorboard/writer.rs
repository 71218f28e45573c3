//! [`EventWriter`]: appends TensorBoard events to one event file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use super::proto::{
    self, DataType, Event, Experiment, HParamDataType, HParamInfo, HParamsPluginData,
    HistogramProto, MetricInfo, MetricName, SessionEndInfo, SessionStartInfo, Status, Summary,
    SummaryMetadata, TensorProto, TensorShapeProto, event, h_params_plugin_data, summary,
    summary_metadata, tensor_shape_proto,
};
use super::record;
use crate::track::atomic::with_path;

/// Distinguishes writers created in the same second by the same process.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Number of equal-width buckets of a histogram (as TensorBoard's own
/// `histogram` summary op uses by default).
const HISTOGRAM_BUCKETS: usize = 30;

const HPARAMS_PLUGIN: &str = "hparams";
const HPARAMS_EXPERIMENT_TAG: &str = "_hparams_/experiment";
const HPARAMS_SESSION_START_TAG: &str = "_hparams_/session_start_info";
const HPARAMS_SESSION_END_TAG: &str = "_hparams_/session_end_info";

/// A hyperparameter value for the HParams dashboard.
#[derive(Clone, Debug, PartialEq)]
pub enum HParamValue {
    /// Shown as a string; discrete.
    Str(String),
    /// Shown as a number (TensorBoard stores all numbers as f64).
    Num(f64),
    /// Shown as a boolean.
    Bool(bool),
}

impl HParamValue {
    /// The value as JSON (a string, number or boolean).
    pub fn to_json(&self) -> String {
        match self {
            HParamValue::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
            HParamValue::Num(x) => serde_json::Value::from(*x).to_string(),
            HParamValue::Bool(b) => b.to_string(),
        }
    }

    /// A value from JSON text; text that is not a JSON number or boolean is a string.
    pub fn from_json(text: &str) -> Self {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Number(n)) => HParamValue::Num(n.as_f64().unwrap_or(f64::NAN)),
            Ok(serde_json::Value::Bool(b)) => HParamValue::Bool(b),
            Ok(serde_json::Value::String(s)) => HParamValue::Str(s),
            _ => HParamValue::Str(text.to_string()),
        }
    }
}

/// The values an HParam takes across a sweep, for TensorBoard's filters.
#[derive(Debug, Clone, PartialEq)]
pub enum HParamDomain {
    /// A numeric range.
    Interval(f64, f64),
    /// These values.
    Discrete(Vec<HParamValue>),
}

impl From<&str> for HParamValue {
    fn from(v: &str) -> Self {
        HParamValue::Str(v.to_owned())
    }
}
impl From<String> for HParamValue {
    fn from(v: String) -> Self {
        HParamValue::Str(v)
    }
}
impl From<bool> for HParamValue {
    fn from(v: bool) -> Self {
        HParamValue::Bool(v)
    }
}
impl From<f64> for HParamValue {
    fn from(v: f64) -> Self {
        HParamValue::Num(v)
    }
}
impl From<f32> for HParamValue {
    fn from(v: f32) -> Self {
        HParamValue::Num(v.into())
    }
}
impl From<i64> for HParamValue {
    fn from(v: i64) -> Self {
        HParamValue::Num(v as f64)
    }
}
impl From<u64> for HParamValue {
    fn from(v: u64) -> Self {
        HParamValue::Num(v as f64)
    }
}
impl From<usize> for HParamValue {
    fn from(v: usize) -> Self {
        HParamValue::Num(v as f64)
    }
}

/// How a run ended, for the HParams dashboard's session status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    Success,
    Failure,
    Running,
    Unknown,
}

impl SessionStatus {
    fn to_proto(self) -> Status {
        match self {
            SessionStatus::Success => Status::StatusSuccess,
            SessionStatus::Failure => Status::StatusFailure,
            SessionStatus::Running => Status::StatusRunning,
            SessionStatus::Unknown => Status::StatusUnknown,
        }
    }
}

/// Writes one TensorBoard event file in a log folder.
///
/// The file is named `events.out.tfevents.<secs>.<hostname>.<pid>.<counter>`;
/// `<counter>` is process-wide, so two writers created in the same second in
/// the same process (or in different processes: `<pid>`) never share a file,
/// and the file is opened with `create_new`, so an existing file is never
/// overwritten.
///
/// Events are buffered; call [`flush`](Self::flush) after each epoch so a
/// killed run loses at most the events since. Each record reaches the buffer
/// whole, so a crash can only truncate the last record, which TensorBoard's
/// reader skips. Dropping the writer flushes it (ignoring errors; call
/// `flush` to see them).
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter")
            .field("path", &self.path)
            .finish()
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "localhost".to_owned()
    } else {
        clean
    }
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl EventWriter {
    /// Creates `logdir` (and parents) if needed and a new event file in it,
    /// starting with the `brain.Event:2` file-version event.
    pub fn new(logdir: &Path) -> io::Result<Self> {
        fs::create_dir_all(logdir).map_err(|e| with_path(e, "cannot create log folder", logdir))?;
        let host = hostname();
        let pid = std::process::id();
        let (path, file) = loop {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = logdir.join(format!("events.out.tfevents.{secs}.{host}.{pid}.{n}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(with_path(e, "cannot create event file", &path)),
            }
        };
        let mut writer = EventWriter {
            path,
            out: BufWriter::new(file),
        };
        writer.write_event(Event {
            wall_time: now_secs(),
            step: 0,
            what: Some(event::What::FileVersion("brain.Event:2".to_owned())),
        })?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_event(&mut self, event: Event) -> io::Result<()> {
        let bytes = event.encode_to_vec();
        record::write_record(&mut self.out, &bytes)
            .map_err(|e| with_path(e, "cannot write event file", &self.path))
    }

    fn write_values(&mut self, step: u64, values: Vec<summary::Value>) -> io::Result<()> {
        self.write_event(Event {
            wall_time: now_secs(),
            step: step_i64(step),
            what: Some(event::What::Summary(Summary { value: values })),
        })
    }

    fn write_value(
        &mut self,
        tag: &str,
        step: u64,
        metadata: Option<SummaryMetadata>,
        value: summary::value::Value,
    ) -> io::Result<()> {
        self.write_values(
            step,
            vec![summary::Value {
                node_name: String::new(),
                tag: tag.to_owned(),
                metadata,
                value: Some(value),
            }],
        )
    }

    /// Writes everything buffered to the file (the OS has it afterwards, so
    /// killing the process loses nothing written before).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out
            .flush()
            .map_err(|e| with_path(e, "cannot write event file", &self.path))
    }

    /// A scalar (stored as f32, like every TensorBoard scalar summary).
    /// Use tags like `train/loss`, `val/accuracy`, `epoch/lr`: the part
    /// before `/` groups charts in the dashboard.
    pub fn add_scalar(&mut self, tag: &str, value: impl Into<f64>, step: u64) -> io::Result<()> {
        let v = value.into() as f32;
        self.write_value(tag, step, None, summary::value::Value::SimpleValue(v))
    }

    /// An RGB image, `rgb` in row-major height x width x 3 (HWC) `u8` order
    /// (row 0 is the top). Stored PNG-encoded.
    pub fn add_image(
        &mut self,
        tag: &str,
        rgb: &[u8],
        height: u32,
        width: u32,
        step: u64,
    ) -> io::Result<()> {
        let expected = height as usize * width as usize * 3;
        if height == 0 || width == 0 || rgb.len() != expected {
            return Err(invalid(format!(
                "image {tag:?} for {}: {} bytes given, {height}x{width}x3 = {expected} expected \
                 (and both sides must be non-zero)",
                self.path.display(),
                rgb.len()
            )));
        }
        let (Ok(h), Ok(w)) = (i32::try_from(height), i32::try_from(width)) else {
            return Err(invalid(format!(
                "image {tag:?} for {}: {height}x{width} is too large",
                self.path.display()
            )));
        };
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            rgb,
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| {
            invalid(format!(
                "image {tag:?} for {}: PNG encoding failed: {e}",
                self.path.display()
            ))
        })?;
        let img = summary::Image {
            height: h,
            width: w,
            colorspace: 3,
            encoded_image_string: png,
        };
        self.write_value(tag, step, None, summary::value::Value::Image(img))
    }

    /// Markdown text for the Text dashboard (a scalar string tensor tagged
    /// with the `text` plugin, as `tf.summary.text` writes it).
    pub fn add_text(&mut self, tag: &str, markdown: &str, step: u64) -> io::Result<()> {
        let metadata = plugin_metadata("text", Vec::new());
        let tensor = TensorProto {
            dtype: DataType::DtString as i32,
            tensor_shape: Some(TensorShapeProto::default()),
            string_val: vec![markdown.as_bytes().to_vec()],
            ..Default::default()
        };
        self.write_value(
            tag,
            step,
            Some(metadata),
            summary::value::Value::Tensor(tensor),
        )
    }

    /// A histogram of `values` (e.g. one layer's weights) in 30 equal-width
    /// buckets between their min and max. Non-finite values are left out.
    pub fn add_histogram(&mut self, tag: &str, values: &[f32], step: u64) -> io::Result<()> {
        let histo = histogram(values);
        self.write_value(tag, step, None, summary::value::Value::Histo(histo))
    }

    /// HParams-plugin entries for this run, the way
    /// `torch.utils.tensorboard.SummaryWriter.add_hparams` writes them:
    /// the experiment (these hparams and metrics), the session start info
    /// (the hparam values), one scalar per metric (tag = metric name, at
    /// `step`) and the session end info (status success).
    ///
    /// TensorBoard takes the experiment declaration from one run, so write
    /// the same hparam names and metric names in every run of a log folder
    /// (values may differ, of course).
    pub fn add_hparams(
        &mut self,
        hparams: &[(&str, HParamValue)],
        metrics: &[(&str, f64)],
        step: u64,
    ) -> io::Result<()> {
        let metric_names: Vec<&str> = metrics.iter().map(|(n, _)| *n).collect();
        self.add_hparams_start(hparams, &metric_names)?;
        for (name, value) in metrics {
            self.add_scalar(name, *value, step)?;
        }
        self.add_hparams_end(SessionStatus::Success)
    }

    /// The first half of [`add_hparams`](Self::add_hparams): experiment and
    /// session start info. Write it when a run starts (so a running or
    /// failed run shows in the dashboard), the metric scalars as they come,
    /// and [`add_hparams_end`](Self::add_hparams_end) when it ends.
    pub fn add_hparams_start(
        &mut self,
        hparams: &[(&str, HParamValue)],
        metric_tags: &[&str],
    ) -> io::Result<()> {
        self.add_hparams_session(hparams, metric_tags, "")
    }

    /// [`add_hparams_start`](Self::add_hparams_start) for one of several sessions that
    /// TensorBoard aggregates under `group` (seed replicates of one configuration).
    pub fn add_hparams_session(
        &mut self,
        hparams: &[(&str, HParamValue)],
        metric_tags: &[&str],
        group: &str,
    ) -> io::Result<()> {
        let now = now_secs();
        let experiment = Experiment {
            time_created_secs: now,
            hparam_infos: hparams
                .iter()
                .map(|(name, v)| HParamInfo {
                    name: (*name).to_owned(),
                    r#type: match v {
                        HParamValue::Str(_) => HParamDataType::DataTypeString,
                        HParamValue::Num(_) => HParamDataType::DataTypeFloat64,
                        HParamValue::Bool(_) => HParamDataType::DataTypeBool,
                    } as i32,
                    ..Default::default()
                })
                .collect(),
            metric_infos: metric_infos(metric_tags),
            ..Default::default()
        };
        self.write_hparams_data(
            HPARAMS_EXPERIMENT_TAG,
            h_params_plugin_data::Data::Experiment(experiment),
        )?;
        let start = SessionStartInfo {
            hparams: hparams
                .iter()
                .map(|(name, v)| ((*name).to_owned(), hparam_to_proto(v)))
                .collect(),
            start_time_secs: now,
            group_name: group.to_owned(),
            ..Default::default()
        };
        self.write_hparams_data(
            HPARAMS_SESSION_START_TAG,
            h_params_plugin_data::Data::SessionStartInfo(start),
        )
    }

    /// The HParams experiment of a folder of runs (a sweep): each hparam's type and domain
    /// and the metric tags, written at the folder's root, where TensorBoard looks first.
    pub fn add_hparams_experiment(
        &mut self,
        hparams: &[(String, HParamDomain)],
        metric_tags: &[&str],
    ) -> io::Result<()> {
        use super::proto::{Interval, ListValue, h_param_info::Domain};
        let experiment = Experiment {
            time_created_secs: now_secs(),
            hparam_infos: hparams
                .iter()
                .map(|(name, domain)| {
                    let (kind, domain) = match domain {
                        HParamDomain::Interval(min_value, max_value) => (
                            HParamDataType::DataTypeFloat64,
                            Domain::DomainInterval(Interval {
                                min_value: *min_value,
                                max_value: *max_value,
                            }),
                        ),
                        HParamDomain::Discrete(values) => (
                            match values.first() {
                                Some(HParamValue::Num(_)) => HParamDataType::DataTypeFloat64,
                                Some(HParamValue::Bool(_)) => HParamDataType::DataTypeBool,
                                _ => HParamDataType::DataTypeString,
                            },
                            Domain::DomainDiscrete(ListValue {
                                values: values.iter().map(hparam_to_proto).collect(),
                            }),
                        ),
                    };
                    HParamInfo {
                        name: name.clone(),
                        r#type: kind as i32,
                        domain: Some(domain),
                        ..Default::default()
                    }
                })
                .collect(),
            metric_infos: metric_infos(metric_tags),
            ..Default::default()
        };
        self.write_hparams_data(
            HPARAMS_EXPERIMENT_TAG,
            h_params_plugin_data::Data::Experiment(experiment),
        )
    }

    /// The session end info of the HParams plugin, with the run's status.
    pub fn add_hparams_end(&mut self, status: SessionStatus) -> io::Result<()> {
        let end = SessionEndInfo {
            status: status.to_proto() as i32,
            end_time_secs: now_secs(),
        };
        self.write_hparams_data(
            HPARAMS_SESSION_END_TAG,
            h_params_plugin_data::Data::SessionEndInfo(end),
        )
    }

    fn write_hparams_data(
        &mut self,
        tag: &str,
        data: h_params_plugin_data::Data,
    ) -> io::Result<()> {
        let content = HParamsPluginData {
            version: 0,
            data: Some(data),
        }
        .encode_to_vec();
        // An empty float vector, like the plugin's `metadata.NULL_TENSOR`:
        // the entry's payload is all in the metadata.
        let null_tensor = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: vec![tensor_shape_proto::Dim::default()],
                unknown_rank: false,
            }),
            ..Default::default()
        };
        self.write_value(
            tag,
            0,
            Some(plugin_metadata(HPARAMS_PLUGIN, content)),
            summary::value::Value::Tensor(null_tensor),
        )
    }
}

fn plugin_metadata(plugin_name: &str, content: Vec<u8>) -> SummaryMetadata {
    SummaryMetadata {
        plugin_data: Some(summary_metadata::PluginData {
            plugin_name: plugin_name.to_owned(),
            content,
        }),
        ..Default::default()
    }
}

/// The HParams metric declarations of scalar `tags`.
fn metric_infos(tags: &[&str]) -> Vec<MetricInfo> {
    tags.iter()
        .map(|tag| MetricInfo {
            name: Some(MetricName {
                group: String::new(),
                tag: (*tag).to_owned(),
            }),
            ..Default::default()
        })
        .collect()
}

fn hparam_to_proto(v: &HParamValue) -> proto::Value {
    use proto::value::Kind;
    let kind = match v {
        HParamValue::Str(s) => Kind::StringValue(s.clone()),
        HParamValue::Num(x) => Kind::NumberValue(*x),
        HParamValue::Bool(b) => Kind::BoolValue(*b),
    };
    proto::Value { kind: Some(kind) }
}

/// Histogram of the finite `values`: `HISTOGRAM_BUCKETS` equal-width buckets
/// over [min, max] (a single unit-wide bucket when all values are equal; no
/// buckets when there are none).
fn histogram(values: &[f32]) -> HistogramProto {
    let finite = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v));
    let (mut min, mut max, mut num, mut sum, mut sum_squares) =
        (f64::INFINITY, f64::NEG_INFINITY, 0usize, 0.0f64, 0.0f64);
    for v in finite.clone() {
        min = min.min(v);
        max = max.max(v);
        num += 1;
        sum += v;
        sum_squares += v * v;
    }
    if num == 0 {
        return HistogramProto::default();
    }
    let (lo, hi, n) = if max > min {
        (min, max, HISTOGRAM_BUCKETS)
    } else {
        (min - 0.5, max + 0.5, 1)
    };
    let width = (hi - lo) / n as f64;
    let mut bucket = vec![0.0f64; n];
    for v in finite {
        let i = (((v - lo) / width) as usize).min(n - 1);
        bucket[i] += 1.0;
    }
    let mut bucket_limit: Vec<f64> = (1..=n).map(|i| lo + width * i as f64).collect();
    if let Some(last) = bucket_limit.last_mut() {
        *last = hi;
    }
    HistogramProto {
        min,
        max,
        num: num as f64,
        sum,
        sum_squares,
        bucket_limit,
        bucket,
    }
}

/// Tiles equally sized RGB HWC images into one grid image (row-major,
/// `cols` per row, `pad` pixels of white between and around), e.g. a sample
/// of augmented training images for [`EventWriter::add_image`].
/// Returns `(pixels, height, width)`, or `None` if there are no images, a
/// size is zero, or an image's buffer does not have `height * width * 3`
/// bytes.
pub fn image_grid(
    images: &[&[u8]],
    height: u32,
    width: u32,
    cols: u32,
    pad: u32,
) -> Option<(Vec<u8>, u32, u32)> {
    let (h, w, pad) = (height as usize, width as usize, pad as usize);
    if images.is_empty() || h == 0 || w == 0 || cols == 0 {
        return None;
    }
    if images.iter().any(|img| img.len() != h * w * 3) {
        return None;
    }
    let cols = (cols as usize).min(images.len());
    let rows = images.len().div_ceil(cols);
    let gw = cols * w + (cols + 1) * pad;
    let gh = rows * h + (rows + 1) * pad;
    let mut out = vec![255u8; gw * gh * 3];
    for (k, img) in images.iter().enumerate() {
        let (r, c) = (k / cols, k % cols);
        let y0 = pad + r * (h + pad);
        let x0 = pad + c * (w + pad);
        for y in 0..h {
            let src = &img[y * w * 3..(y + 1) * w * 3];
            let dst = ((y0 + y) * gw + x0) * 3;
            out[dst..dst + w * 3].copy_from_slice(src);
        }
    }
    Some((out, u32::try_from(gh).ok()?, u32::try_from(gw).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_events(path: &Path) -> Vec<Event> {
        let bytes = fs::read(path).unwrap();
        let mut events = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let len = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            assert_eq!(len_crc, record::masked_crc32c(&bytes[pos..pos + 8]));
            let data = &bytes[pos + 12..pos + 12 + len];
            let crc = u32::from_le_bytes(bytes[pos + 12 + len..pos + 16 + len].try_into().unwrap());
            assert_eq!(crc, record::masked_crc32c(data));
            events.push(Event::decode(data).unwrap());
            pos += 16 + len;
        }
        events
    }

    #[test]
    fn first_event_is_file_version_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let a = EventWriter::new(dir.path()).unwrap();
        let b = EventWriter::new(dir.path()).unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        let events = read_events(a.path());
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].what,
            Some(event::What::FileVersion("brain.Event:2".into()))
        );
    }

    #[test]
    fn scalar_round_trip_through_our_framing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::new(dir.path()).unwrap();
        w.add_scalar("train/loss", 0.5f32, 3).unwrap();
        w.flush().unwrap();
        let events = read_events(w.path());
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].step, 3);
        let Some(event::What::Summary(s)) = &events[1].what else {
            panic!("not a summary")
        };
        assert_eq!(s.value[0].tag, "train/loss");
        assert_eq!(
            s.value[0].value,
            Some(summary::value::Value::SimpleValue(0.5))
        );
    }

    #[test]
    fn bad_image_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::new(dir.path()).unwrap();
        let err = w.add_image("img", &[0; 5], 2, 2, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("img"));
        assert!(w.add_image("img", &[], 0, 0, 0).is_err());
    }

    #[test]
    fn histogram_counts() {
        let h = histogram(&[0.0, 1.0, 2.0, 3.0, f32::NAN]);
        assert_eq!(h.num, 4.0);
        assert_eq!(h.min, 0.0);
        assert_eq!(h.max, 3.0);
        assert_eq!(h.sum, 6.0);
        assert_eq!(h.sum_squares, 14.0);
        assert_eq!(h.bucket.len(), HISTOGRAM_BUCKETS);
        assert_eq!(h.bucket.iter().sum::<f64>(), 4.0);
        assert_eq!(*h.bucket_limit.last().unwrap(), 3.0);
        assert_eq!(h.bucket[HISTOGRAM_BUCKETS - 1], 1.0);

        let same = histogram(&[2.0, 2.0]);
        assert_eq!(same.bucket, vec![2.0]);
        assert_eq!(histogram(&[]).num, 0.0);
    }

    #[test]
    fn grid_layout() {
        let a = [1u8; 2 * 3 * 3];
        let b = [2u8; 2 * 3 * 3];
        let c = [3u8; 2 * 3 * 3];
        let (px, h, w) = image_grid(&[&a, &b, &c], 2, 3, 2, 1).unwrap();
        assert_eq!((h, w), (2 * 2 + 3, 2 * 3 + 3));
        assert_eq!(px.len(), (h * w * 3) as usize);
        let at = |y: u32, x: u32| px[((y * w + x) * 3) as usize];
        assert_eq!(at(0, 0), 255);
        assert_eq!(at(1, 1), 1);
        assert_eq!(at(1, 5), 2);
        assert_eq!(at(4, 1), 3);
        assert_eq!(at(4, 5), 255);
        assert!(image_grid(&[&a[..5]], 2, 3, 2, 1).is_none());
    }
}
