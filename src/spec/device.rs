//! Device names, as the spec's `device:` key and `--device` give them: `cpu`, `cuda[:N]`,
//! `wgpu[:N]`, `tch-cpu`, `tch-cuda[:N]`. Only the names live here, with the spec (which
//! records them); what each device is and how it opens is `crate::device`.

use super::diagnostic::did_you_mean;
use std::fmt;
use std::str::FromStr;

/// A device as a user names it (`--device`, `device:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceChoice {
    /// Burn's embedded flex CPU backend: pure Rust, always compiled in.
    #[default]
    Cpu,
    /// An NVIDIA GPU through Burn's native CUDA backend, by CUDA index (feature `cuda`).
    Cuda(usize),
    /// A wgpu adapter: the best one wgpu finds, or the Nth that `runner devices` lists
    /// (feature `wgpu`).
    Wgpu(Option<usize>),
    /// libtorch on the CPU (feature `tch`).
    TchCpu,
    /// An NVIDIA GPU through libtorch, by CUDA index (feature `tch`).
    TchCuda(usize),
}

/// The names `--device` accepts, for help and error texts.
pub const DEVICE_NAMES: &str = "cpu, cuda, cuda:N, wgpu, wgpu:N, tch-cpu, tch-cuda, tch-cuda:N";

/// The JSON Schema pattern of a device name (the spec's `device:`).
pub const DEVICE_PATTERN: &str =
    r"^(cpu|cuda(:[0-9]+)?|wgpu(:[0-9]+)?|tch-cpu|tch-cuda(:[0-9]+)?)$";

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Wgpu(None) => f.write_str("wgpu"),
            Self::Wgpu(Some(n)) => write!(f, "wgpu:{n}"),
            Self::TchCpu => f.write_str("tch-cpu"),
            Self::TchCuda(n) => write!(f, "tch-cuda:{n}"),
        }
    }
}

/// A device name that is not one of [`DEVICE_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device `{given}`: expected one of {DEVICE_NAMES}{}", hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
pub struct UnknownDevice {
    given: String,
    hint: Option<String>,
}

impl FromStr for DeviceChoice {
    type Err = UnknownDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, index) = match s.split_once(':') {
            Some((name, index)) => match index.parse::<usize>() {
                Ok(i) => (name, Some(i)),
                Err(_) => ("", None),
            },
            None => (s, None),
        };
        match (name, index) {
            ("cpu", None) => Ok(Self::Cpu),
            ("cuda", index) => Ok(Self::Cuda(index.unwrap_or(0))),
            ("wgpu", index) => Ok(Self::Wgpu(index)),
            ("tch-cpu", None) => Ok(Self::TchCpu),
            ("tch-cuda", index) => Ok(Self::TchCuda(index.unwrap_or(0))),
            _ => Err(UnknownDevice {
                given: s.to_string(),
                hint: hint(s),
            }),
        }
    }
}

/// The device name `given` was probably meant to be: the nearest name (case ignored), with
/// `given`'s index kept when only the case was wrong (`Cuda:1` -> `cuda:1`, `gpu:0` -> `wgpu`).
fn hint(given: &str) -> Option<String> {
    let (name, index) = given.split_once(':').unwrap_or((given, ""));
    let nearest = did_you_mean(name, ["cpu", "cuda", "wgpu", "tch-cpu", "tch-cuda"])?;
    let takes_index = matches!(nearest, "cuda" | "wgpu" | "tch-cuda");
    let only_case = name.to_lowercase() == nearest;
    Some(
        if only_case && takes_index && index.parse::<usize>().is_ok() {
            format!("{nearest}:{index}")
        } else {
            nearest.to_string()
        },
    )
}

impl serde::Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for DeviceChoice {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DeviceChoice".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DEVICE_PATTERN,
            "description": "Where to compute: cpu (Burn's embedded flex backend, the default), cuda or cuda:N (an NVIDIA GPU through Burn's CUDA backend), wgpu or wgpu:N (a GPU through wgpu; N as `runner devices` lists them), tch-cpu (libtorch's CPU kernels), tch-cuda or tch-cuda:N (an NVIDIA GPU through libtorch). `--device` overrides it."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("cpu", DeviceChoice::Cpu)]
    #[case("tch-cpu", DeviceChoice::TchCpu)]
    #[case("wgpu", DeviceChoice::Wgpu(None))]
    #[case("wgpu:1", DeviceChoice::Wgpu(Some(1)))]
    #[case("cuda", DeviceChoice::Cuda(0))]
    #[case("cuda:3", DeviceChoice::Cuda(3))]
    #[case("tch-cuda", DeviceChoice::TchCuda(0))]
    #[case("tch-cuda:1", DeviceChoice::TchCuda(1))]
    fn device_names_parse_and_print_back(#[case] text: &str, #[case] choice: DeviceChoice) {
        assert_eq!(text.parse::<DeviceChoice>(), Ok(choice));
        let printed = choice.to_string();
        assert_eq!(printed.parse::<DeviceChoice>(), Ok(choice));
        assert!(regex::Regex::new(DEVICE_PATTERN).unwrap().is_match(text));
    }

    #[rstest]
    #[case("gpu", Some("wgpu"))]
    #[case("wgpu:x", Some("wgpu"))]
    #[case("cpu:0", Some("cpu"))]
    #[case("tch", Some("tch-cpu"))]
    #[case("torch-cuda", Some("tch-cuda"))]
    #[case("CPU", Some("cpu"))]
    #[case("Cuda:1", Some("cuda:1"))]
    #[case("tpu", None)]
    fn an_unknown_device_lists_the_names_and_suggests_one(
        #[case] text: &str,
        #[case] hint: Option<&str>,
    ) {
        let error = text.parse::<DeviceChoice>().unwrap_err();
        assert_eq!(error.hint.as_deref(), hint);
        assert!(error.to_string().contains(DEVICE_NAMES), "{error}");
        assert!(!regex::Regex::new(DEVICE_PATTERN).unwrap().is_match(text));
    }
}
