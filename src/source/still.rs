//! Single frames from a video, at full resolution (the `detect` test frames, installer pictures).

use anyhow::{Context, Result, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

fn software_decode() -> String {
    super::decoders::builtin().into_iter().find(|t| t.name == "software").map(|t| t.decode).unwrap_or_default()
}

/// Decode `uri` up to stream time `at_s` and return that frame as RGB.
pub fn grab_frame(uri: &str, at_s: f64) -> Result<image::RgbImage> {
    super::init()?;
    let desc = format!(
        "{} ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=2",
        super::decode_description(&software_decode(), uri)
    );
    let pipeline = gst::parse::launch(&desc)?.downcast::<gst::Pipeline>().map_err(|_| anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| anyhow!("no appsink"))?;
    pipeline.set_state(gst::State::Playing).with_context(|| format!("cannot play {uri}"))?;
    let result = (|| {
        let target = gst::ClockTime::from_nseconds((at_s.max(0.0) * 1e9) as u64);
        loop {
            let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else {
                if let Some(bus) = pipeline.bus()
                    && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
                    && let gst::MessageView::Error(e) = msg.view()
                {
                    bail!("{uri}: {}", e.error());
                }
                bail!("{uri}: the stream ended before {at_s} s");
            };
            let buffer = sample.buffer().ok_or_else(|| anyhow!("sample without buffer"))?;
            if buffer.pts().is_some_and(|p| p < target) {
                continue;
            }
            let info = gst_video::VideoInfo::from_caps(sample.caps().ok_or_else(|| anyhow!("sample without caps"))?)?;
            let map = buffer.map_readable()?;
            let (w, h, stride) = (info.width(), info.height(), info.stride()[0] as usize);
            let mut img = image::RgbImage::new(w, h);
            for (y, row) in img.chunks_exact_mut(w as usize * 3).enumerate() {
                row.copy_from_slice(&map[y * stride..y * stride + w as usize * 3]);
            }
            return Ok(img);
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}
