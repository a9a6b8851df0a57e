//! The `anttd` command line: a thin layer over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use anttd::config::Config;
use anttd::detect::manifest::Manifest;
use anttd::detect::{Detector, DetectorOptions};

#[derive(Parser)]
#[command(name = "anttd", version, about = "Edge video analytics: camera video to MQTT events")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// Config file.
        #[arg(short, long, default_value = "/etc/anttd/anttd.toml")]
        config: PathBuf,
        /// Also write every detected frame to FILE as JSON Lines, for `anttd replay`.
        #[arg(long, value_name = "FILE")]
        record_detections: Option<PathBuf>,
    },
    /// Run the tracker and rules of CONFIG over recorded detections; prints the events that
    /// would be published, one JSON line each.
    Replay {
        #[arg(short, long, default_value = "/etc/anttd/anttd.toml")]
        config: PathBuf,
        /// A file written by `anttd run --record-detections`.
        file: PathBuf,
    },
    /// Draw a camera's zones, lines (with direction arrows), 1 m ground grid and current
    /// detections on one of its frames, to check a set-up by looking at it.
    Overlay {
        #[arg(short, long, default_value = "/etc/anttd/anttd.toml")]
        config: PathBuf,
        /// The camera's id in the config.
        #[arg(long)]
        camera: String,
        /// Use this picture instead of a frame from the camera.
        #[arg(long)]
        image: Option<PathBuf>,
        /// For file sources: the frame at this many seconds into the video.
        #[arg(long, default_value_t = 0.0)]
        at: f64,
        /// Output picture (.png or .jpg).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run the real pipeline (decode, detector, tracker, rules, events into a throw-away outbox;
    /// no broker) on the config's cameras as fast as it goes, and report fps, per-stage times,
    /// CPU per frame, peak RSS and the raw inference rate measured in the same run.
    Bench {
        #[arg(short, long, default_value = "/etc/anttd/anttd.toml")]
        config: PathBuf,
        #[command(flatten)]
        opts: anttd::bench::BenchOptions,
    },
    /// Make a new Ed25519 key in FILE (mode 0600, never over an existing file) and print its
    /// public key: the station's goes into each box's `[extract] station_keys`; a box makes its
    /// own at first start (`[extract] key_file`) and `anttd pubkey` prints it for `fetch --box-key`.
    Keygen { file: PathBuf },
    /// Print the public key of a key file.
    Pubkey { file: PathBuf },
    /// Ask a box over MQTT for a stretch of a camera's video (cut from its ring) with a request
    /// signed by the station's key, check the box's signature and the SHA-256, and write it to a
    /// file.
    Fetch(FetchArgs),
    /// Simulate a pole-camera scenario (src/sim): write what the detector would see as a
    /// recording, and a config for it, for `anttd replay -c CAM.toml REC.jsonl`.
    Simulate {
        /// The scenario (`anttd scenarios` lists them).
        #[arg(long)]
        scenario: String,
        /// Camera geometry: pole8, pole6wide or rooftop10.
        #[arg(long, default_value = "pole8")]
        geometry: String,
        /// Detect rate, frames per second.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=60))]
        fps: u32,
        /// Seed of the detector model's randomness.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also carry the detected boxes on this many decoded frames a second, as a model of
        /// the box carrier (a multiple of `--fps` above it): the recording then holds the
        /// carried frames too.
        #[arg(long, value_parser = clap::value_parser!(u32).range(2..=60))]
        carry_fps: Option<u32>,
        /// What carries the boxes with `--carry-fps`: `model`, a model of the carrier measured
        /// on vtest.avi, or `pixels`, the daemon's own carrier on rendered grey pictures of the
        /// scene (each road user its own texture; no blur, no turning).
        #[arg(long, value_enum, default_value_t = anttd::sim::run::Carrier::Model, requires = "carry_fps")]
        carrier: anttd::sim::run::Carrier,
        /// The recording to write.
        #[arg(long, value_name = "REC.jsonl")]
        out: PathBuf,
        /// The config to write.
        #[arg(long, value_name = "CAM.toml")]
        config_out: PathBuf,
    },
    /// Run every simulated scenario through the tracker and rules and print, per scenario, rule,
    /// detect rate and geometry: found/expected, false alarms, decision latency, speed error;
    /// and what the tracker made of the road users (followed, broken and mixed tracks).
    Scenarios {
        /// Detect rates, comma-separated.
        #[arg(long, default_value = "3,5,10", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=60))]
        fps: Vec<u32>,
        /// A geometry, or `all`.
        #[arg(long, default_value = "all")]
        geometry: String,
        /// Only this scenario.
        #[arg(long)]
        scenario: Option<String>,
        /// The first seed of the simulated detector's noise…
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// … and how many seeds to run from it (each run a different draw of jitter and misses).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
        seeds: u64,
        /// A Markdown table instead of aligned text.
        #[arg(long)]
        markdown: bool,
        /// One Markdown row per scenario and rule, one column per geometry and rate, the seeds
        /// added up (the table in docs/rules.md).
        #[arg(long)]
        summary: bool,
        /// Tell one run frame by frame: each road user's true box, its detection and the track
        /// that took it, and the events. Needs `--scenario`, one `--geometry`, one `--fps` and
        /// one seed.
        #[arg(long, conflicts_with_all = ["summary", "markdown"])]
        explain: bool,
        /// Also carry the detected boxes on this many decoded frames a second between
        /// detections, as a model of the box carrier (a multiple of every `--fps`; what a
        /// camera's `carry_fps` would give the rules).
        #[arg(long, value_parser = clap::value_parser!(u32).range(2..=60))]
        carry_fps: Option<u32>,
        /// What carries the boxes with `--carry-fps`: `model`, a model of the carrier measured
        /// on vtest.avi, or `pixels`, the daemon's own carrier on rendered grey pictures of the
        /// scene (each road user its own texture; no blur, no turning).
        #[arg(long, value_enum, default_value_t = anttd::sim::run::Carrier::Model, requires = "carry_fps")]
        carrier: anttd::sim::run::Carrier,
    },
    /// Validate a config file and load its model, then exit.
    Check {
        #[arg(short, long, default_value = "/etc/anttd/anttd.toml")]
        config: PathBuf,
        /// Do not load the model with ONNX Runtime (the manifest is still read): for hosts where
        /// ONNX Runtime cannot run, such as an aarch64 build under qemu-user.
        #[arg(long)]
        skip_model: bool,
    },
    /// The duty-room console: take in what the boxes publish and serve it as web pages
    /// (docs/station.md).
    Station(StationArgs),
    /// Read a password on stdin and print its Argon2 hash, for the station's --users file.
    StationPasswd,
    /// Detect objects in still images; prints one JSON line per image.
    Detect {
        /// Model manifest (models/*.toml).
        #[arg(short, long)]
        manifest: PathBuf,
        /// Only report detections at or above this score.
        #[arg(long, default_value_t = 0.25)]
        min_score: f32,
        /// ONNX Runtime library (else ORT_DYLIB_PATH, else the default places).
        #[arg(long)]
        runtime: Option<PathBuf>,
        /// Also write each image with its detections drawn on it into this folder (JPEG).
        #[arg(long, value_name = "DIR")]
        annotate: Option<PathBuf>,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
}

/// `anttd fetch`'s options.
/// How to log in to a broker, for the commands that read from one.
#[derive(clap::Args)]
struct Login {
    #[arg(long)]
    username: Option<String>,
    /// File holding the broker password (else the ANTTD_MQTT_PASSWORD environment variable):
    /// never on the command line, where every user of the machine can read it.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Connect with TLS, trusting this CA certificate (PEM).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
}

impl Login {
    /// The password (read from its file now) and the TLS settings.
    fn read(&self) -> Result<(Option<String>, Option<std::sync::Arc<rustls::ClientConfig>>)> {
        let password = match &self.password_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("--password-file: cannot read {}", f.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            None => std::env::var("ANTTD_MQTT_PASSWORD").ok(),
        };
        let tls = self
            .ca_file
            .as_ref()
            .map(|ca| anttd::publish::tls::client_config(ca, None))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--ca-file: {e}"))?;
        Ok((password, tls))
    }
}

#[derive(clap::Args)]
struct StationArgs {
    /// Where the station keeps its database.
    #[arg(long, default_value = "/var/lib/anttd-station")]
    data_dir: PathBuf,
    /// Address of the web console. Only this machine by default: put a reverse proxy with TLS
    /// and logins in front to open it to others (docs/station.md).
    #[arg(long, default_value = "127.0.0.1:8640")]
    listen: std::net::SocketAddr,
    /// A broker to read, `HOST` or `HOST:PORT` (1883, or 8883 with --ca-file); repeat for several.
    #[arg(long = "broker", default_value = "127.0.0.1", value_name = "HOST[:PORT]")]
    brokers: Vec<String>,
    /// The boxes' `topic_prefix`.
    #[arg(long, default_value = "antt")]
    prefix: String,
    /// The station's fixed MQTT client id: the broker keeps its session, and what arrives
    /// while the station is stopped, under this id.
    #[arg(long, default_value = "anttd-station")]
    client_id: String,
    #[command(flatten)]
    login: Login,
    /// A box that says it is online but was not heard for this long is shown as silent.
    #[arg(long, default_value_t = 60)]
    silent_after_s: i64,
    /// The station's key (`anttd keygen`): footage requests from the event pages are signed
    /// with it. Without it the pages only show the `anttd fetch` command.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The boxes' public keys, one line each: `<topic root> <key>` (`anttd pubkey` on the box).
    #[arg(long, value_name = "FILE")]
    box_keys: Option<PathBuf>,
    /// Users who may log in, one line each: `<name> <sites> <hash>` (sites `*` or a comma-
    /// separated list; `anttd station-passwd` makes the hash). Without it there are no logins.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// How long a footage request may take before it is given up.
    #[arg(long, default_value_t = 300)]
    footage_timeout_s: u64,
    /// Video asked for before and after an event, from its page.
    #[arg(long, default_value_t = 5)]
    pre_roll_s: u32,
    #[arg(long, default_value_t = 10)]
    post_roll_s: u32,
}

#[derive(clap::Args)]
struct FetchArgs {
    /// The station's broker.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 1883)]
    port: u16,
    #[command(flatten)]
    login: Login,
    /// The station's key file (`anttd keygen`): requests are signed with it.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The box's public key (base64, `anttd pubkey` on the box): replies it did not sign are ignored.
    #[arg(long, value_name = "BASE64")]
    box_key: String,
    /// The box's topic root: <prefix>/<site>/<device>, e.g. antt/demo-ward/box-001.
    #[arg(long)]
    root: String,
    #[arg(long)]
    camera: String,
    /// Start, RFC 3339 (e.g. 2026-11-28T10:00:00Z).
    #[arg(long)]
    from: String,
    /// End, RFC 3339; at most 600 s after `from`.
    #[arg(long)]
    to: String,
    /// Where to write the MP4.
    #[arg(short, long)]
    output: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ANTTD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not for journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("anttd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Run { config, record_detections } => {
            let cfg = Config::load(&config)?;
            anttd::daemon::run(cfg, anttd::daemon::RunOptions { record_detections })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { config, file } => replay(&config, &file),
        Command::Simulate { scenario, geometry, fps, seed, carry_fps, carrier, out, config_out } => {
            let rate = anttd::sim::run::Rate::new(fps, carry_fps)?.by(carrier);
            simulate(&scenario, &geometry, rate, seed, &out, &config_out)
        }
        Command::Scenarios { fps, geometry, scenario, seed, seeds, markdown, summary, explain, carry_fps, carrier } => {
            let carry = (carry_fps, carrier);
            if explain {
                return explain_scenario(&fps, carry, &geometry, scenario.as_deref(), seed, seeds);
            }
            let view = if summary {
                anttd::sim::run::View::Summary
            } else if markdown {
                anttd::sim::run::View::Markdown
            } else {
                anttd::sim::run::View::Text
            };
            scenarios(&fps, carry, &geometry, scenario.as_deref(), seed..seed.saturating_add(seeds), view)
        }
        Command::Bench { config, opts } => {
            let cfg = Config::load(&config)?;
            let report = anttd::bench::run(cfg, &opts)?;
            print!("{}", report.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { file } => {
            let key = anttd::evidence::signed::create_key(&file)?;
            println!("{}", anttd::evidence::signed::public_text(&key.verifying_key()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Pubkey { file } => {
            let key = anttd::evidence::signed::read_key(&file)?;
            println!("{}", anttd::evidence::signed::public_text(&key.verifying_key()));
            Ok(ExitCode::SUCCESS)
        }
        Command::StationPasswd => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                anyhow::bail!("no password on stdin");
            }
            println!("{}", anttd::station::access::hash_password(password)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Station(a) => {
            let (password, tls) = a.login.read()?;
            let default_port = if tls.is_some() { 8883 } else { 1883 };
            let brokers = a
                .brokers
                .iter()
                .map(|b| match b.rsplit_once(':') {
                    Some((host, port)) => port
                        .parse::<u16>()
                        .map(|p| (host.to_string(), p))
                        .map_err(|_| anyhow::anyhow!("--broker {b}: the port is not a number from 1 to 65535")),
                    None => Ok((b.clone(), default_port)),
                })
                .collect::<Result<Vec<_>>>()?;
            if a.prefix.is_empty() || a.prefix.contains(['+', '#']) || a.prefix.ends_with('/') {
                anyhow::bail!("--prefix {:?}: a topic prefix without wildcards or a trailing /", a.prefix);
            }
            anttd::station::run(anttd::station::StationOptions {
                data_dir: a.data_dir,
                listen: a.listen,
                brokers,
                prefix: a.prefix,
                client_id: a.client_id,
                credentials: a.login.username.map(|u| (u, password.unwrap_or_default())),
                tls,
                silent_after_s: a.silent_after_s,
                pre_roll_s: a.pre_roll_s,
                post_roll_s: a.post_roll_s,
                key: a.key.as_deref().map(anttd::evidence::signed::read_key).transpose().context("--key")?,
                box_keys: a
                    .box_keys
                    .as_deref()
                    .map(anttd::station::footage::read_box_keys)
                    .transpose()
                    .context("--box-keys")?
                    .unwrap_or_default(),
                footage_timeout: std::time::Duration::from_secs(a.footage_timeout_s),
                access: a.users.as_deref().map(anttd::station::access::Access::load).transpose().context("--users")?,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch(a) => {
            let (password, tls) = a.login.read()?;
            let box_key =
                anttd::evidence::signed::parse_public(&a.box_key).map_err(|e| anyhow::anyhow!("--box-key: {e}"))?;
            let opts = anttd::evidence::fetch::FetchOptions {
                key: anttd::evidence::signed::read_key(&a.key).context("--key")?,
                host: a.host,
                port: a.port,
                username: a.login.username,
                password,
                tls,
                box_key,
                root: a.root,
                camera: a.camera,
                from: a.from,
                to: a.to,
                output: a.output,
                timeout: std::time::Duration::from_secs(a.timeout_s),
                progress: true,
                progress_to: None,
            };
            let r = anttd::evidence::fetch::fetch(&opts)?;
            println!(
                "{}: {} bytes, {:.1} s from {} to {}, SHA-256 {} (checked)",
                opts.output.display(),
                r.bytes,
                r.duration_s,
                r.start.unwrap_or_default(),
                r.end.unwrap_or_default(),
                r.sha256.unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Overlay { config, camera, image, at, output } => {
            overlay(&config, &camera, image.as_deref(), at, &output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, skip_model } => {
            let cfg = Config::load(&config)?;
            println!("{}", anttd::daemon::check(&cfg, skip_model)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect { manifest, min_score, runtime, annotate, images } => {
            detect(&manifest, min_score, runtime, annotate.as_deref(), &images)
        }
    }
}

fn replay(config: &std::path::Path, file: &std::path::Path) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let f = std::fs::File::open(file).with_context(|| format!("{}: cannot open", file.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // A bar only helps a person watching a long replay; never in pipes or logs.
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) && len > 1 << 20 {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let input = std::io::BufReader::new(bar.wrap_read(f));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = anttd::replay::print(&cfg, input, &mut out);
    bar.finish_and_clear();
    let summary = result.with_context(|| file.display().to_string())?;
    out.flush()?;
    tracing::info!(frames = summary.frames, events = summary.events, counts = summary.counts, "replay finished");
    Ok(ExitCode::SUCCESS)
}

fn simulate(
    scenario: &str,
    geometry: &str,
    rate: anttd::sim::run::Rate,
    seed: u64,
    out: &std::path::Path,
    config_out: &std::path::Path,
) -> Result<ExitCode> {
    use anttd::sim::{camera::Camera, run, scenario as sc};
    let s = sc::scenario(scenario).ok_or_else(|| run::SimError::Scenario(scenario.into()))?;
    let cam = Camera::named(geometry).ok_or_else(|| run::SimError::Geometry(geometry.into()))?;
    // Checked before anything is written: a config replay would refuse is the simulator's bug.
    run::config(&s, &cam, rate.detect)?;
    std::fs::write(config_out, sc::config_toml(&s, &cam, rate.detect))
        .with_context(|| format!("cannot write {}", config_out.display()))?;
    let frames = run::frames_at(&s, &cam, rate, seed);
    let f = std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let h = run::header();
    let labels = anttd::detect::manifest::LabelMap::new(h.labels.clone(), &h.groups).map_err(anyhow::Error::msg)?;
    let mut rec = anttd::replay::DetectionRecorder::new(std::io::BufWriter::new(f), &h.model, &labels, &h.groups)
        .with_context(|| format!("cannot write {}", out.display()))?;
    for r in &frames.records {
        rec.frame(r).with_context(|| format!("cannot write {}", out.display()))?;
    }
    println!("{}: {} frames; {}", out.display(), frames.records.len(), config_out.display());
    Ok(ExitCode::SUCCESS)
}

/// `carry`: the carry rate if any, and what carries.
fn scenarios(
    fps: &[u32],
    carry: (Option<u32>, anttd::sim::run::Carrier),
    geometry: &str,
    only: Option<&str>,
    seeds: std::ops::Range<u64>,
    view: anttd::sim::run::View,
) -> Result<ExitCode> {
    use anttd::sim::{camera, run, scenario as sc};
    let geometries: Vec<&str> = if geometry == "all" { camera::GEOMETRIES.to_vec() } else { vec![geometry] };
    let names: Vec<&str> = only.map_or_else(|| sc::NAMES.to_vec(), |n| vec![n]);
    let mut outcomes = Vec::new();
    for name in names {
        let s = sc::scenario(name).ok_or_else(|| run::SimError::Scenario(name.into()))?;
        for g in &geometries {
            let cam = camera::Camera::named(g).ok_or_else(|| run::SimError::Geometry(g.to_string()))?;
            for &f in fps {
                let rate = run::Rate::new(f, carry.0)?.by(carry.1);
                for seed in seeds.clone() {
                    outcomes.push(run::run_at(&s, rate, &cam, seed)?);
                }
            }
        }
    }
    print!("{}", run::render(&outcomes, view));
    Ok(ExitCode::SUCCESS)
}

fn explain_scenario(
    fps: &[u32],
    carry: (Option<u32>, anttd::sim::run::Carrier),
    geometry: &str,
    scenario: Option<&str>,
    seed: u64,
    seeds: u64,
) -> Result<ExitCode> {
    use anttd::sim::{camera, explain, run, scenario as sc};
    let (Some(name), [fps], false, 1) = (scenario, fps, geometry == "all", seeds) else {
        anyhow::bail!("--explain tells one run: give --scenario, one --geometry, one --fps and one --seed");
    };
    let s = sc::scenario(name).ok_or_else(|| run::SimError::Scenario(name.into()))?;
    let cam = camera::Camera::named(geometry).ok_or_else(|| run::SimError::Geometry(geometry.to_string()))?;
    let rate = run::Rate::new(*fps, carry.0)?.by(carry.1);
    let carried = rate.carry.map(|c| format!(", boxes carried on {c} frames a second")).unwrap_or_default();
    println!("{name} on {geometry} at {fps} detections a second{carried}, seed {seed}: {}", s.about);
    let frames = run::frames_at(&s, &cam, rate, seed);
    print!("{}", explain::explain(&s, &run::config(&s, &cam, *fps)?, &frames, rate.frame_fps()));
    Ok(ExitCode::SUCCESS)
}

fn overlay(
    config: &std::path::Path,
    camera: &str,
    image: Option<&std::path::Path>,
    at: f64,
    output: &std::path::Path,
) -> Result<()> {
    let cfg = Config::load(config)?;
    let cam = cfg.cameras.iter().find(|c| c.id.get_ref().0 == camera).ok_or_else(|| {
        let ids: Vec<&str> = cfg.cameras.iter().map(|c| c.id.get_ref().0.as_str()).collect();
        anyhow::anyhow!("{}: no camera `{camera}` (cameras: {})", cfg.path.display(), ids.join(", "))
    })?;
    let frame = match image {
        Some(p) => image::open(p).with_context(|| format!("{}: cannot read image", p.display()))?.to_rgb8(),
        None => anttd::source::still::grab_frame(&cam.uri.to_gst_uri(&cfg.base_dir()), at)
            .with_context(|| format!("camera {camera}: cannot take a frame"))?,
    };
    let mut detector = anttd::daemon::load_detector(&cfg)?;
    let mut dets = detector.detect_image(&frame)?;
    dets.retain(|d| d.score >= 0.25);
    let mut pic = frame;
    let font = anttd::evidence::draw::load_font();
    anttd::evidence::overlay::draw_overlay(&mut pic, &cam.scene(), &dets, &detector.labels, font.as_ref());
    pic.save(output).with_context(|| format!("cannot write {}", output.display()))?;
    println!("{}", output.display());
    Ok(())
}

/// One line of `anttd detect` output.
#[derive(serde::Serialize)]
struct ImageOut<'a> {
    image: &'a std::path::Path,
    width: u32,
    height: u32,
    /// The model input the picture went to, `WxH`.
    input: String,
    detections: Vec<DetectionOut<'a>>,
}

#[derive(serde::Serialize)]
struct DetectionOut<'a> {
    label: &'a str,
    class_id: u32,
    score: f64,
    #[serde(rename = "box")]
    bbox: [f64; 4],
}

fn detect(
    manifest: &std::path::Path,
    min_score: f32,
    runtime: Option<PathBuf>,
    annotate: Option<&std::path::Path>,
    images: &[PathBuf],
) -> Result<ExitCode> {
    let manifest = Manifest::load(manifest)?;
    if let Some(dir) = annotate {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let font = annotate.and_then(|_| anttd::evidence::draw::load_font());
    let mut detector = Detector::load(&manifest, runtime.as_deref(), &DetectorOptions::default())?;
    let mut failed = false;
    let stdout = std::io::stdout();
    for path in images {
        let result =
            image::open(path).with_context(|| format!("{}: cannot read image", path.display())).and_then(|img| {
                let rgb = img.to_rgb8();
                let mut dets = detector.detect_image(&rgb)?;
                dets.retain(|d| d.score >= min_score);
                if let Some(dir) = annotate {
                    let mut pic = rgb.clone();
                    anttd::evidence::draw::draw_detections(&mut pic, &dets, &detector.labels, font.as_ref());
                    let name = path.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
                    let out = dir.join(format!("{name}.detections.jpg"));
                    pic.save(&out).with_context(|| format!("cannot write {}", out.display()))?;
                }
                Ok((rgb.width(), rgb.height(), dets))
            });
        match result {
            Ok((w, h, dets)) => {
                let detections = dets
                    .iter()
                    .map(|d| DetectionOut {
                        label: detector.labels.name(d.class_id),
                        class_id: d.class_id,
                        score: anttd::event::round3(d.score),
                        bbox: anttd::event::round_box(d.bbox),
                    })
                    .collect();
                let (iw, ih) = detector.current_input();
                let line = ImageOut { image: path, width: w, height: h, input: format!("{iw}x{ih}"), detections };
                writeln!(stdout.lock(), "{}", serde_json::to_string(&line)?)?;
            }
            Err(e) => {
                eprintln!("anttd: error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
