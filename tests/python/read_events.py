"""Reads TensorBoard event files with TensorBoard's own readers; prints JSON.

Usage: read_events.py LOGDIR

Used by tests/tensorboard_readback.rs to check that the event files written
by runner's EventWriter read back with the right values. Two readers:

- event_accumulator.EventAccumulator (the classic reader): scalars, images,
  histograms, tensors (text) and plugin contents (hparams);
- plugin_event_accumulator.EventAccumulator (what the TensorBoard server
  uses): which plugin each tag ends up under after TensorBoard's own data
  migrations.
"""

import base64
import json
import sys

from google.protobuf import json_format
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util


def plugin_tags(acc, plugin_name):
    """Tag -> plugin content for one plugin; empty if no tag uses it."""
    try:
        return acc.PluginTagToContent(plugin_name)
    except KeyError:
        return {}


def classic(logdir):
    guidance = {key: 0 for key in event_accumulator.DEFAULT_SIZE_GUIDANCE}
    acc = event_accumulator.EventAccumulator(logdir, size_guidance=guidance)
    acc.Reload()
    tags = acc.Tags()
    out = {"file_version": acc.file_version, "tags": {}}
    for kind, value in tags.items():
        if isinstance(value, list):
            out["tags"][kind] = sorted(value)

    out["scalars"] = {
        tag: [[e.step, e.value] for e in acc.Scalars(tag)]
        for tag in tags["scalars"]
    }
    out["images"] = {
        tag: [
            {
                "step": e.step,
                "width": e.width,
                "height": e.height,
                "png_b64": base64.b64encode(e.encoded_image_string).decode(),
            }
            for e in acc.Images(tag)
        ]
        for tag in tags["images"]
    }
    out["histograms"] = {}
    for tag in tags["histograms"]:
        out["histograms"][tag] = [
            {
                "step": e.step,
                "min": e.histogram_value.min,
                "max": e.histogram_value.max,
                "num": e.histogram_value.num,
                "sum": e.histogram_value.sum,
                "sum_squares": e.histogram_value.sum_squares,
                "bucket_limit": list(e.histogram_value.bucket_limit),
                "bucket": list(e.histogram_value.bucket),
            }
            for e in acc.Histograms(tag)
        ]

    text_tags = plugin_tags(acc, "text")
    out["text"] = {}
    for tag in text_tags:
        out["text"][tag] = [
            {
                "step": e.step,
                "value": tensor_util.make_ndarray(e.tensor_proto)
                .item()
                .decode("utf-8"),
            }
            for e in acc.Tensors(tag)
        ]

    hp = plugin_tags(acc, hparams_metadata.PLUGIN_NAME)
    out["hparams"] = {}
    parsers = {
        hparams_metadata.EXPERIMENT_TAG: hparams_metadata.parse_experiment_plugin_data,
        hparams_metadata.SESSION_START_INFO_TAG: hparams_metadata.parse_session_start_info_plugin_data,
        hparams_metadata.SESSION_END_INFO_TAG: hparams_metadata.parse_session_end_info_plugin_data,
    }
    for tag, content in hp.items():
        parsed = parsers[tag](content)
        out["hparams"][tag] = json_format.MessageToDict(
            parsed, preserving_proto_field_name=True
        )
    return out


def server_view(logdir):
    acc = plugin_event_accumulator.EventAccumulator(
        logdir, size_guidance={plugin_event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    plugins = {}
    for tag in acc.Tags()[plugin_event_accumulator.TENSORS]:
        meta = acc.SummaryMetadata(tag)
        plugins[tag] = {
            "plugin": meta.plugin_data.plugin_name,
            "data_class": meta.data_class,
            "count": len(acc.Tensors(tag)),
        }
    return plugins


def main():
    logdir = sys.argv[1]
    out = classic(logdir)
    out["server"] = server_view(logdir)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
