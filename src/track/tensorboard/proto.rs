//! Hand-written protobuf messages for TensorBoard event files.
//!
//! Field names and numbers are copied from TensorBoard's protos (as shipped in
//! the `tensorboard` PyPI package, 2.21.0): `tensorboard/compat/proto/
//! {event,summary,tensor,tensor_shape,histogram,types}.proto`,
//! `tensorboard/plugins/hparams/{api,plugin_data}.proto` and
//! `google/protobuf/struct.proto`. Only the fields this crate writes are
//! declared; protobuf readers skip what they do not know, and unknown fields
//! we never write cannot matter. All messages are proto3.

#![allow(clippy::derive_partial_eq_without_eq)]

/// `tensorboard.Event` (event.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Event {
    /// Timestamp of the event, seconds since the epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// Global step of the event.
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "event::What", tags = "3, 5")]
    pub what: ::core::option::Option<event::What>,
}

pub mod event {
    /// `oneof what` of `tensorboard.Event` (subset).
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum What {
        /// Version of the file format, e.g. "brain.Event:2".
        #[prost(string, tag = "3")]
        FileVersion(::prost::alloc::string::String),
        #[prost(message, tag = "5")]
        Summary(super::Summary),
    }
}

/// `tensorboard.Summary` (summary.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: ::prost::alloc::vec::Vec<summary::Value>,
}

pub mod summary {
    /// `tensorboard.Summary.Image`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Image {
        #[prost(int32, tag = "1")]
        pub height: i32,
        #[prost(int32, tag = "2")]
        pub width: i32,
        /// 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA, 5 DIGITAL_YUV, 6 BGRA.
        #[prost(int32, tag = "3")]
        pub colorspace: i32,
        /// Image encoded as PNG (or JPEG).
        #[prost(bytes = "vec", tag = "4")]
        pub encoded_image_string: ::prost::alloc::vec::Vec<u8>,
    }

    /// `tensorboard.Summary.Value`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Value {
        #[prost(string, tag = "7")]
        pub node_name: ::prost::alloc::string::String,
        #[prost(string, tag = "1")]
        pub tag: ::prost::alloc::string::String,
        #[prost(message, optional, tag = "9")]
        pub metadata: ::core::option::Option<super::SummaryMetadata>,
        #[prost(oneof = "value::Value", tags = "2, 4, 5, 8")]
        pub value: ::core::option::Option<value::Value>,
    }

    pub mod value {
        /// `oneof value` of `tensorboard.Summary.Value` (subset).
        #[derive(Clone, PartialEq, ::prost::Oneof)]
        pub enum Value {
            #[prost(float, tag = "2")]
            SimpleValue(f32),
            #[prost(message, tag = "4")]
            Image(super::Image),
            #[prost(message, tag = "5")]
            Histo(super::super::HistogramProto),
            #[prost(message, tag = "8")]
            Tensor(super::super::TensorProto),
        }
    }
}

/// `tensorboard.SummaryMetadata` (summary.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    pub plugin_data: ::core::option::Option<summary_metadata::PluginData>,
    #[prost(string, tag = "2")]
    pub display_name: ::prost::alloc::string::String,
    #[prost(string, tag = "3")]
    pub summary_description: ::prost::alloc::string::String,
    #[prost(enumeration = "DataClass", tag = "4")]
    pub data_class: i32,
}

pub mod summary_metadata {
    /// `tensorboard.SummaryMetadata.PluginData`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct PluginData {
        #[prost(string, tag = "1")]
        pub plugin_name: ::prost::alloc::string::String,
        /// Plugin-specific serialized protobuf.
        #[prost(bytes = "vec", tag = "2")]
        pub content: ::prost::alloc::vec::Vec<u8>,
    }
}

/// `tensorboard.DataClass` (summary.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum DataClass {
    Unknown = 0,
    Scalar = 1,
    Tensor = 2,
    BlobSequence = 3,
}

/// `tensorboard.DataType` (types.proto, subset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    DtInvalid = 0,
    DtFloat = 1,
    DtDouble = 2,
    DtInt32 = 3,
    DtUint8 = 4,
    DtString = 7,
    DtInt64 = 9,
    DtBool = 10,
}

/// `tensorboard.TensorProto` (tensor.proto, subset).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TensorProto {
    #[prost(enumeration = "DataType", tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: ::core::option::Option<TensorShapeProto>,
    #[prost(int32, tag = "3")]
    pub version_number: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: ::prost::alloc::vec::Vec<u8>,
    #[prost(float, repeated, tag = "5")]
    pub float_val: ::prost::alloc::vec::Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    pub double_val: ::prost::alloc::vec::Vec<f64>,
    #[prost(int32, repeated, tag = "7")]
    pub int_val: ::prost::alloc::vec::Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: ::prost::alloc::vec::Vec<::prost::alloc::vec::Vec<u8>>,
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: ::prost::alloc::vec::Vec<i64>,
    #[prost(bool, repeated, tag = "11")]
    pub bool_val: ::prost::alloc::vec::Vec<bool>,
}

/// `tensorboard.TensorShapeProto` (tensor_shape.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: ::prost::alloc::vec::Vec<tensor_shape_proto::Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

pub mod tensor_shape_proto {
    /// `tensorboard.TensorShapeProto.Dim`.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Dim {
        #[prost(int64, tag = "1")]
        pub size: i64,
        #[prost(string, tag = "2")]
        pub name: ::prost::alloc::string::String,
    }
}

/// `tensorboard.HistogramProto` (histogram.proto).
///
/// `bucket[i]` counts the values in `(bucket_limit[i-1], bucket_limit[i]]`;
/// the first bucket starts at `min`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HistogramProto {
    #[prost(double, tag = "1")]
    pub min: f64,
    #[prost(double, tag = "2")]
    pub max: f64,
    #[prost(double, tag = "3")]
    pub num: f64,
    #[prost(double, tag = "4")]
    pub sum: f64,
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: ::prost::alloc::vec::Vec<f64>,
    #[prost(double, repeated, tag = "7")]
    pub bucket: ::prost::alloc::vec::Vec<f64>,
}

// ---------------------------------------------------------------------------
// google/protobuf/struct.proto (subset: no Struct)

/// `google.protobuf.Value` (without `struct_value`).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Value {
    #[prost(oneof = "value::Kind", tags = "1, 2, 3, 4, 6")]
    pub kind: ::core::option::Option<value::Kind>,
}

pub mod value {
    /// `oneof kind` of `google.protobuf.Value`.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Kind {
        /// `google.protobuf.NullValue` (always 0).
        #[prost(int32, tag = "1")]
        NullValue(i32),
        #[prost(double, tag = "2")]
        NumberValue(f64),
        #[prost(string, tag = "3")]
        StringValue(::prost::alloc::string::String),
        #[prost(bool, tag = "4")]
        BoolValue(bool),
        #[prost(message, tag = "6")]
        ListValue(super::ListValue),
    }
}

/// `google.protobuf.ListValue`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ListValue {
    #[prost(message, repeated, tag = "1")]
    pub values: ::prost::alloc::vec::Vec<Value>,
}

// ---------------------------------------------------------------------------
// tensorboard/plugins/hparams/plugin_data.proto

/// `tensorboard.hparams.HParamsPluginData`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HParamsPluginData {
    /// Version of the plugin data schema (0).
    #[prost(int32, tag = "1")]
    pub version: i32,
    #[prost(oneof = "h_params_plugin_data::Data", tags = "2, 3, 4")]
    pub data: ::core::option::Option<h_params_plugin_data::Data>,
}

pub mod h_params_plugin_data {
    /// `oneof data` of `tensorboard.hparams.HParamsPluginData`.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Data {
        #[prost(message, tag = "2")]
        Experiment(super::Experiment),
        #[prost(message, tag = "3")]
        SessionStartInfo(super::SessionStartInfo),
        #[prost(message, tag = "4")]
        SessionEndInfo(super::SessionEndInfo),
    }
}

/// `tensorboard.hparams.SessionStartInfo`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SessionStartInfo {
    /// `map<string, google.protobuf.Value> hparams = 1;`
    #[prost(btree_map = "string, message", tag = "1")]
    pub hparams: ::prost::alloc::collections::BTreeMap<::prost::alloc::string::String, Value>,
    #[prost(string, tag = "2")]
    pub model_uri: ::prost::alloc::string::String,
    #[prost(string, tag = "3")]
    pub monitor_url: ::prost::alloc::string::String,
    #[prost(string, tag = "4")]
    pub group_name: ::prost::alloc::string::String,
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// `tensorboard.hparams.SessionEndInfo`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SessionEndInfo {
    #[prost(enumeration = "Status", tag = "1")]
    pub status: i32,
    #[prost(double, tag = "2")]
    pub end_time_secs: f64,
}

// ---------------------------------------------------------------------------
// tensorboard/plugins/hparams/api.proto

/// `tensorboard.hparams.Experiment`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Experiment {
    #[prost(string, tag = "6")]
    pub name: ::prost::alloc::string::String,
    #[prost(string, tag = "1")]
    pub description: ::prost::alloc::string::String,
    #[prost(string, tag = "2")]
    pub user: ::prost::alloc::string::String,
    #[prost(double, tag = "3")]
    pub time_created_secs: f64,
    #[prost(message, repeated, tag = "4")]
    pub hparam_infos: ::prost::alloc::vec::Vec<HParamInfo>,
    #[prost(message, repeated, tag = "5")]
    pub metric_infos: ::prost::alloc::vec::Vec<MetricInfo>,
}

/// `tensorboard.hparams.HParamInfo`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct HParamInfo {
    #[prost(string, tag = "1")]
    pub name: ::prost::alloc::string::String,
    #[prost(string, tag = "2")]
    pub display_name: ::prost::alloc::string::String,
    #[prost(string, tag = "3")]
    pub description: ::prost::alloc::string::String,
    #[prost(enumeration = "HParamDataType", tag = "4")]
    pub r#type: i32,
    #[prost(oneof = "h_param_info::Domain", tags = "5, 6")]
    pub domain: ::core::option::Option<h_param_info::Domain>,
    #[prost(bool, tag = "7")]
    pub differs: bool,
}

pub mod h_param_info {
    /// `oneof domain` of `tensorboard.hparams.HParamInfo`.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Domain {
        #[prost(message, tag = "5")]
        DomainDiscrete(super::ListValue),
        #[prost(message, tag = "6")]
        DomainInterval(super::Interval),
    }
}

/// `tensorboard.hparams.Interval`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Interval {
    #[prost(double, tag = "1")]
    pub min_value: f64,
    #[prost(double, tag = "2")]
    pub max_value: f64,
}

/// `tensorboard.hparams.MetricInfo`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MetricInfo {
    #[prost(message, optional, tag = "1")]
    pub name: ::core::option::Option<MetricName>,
    #[prost(string, tag = "3")]
    pub display_name: ::prost::alloc::string::String,
    #[prost(string, tag = "4")]
    pub description: ::prost::alloc::string::String,
    #[prost(enumeration = "DatasetType", tag = "5")]
    pub dataset_type: i32,
}

/// `tensorboard.hparams.MetricName`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MetricName {
    /// Run-relative subdirectory holding the metric's scalars ("" = the run).
    #[prost(string, tag = "1")]
    pub group: ::prost::alloc::string::String,
    /// Scalar summary tag.
    #[prost(string, tag = "2")]
    pub tag: ::prost::alloc::string::String,
}

/// `tensorboard.hparams.DataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum HParamDataType {
    DataTypeUnset = 0,
    DataTypeString = 1,
    DataTypeBool = 2,
    DataTypeFloat64 = 3,
}

/// `tensorboard.hparams.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum Status {
    StatusUnknown = 0,
    StatusSuccess = 1,
    StatusFailure = 2,
    StatusRunning = 3,
}

/// `tensorboard.hparams.DatasetType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum DatasetType {
    DatasetUnknown = 0,
    DatasetTraining = 1,
    DatasetValidation = 2,
}
