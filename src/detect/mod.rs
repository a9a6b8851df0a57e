//! The detector: an ONNX Runtime session per input shape of the model (the manifest's own, and
//! picture-shaped ones for 16:9 cameras), letterboxed input, decoded and suppressed output.
//!
//! Pure parts (letterbox, decoders, NMS, manifest) are plain Rust tested on their own; this file
//! is the thin layer that talks to ONNX Runtime.

pub mod decode;
pub mod gate;
pub mod letterbox;
pub mod manifest;
pub mod nms;
pub mod regions;
pub mod runtime;
pub mod types;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use decode::DecodeScratch;
use fast_image_resize as fr;
use letterbox::Letterbox;
use manifest::{LabelMap, LabelSource, Manifest, OutputFormat};
use regions::{MappedBack, Mosaic, Rect};
pub use types::{BBox, Detection};

/// A decoded RGB picture, rows `stride` bytes apart: a camera's frame at its own size, or
/// already scaled to its letterbox.
#[derive(Debug, Clone, Copy)]
pub struct Picture<'a> {
    pub rgb: &'a [u8],
    pub stride: usize,
    pub width: u32,
    pub height: u32,
}

impl Picture<'_> {
    /// The picture's rows without their padding, appended to `out`; `None` when the buffer is
    /// shorter than its size says.
    pub fn copy_packed(&self, out: &mut Vec<u8>) -> Option<()> {
        let row = self.width as usize * 3;
        out.reserve(row * self.height as usize);
        for y in 0..self.height as usize {
            out.extend_from_slice(self.rgb.get(y * self.stride..y * self.stride + row)?);
        }
        Some(())
    }
}

/// Inference settings that are not part of the model.
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    /// Intra-op threads; `None` lets ONNX Runtime use every core.
    pub threads: Option<usize>,
    /// Let ONNX Runtime's workers spin-wait between runs (faster hand-off, burns CPU).
    pub spin: bool,
    /// Keep ONNX Runtime's CPU memory arena (its default). Off, intermediate tensors are
    /// allocated with malloc and given back after each run: less resident memory, and with the
    /// input and output bound once (below) the arena saves nothing on the per-frame path.
    pub arena: bool,
    /// ONNX Runtime's memory pattern: plan one block for every intermediate tensor of a run.
    /// Off by default: it held ~25 MB more for no measurable speed (docs/performance.md).
    pub memory_pattern: bool,
    /// Give freed heap memory back to the system after loading the model (glibc `malloc_trim`):
    /// loading and optimising the graph leaves tens of MB free but resident.
    pub trim: bool,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self::new(None, false)
    }
}

impl DetectorOptions {
    /// The defaults anttd runs with (see docs/performance.md for the measurements behind them).
    pub fn new(threads: Option<usize>, spin: bool) -> Self {
        Self { threads, spin, arena: true, memory_pattern: false, trim: true }
    }
}

/// Time spent in each step of the last [`Detector::detect`] call, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct DetectTimings {
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
}

pub struct Detector {
    pub manifest: Manifest,
    pub labels: LabelMap,
    opts: DetectorOptions,
    /// One per input shape the manifest lists whose file is present, the manifest's own first
    /// (always loaded); the others are loaded when a camera's frames first need them.
    shapes: Vec<Shape>,
    /// The shape of the latest inference (what [`Detector::raw_inference`] measures).
    current: usize,
    scratch: DecodeScratch,
    /// Scales full-size pictures and crops of them (motion regions) to the input.
    resizer: fr::Resizer,
    /// A scaled picture or crop, and a picture's rows packed without padding (for the resizer).
    scaled: Vec<u8>,
    packed: Vec<u8>,
    pub last_timings: DetectTimings,
    /// Milliseconds spent in model runs since the detector was loaded: a frame may take two
    /// (motion regions), which `last_timings` alone would not tell.
    pub inference_ms_sum: f64,
}

/// One input shape of the model.
struct Shape {
    size: (u32, u32),
    onnx: PathBuf,
    /// `None` until needed; `Err` once loading failed (its frames then go to the first shape).
    loaded: Option<Result<Loaded, String>>,
}

/// A loaded session with its input and output tensors allocated once and bound to it: a frame
/// is written into `input` in place and the model writes into `output`, so no tensor is
/// allocated per frame.
struct Loaded {
    session: Session,
    input: Tensor<f32>,
    output: Tensor<f32>,
    binding: IoBinding,
    num_candidates: usize,
}

impl Loaded {
    /// One inference on whatever the input tensor holds; the result lands in the output tensor.
    fn run(&mut self) -> Result<()> {
        // The outputs returned only alias the bound output tensor: dropping them frees nothing big.
        drop(self.session.run_binding(&self.binding).map_err(|e| anyhow!("inference failed: {e}"))?);
        Ok(())
    }
}

/// A session for `onnx` with `opts`.
fn open(onnx: &Path, runtime: Option<&Path>, opts: &DetectorOptions) -> Result<Session> {
    let env = runtime::environment(runtime)?;
    let mut builder = Session::builder(env)
        .map_err(|e| anyhow!("{e}"))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| anyhow!("{e}"))?;
    if let Some(n) = opts.threads {
        builder = builder.with_intra_threads(n).map_err(|e| anyhow!("{e}"))?;
    }
    builder = builder
        .with_config_entry("session.intra_op.allow_spinning", if opts.spin { "1" } else { "0" })
        .map_err(|e| anyhow!("{e}"))?
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(opts.arena).build()])
        .map_err(|e| anyhow!("{e}"))?
        .with_memory_pattern(opts.memory_pattern)
        .map_err(|e| anyhow!("{e}"))?;
    builder.commit_from_file(onnx).map_err(|e| anyhow!("cannot load model {}: {e}", onnx.display()))
}

/// Check `session`'s input and output against the manifest's format, `(w, h)` and `nc` labels,
/// and bind tensors to it.
fn bind(session: Session, onnx: &Path, format: OutputFormat, (w, h): (u32, u32), nc: usize) -> Result<Loaded> {
    let (w, h) = (i64::from(w), i64::from(h));
    let [input] = session.inputs() else {
        bail!("model {} has {} inputs, expected one image input", onnx.display(), session.inputs().len());
    };
    let ishape: Vec<i64> = input.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
    let fits = |got: i64, want: i64| got == want || got < 0;
    if ishape.len() != 4 || !fits(ishape[0], 1) || !fits(ishape[1], 3) || !fits(ishape[2], h) || !fits(ishape[3], w) {
        bail!("model {}: input shape {ishape:?} does not match manifest [1, 3, {h}, {w}]", onnx.display());
    }
    let [output] = session.outputs() else {
        bail!("model {} has {} outputs, expected one", onnx.display(), session.outputs().len());
    };
    let oshape: Vec<i64> = output.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
    let nc = nc as i64;
    let num_candidates = match format {
        OutputFormat::Yolov8 => {
            if oshape.len() != 3 || !fits(oshape[0], 1) || oshape[1] != 4 + nc || oshape[2] <= 0 {
                bail!(
                    "model {}: output shape {oshape:?} does not match format yolov8 with {nc} labels (expected [1, {}, N])",
                    onnx.display(),
                    4 + nc
                );
            }
            oshape[2] as usize
        }
    };
    let alloc = Allocator::default();
    let input_tensor = Tensor::<f32>::new(&alloc, [1usize, 3, h as usize, w as usize])
        .map_err(|e| anyhow!("cannot allocate the input tensor: {e}"))?;
    let mut output_tensor = Tensor::<f32>::new(&alloc, [1usize, (4 + nc) as usize, num_candidates])
        .map_err(|e| anyhow!("cannot allocate the output tensor: {e}"))?;
    let mut binding = session.create_binding().map_err(|e| anyhow!("{e}"))?;
    binding.bind_input(input.name(), &input_tensor).map_err(|e| anyhow!("cannot bind the model input: {e}"))?;
    let output_name = output.name().to_string();
    binding
        .bind_output(output_name.as_str(), &mut output_tensor)
        .map_err(|e| anyhow!("cannot bind the model output: {e}"))?;
    Ok(Loaded { session, input: input_tensor, output: output_tensor, binding, num_candidates })
}

impl Detector {
    /// Load the model a manifest describes and check that its input and output match it. Of
    /// the other input shapes it lists, those whose file is missing are left out with a
    /// warning (the model's own shape serves every camera); the rest load when first needed.
    pub fn load(manifest: &Manifest, runtime: Option<&Path>, opts: &DetectorOptions) -> Result<Self> {
        let onnx = manifest.onnx_path();
        if !onnx.is_file() {
            bail!(
                "model file {} not found (manifest {}); run scripts/setup to fetch it",
                onnx.display(),
                manifest.path.display()
            );
        }
        let session = open(&onnx, runtime, opts)?;
        let labels = match &manifest.labels {
            LabelSource::List(l) => l.clone(),
            LabelSource::Metadata => {
                let meta =
                    session.metadata().map_err(|e| anyhow!("model {}: cannot read metadata: {e}", onnx.display()))?;
                let names = meta.custom("names").ok_or_else(|| {
                    anyhow!(
                        "model {} has no `names` metadata: list the labels in manifest {}",
                        onnx.display(),
                        manifest.path.display()
                    )
                })?;
                manifest::parse_names_metadata(&names).map_err(|e| anyhow!("model {}: {e}", onnx.display()))?
            }
        };
        let labels = LabelMap::new(labels, &manifest.groups)
            .map_err(|e| anyhow!("manifest {}: {e}", manifest.path.display()))?;
        let size = (manifest.input.width, manifest.input.height);
        let first = bind(session, &onnx, manifest.format, size, labels.labels.len())?;
        let mut shapes = vec![Shape { size, onnx, loaded: Some(Ok(first)) }];
        for (size, onnx) in manifest.inputs().into_iter().skip(1) {
            if onnx.is_file() {
                shapes.push(Shape { size, onnx, loaded: None });
            } else {
                tracing::warn!(
                    model = %onnx.display(),
                    "the {}x{} input of manifest {} is missing (scripts/setup makes it): every camera uses {}x{}",
                    size.0,
                    size.1,
                    manifest.path.display(),
                    manifest.input.width,
                    manifest.input.height
                );
            }
        }
        if opts.trim {
            trim_heap();
        }
        Ok(Self {
            manifest: manifest.clone(),
            labels,
            opts: opts.clone(),
            shapes,
            current: 0,
            scratch: DecodeScratch::default(),
            resizer: fr::Resizer::new(),
            scaled: Vec::new(),
            packed: Vec::new(),
            last_timings: DetectTimings::default(),
            inference_ms_sum: 0.0,
        })
    }

    /// The input size of the latest inference.
    pub fn current_input(&self) -> (u32, u32) {
        self.shapes[self.current].size
    }

    /// Every input size this detector can run, the model's own first: what a camera's frames
    /// are scaled for ([`Letterbox::choose`]).
    pub fn input_sizes(&self) -> Vec<(u32, u32)> {
        self.shapes.iter().filter(|s| !matches!(s.loaded, Some(Err(_)))).map(|s| s.size).collect()
    }

    /// Load every input shape now (`anttd check`): an error names the first that fails.
    pub fn load_all(&mut self) -> Result<()> {
        for k in 1..self.shapes.len() {
            self.shape(k)?;
        }
        Ok(())
    }

    /// Make the input of `size` the current one ([`Detector::raw_inference`] measures it),
    /// loading it if needed.
    pub fn select(&mut self, size: (u32, u32)) -> Result<()> {
        let k =
            self.shapes.iter().position(|s| s.size == size).ok_or_else(|| anyhow!("no {}x{} input", size.0, size.1))?;
        self.shape(k)?;
        self.current = k;
        Ok(())
    }

    /// Shape `k`, loaded (loading it if needed).
    fn shape(&mut self, k: usize) -> Result<&mut Loaded> {
        self.ensure(k);
        let Shape { size: (w, h), loaded, .. } = &mut self.shapes[k];
        match loaded {
            Some(Ok(l)) => Ok(l),
            Some(Err(e)) => Err(anyhow!("{e}")),
            None => Err(anyhow!("the {w}x{h} input is not loaded")),
        }
    }

    /// Load shape `k` if it has not been tried yet; whether it is loaded.
    fn ensure(&mut self, k: usize) -> bool {
        let nc = self.labels.labels.len();
        let (format, opts) = (self.manifest.format, &self.opts);
        let Shape { size, onnx, loaded } = &mut self.shapes[k];
        let slot = loaded.get_or_insert_with(|| {
            let t = Instant::now();
            // The runtime library was loaded with the first shape (`runtime::environment` keeps it).
            let got = open(onnx, None, opts).and_then(|session| bind(session, onnx, format, *size, nc));
            let (w, h) = *size;
            match &got {
                Ok(_) => {
                    let ms = t.elapsed().as_millis() as u64;
                    tracing::info!(model = %onnx.display(), ms, "{w}x{h} input loaded");
                }
                Err(e) => tracing::error!(model = %onnx.display(), "{w}x{h} input cannot load, its cameras use the first: {e:#}"),
            }
            if opts.trim {
                trim_heap();
            }
            got.map_err(|e| format!("{e:#}"))
        });
        slot.is_ok()
    }

    /// Detect on an RGB image already scaled to `lb.fit_w` x `lb.fit_h`, rows `stride` bytes apart,
    /// with the input shape `lb.dst_w` x `lb.dst_h` (one of [`Detector::input_sizes`]; if that
    /// shape cannot load, the picture goes to the model's own input). Boxes come back in source
    /// pixels (`lb.src_w` x `lb.src_h`), best first, into `out`.
    pub fn detect(&mut self, rgb: &[u8], stride: usize, lb: &Letterbox, out: &mut Vec<Detection>) -> Result<()> {
        let t0 = Instant::now();
        // The input the frame was scaled for; if it cannot load, the model's own (always loaded).
        let wanted = self.shapes.iter().position(|s| s.size == (lb.dst_w, lb.dst_h));
        let (k, lb) = match wanted {
            Some(k) if self.ensure(k) => (k, *lb),
            _ => {
                let size = self.shapes[0].size;
                let lb = lb
                    .within(size.0, size.1)
                    .ok_or_else(|| anyhow!("a frame scaled to {}x{} fits no input of the model", lb.fit_w, lb.fit_h))?;
                (0, lb)
            }
        };
        self.current = k;
        let pad = self.manifest.pad_value;
        let Some(Ok(l)) = &mut self.shapes[k].loaded else {
            bail!("the {}x{} input is not loaded", lb.dst_w, lb.dst_h)
        };
        lb.fill_chw(rgb, stride, pad, l.input.extract_tensor_mut().1).map_err(|e| anyhow!(e))?;
        self.infer_and_decode(k, t0, out)?;
        for d in out.iter_mut() {
            d.bbox = lb.to_source(d.bbox);
        }
        out.retain(|d| d.bbox.area() > 0.0);
        Ok(())
    }

    /// Run shape `k` on its filled input and decode its output into `out` (input pixels,
    /// suppressed, best first); `t0` is when preparing the input began, for the timings.
    fn infer_and_decode(&mut self, k: usize, t0: Instant, out: &mut Vec<Detection>) -> Result<()> {
        let Some(Ok(l)) = &mut self.shapes[k].loaded else {
            bail!("the {}x{} input is not loaded", self.shapes[k].size.0, self.shapes[k].size.1)
        };
        let t1 = Instant::now();
        l.run()?;
        let t2 = Instant::now();
        let data = l.output.extract_tensor().1;
        let m = &self.manifest;
        decode::decode_yolov8(
            data,
            self.labels.labels.len(),
            l.num_candidates,
            m.score_threshold.0,
            &mut self.scratch,
            out,
        )
        .map_err(|e| anyhow!(e))?;
        nms::nms_in_place(out, m.nms_iou.0, m.max_detections);
        let t3 = Instant::now();
        self.last_timings =
            DetectTimings { preprocess_ms: ms(t1 - t0), inference_ms: ms(t2 - t1), postprocess_ms: ms(t3 - t2) };
        self.inference_ms_sum += ms(t2 - t1);
        Ok(())
    }

    /// Detect on a picture that is either already scaled to `lb`'s fit size (as the source
    /// delivers frames for whole-picture detection) or at the camera's own size (as it delivers
    /// them for motion regions), which is scaled here first.
    pub fn detect_picture(&mut self, pic: Picture<'_>, lb: &Letterbox, out: &mut Vec<Detection>) -> Result<()> {
        if (pic.width, pic.height) == (lb.fit_w, lb.fit_h) {
            return self.detect(pic.rgb, pic.stride, lb, out);
        }
        if (pic.width, pic.height) != (lb.src_w, lb.src_h) {
            bail!(
                "a {}x{} picture is neither the {}x{} source nor its letterbox",
                pic.width,
                pic.height,
                lb.src_w,
                lb.src_h
            );
        }
        let mut scaled = std::mem::take(&mut self.scaled);
        let whole = Rect { x: 0, y: 0, w: pic.width, h: pic.height };
        let r = scale_into(&mut self.resizer, &mut self.packed, pic, whole, (lb.fit_w, lb.fit_h), &mut scaled)
            .and_then(|()| self.detect(&scaled, lb.fit_w as usize * 3, lb, out));
        self.scaled = scaled;
        r
    }

    /// Detect on the crops of a [`Mosaic`] of `pic` (a camera's picture at its own size), packed
    /// into one input of the mosaic's size. Boxes come back in picture pixels; the answer says
    /// whether an object was cut by a crop edge (then the caller detects the whole picture).
    pub fn detect_mosaic(&mut self, pic: Picture<'_>, mosaic: &Mosaic, out: &mut Vec<Detection>) -> Result<MappedBack> {
        let t0 = Instant::now();
        if (pic.width, pic.height) != mosaic.picture {
            bail!("a mosaic planned for {:?} given a {}x{} picture", mosaic.picture, pic.width, pic.height);
        }
        let k = self
            .shapes
            .iter()
            .position(|s| s.size == mosaic.input)
            .ok_or_else(|| anyhow!("no {}x{} input for a mosaic", mosaic.input.0, mosaic.input.1))?;
        if !self.ensure(k) {
            bail!("the {}x{} input cannot load", mosaic.input.0, mosaic.input.1);
        }
        self.current = k;
        let pad = f32::from(self.manifest.pad_value) / 255.0;
        let dst = (mosaic.input.0 as usize, mosaic.input.1 as usize);
        let Some(Ok(l)) = &mut self.shapes[k].loaded else { bail!("the mosaic's input is not loaded") };
        let input = l.input.extract_tensor_mut().1;
        input.fill(pad);
        for t in &mosaic.tiles {
            let (c, at) = (t.crop, (t.at.0 as usize, t.at.1 as usize));
            if t.fit == (c.w, c.h) {
                // Shown at its own size: straight from the picture.
                let start = c.y as usize * pic.stride + c.x as usize * 3;
                let rgb = pic.rgb.get(start..).ok_or_else(|| anyhow!("crop {c:?} beyond the picture"))?;
                letterbox::write_chw(rgb, pic.stride, (c.w as usize, c.h as usize), at, dst, input)
                    .map_err(|e| anyhow!(e))?;
            } else {
                scale_into(&mut self.resizer, &mut self.packed, pic, c, t.fit, &mut self.scaled)?;
                let fit = (t.fit.0 as usize, t.fit.1 as usize);
                letterbox::write_chw(&self.scaled, fit.0 * 3, fit, at, dst, input).map_err(|e| anyhow!(e))?;
            }
        }
        self.infer_and_decode(k, t0, out)?;
        Ok(regions::map_back(mosaic, out, self.manifest.nms_iou.0))
    }

    /// One inference of the current shape on whatever its input holds.
    fn infer(&mut self) -> Result<()> {
        self.shape(self.current)?.run()
    }

    /// Run inference `runs` times on the current input (grey if nothing was detected yet) and
    /// return the wall time of each run: the model's raw rate with this session's settings,
    /// without any pipeline around it (`anttd bench`).
    pub fn raw_inference(&mut self, runs: usize) -> Result<Vec<std::time::Duration>> {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            self.infer()?;
            times.push(t.elapsed());
        }
        Ok(times)
    }

    /// Detect on a whole RGB image of any size (the `detect` command, stills): scaled here with
    /// a triangle (bilinear) filter, like GStreamer's default scaler, then as [`Detector::detect`].
    pub fn detect_image(&mut self, img: &image::RgbImage) -> Result<Vec<Detection>> {
        let lb = Letterbox::choose(img.width(), img.height(), &self.input_sizes());
        let scaled = if (lb.fit_w, lb.fit_h) == img.dimensions() {
            img.clone()
        } else {
            image::imageops::resize(img, lb.fit_w, lb.fit_h, image::imageops::FilterType::Triangle)
        };
        let mut out = Vec::new();
        self.detect(scaled.as_raw(), lb.fit_w as usize * 3, &lb, &mut out).context("detect")?;
        Ok(out)
    }
}

/// Scale `crop` of `pic` to `to` (packed RGB rows, into `dst`) with a SIMD bilinear filter,
/// which averages over the scaled-down pixels as GStreamer's scaler does.
fn scale_into(
    resizer: &mut fr::Resizer,
    packed: &mut Vec<u8>,
    pic: Picture<'_>,
    crop: Rect,
    to: (u32, u32),
    dst: &mut Vec<u8>,
) -> Result<()> {
    let (w, h) = (pic.width as usize, pic.height as usize);
    let row = w * 3;
    let short = || anyhow!("a {w}x{h} picture of only {} bytes", pic.rgb.len());
    let rows: &[u8] = if pic.stride == row {
        pic.rgb.get(..row * h).ok_or_else(short)?
    } else {
        // The resizer wants rows without padding.
        packed.clear();
        pic.copy_packed(packed).ok_or_else(short)?;
        packed
    };
    let src = fr::images::ImageRef::new(pic.width, pic.height, rows, fr::PixelType::U8x3)
        .map_err(|e| anyhow!("picture for scaling: {e}"))?;
    dst.clear();
    dst.resize(to.0 as usize * to.1 as usize * 3, 0);
    let mut out = fr::images::Image::from_slice_u8(to.0, to.1, dst, fr::PixelType::U8x3)
        .map_err(|e| anyhow!("scaled picture: {e}"))?;
    let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)).crop(
        f64::from(crop.x),
        f64::from(crop.y),
        f64::from(crop.w),
        f64::from(crop.h),
    );
    resizer.resize(&src, &mut out, &opts).map_err(|e| anyhow!("scaling a picture: {e}"))
}

/// Return free heap pages to the system (glibc only; elsewhere nothing to do).
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
