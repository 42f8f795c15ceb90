//! `vayla-loadgen`: rooms of three media participants against a real server process, bounded in time.
//!
//! Each room has a device (audio, camera ≈ 1 Mbit/s, document ≈ 1.5 Mbit/s), an expert and an interpreter (audio
//! and camera), all Rust client peers on loopback. Cameras are sent in three simulcast layers like the web
//! client's (≈ 125 kbit/s, 400 kbit/s and 1 Mbit/s; `--no-simulcast`: one 1 Mbit/s layer), and the server forwards
//! each receiver one layer, chosen by its bandwidth estimate, and asks the senders to pause the layers nobody
//! receives (`--ignore-layers`: the senders go on sending them). The server runs as its own process with a generated
//! rooms-config, so that its CPU time and memory can be read from `/proc` apart from the clients'. For each
//! step of rooms it reports forwarded packets per second, server CPU per forwarded packet, frame loss,
//! send-to-receive delay (p50/p99), server memory per participant, time to first frame and its own CPU share;
//! the largest step with under 1 % loss is what this machine holds. `--slowest N` also lists each step's N
//! slowest first frames:
//! which track, and how the time splits between joining until the sender sent the frame and its way through, with
//! when the subscriber's connection came up and when the SFU offered it the track.
//!
//! Usage: `vayla-loadgen [--rooms 2,4,8] [--seconds 10] [--server target/release/vayla] [--json] [--no-simulcast]
//! [--ignore-layers] [--slowest N]`

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vayla_client::{Api, Participant, Signal};
use vayla_protocol::{MediaSource, ServerMessage};

const DEVICE: [MediaSource; 3] = [MediaSource::Microphone, MediaSource::Camera, MediaSource::Document];
const PERSON: [MediaSource; 2] = [MediaSource::Microphone, MediaSource::Camera];
const SECRET: &str = "load-secret";
/// Time given to every room to connect before measuring starts.
const WARM_UP: Duration = Duration::from_secs(3);
/// How long a participant's task drives its connection between looks at whether the measurement has started.
const SLICE: Duration = Duration::from_millis(50);

struct Options {
    rooms: Vec<usize>,
    seconds: u64,
    server: PathBuf,
    json: bool,
    /// How many of the slowest first frames to list on stderr.
    slowest: usize,
    /// How the participants send: cameras in three simulcast layers as the web client sends them (unless
    /// `--no-simulcast`), pausing the layers the server says nobody receives (unless `--ignore-layers`).
    media: vayla_client::media::Options,
}

fn options() -> Result<Options> {
    let mut o = Options {
        rooms: vec![2, 4, 8],
        seconds: 10,
        server: PathBuf::from("target/release/vayla"),
        json: false,
        slowest: 0,
        media: vayla_client::media::Options { simulcast_camera: true, ..Default::default() },
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rooms" => {
                let v = args.next().context("--rooms takes a list like 2,4,8")?;
                o.rooms = v.split(',').map(|n| n.trim().parse()).collect::<Result<_, _>>().context("--rooms")?;
            }
            "--seconds" => o.seconds = args.next().context("--seconds takes a number")?.parse()?,
            "--server" => o.server = args.next().context("--server takes a path")?.into(),
            "--json" => o.json = true,
            "--no-simulcast" => o.media.simulcast_camera = false,
            "--ignore-layers" => o.media.ignore_layers = true,
            "--slowest" => o.slowest = args.next().context("--slowest takes a number")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "usage: vayla-loadgen [--rooms 2,4,8] [--seconds 10] [--server target/release/vayla] [--json] \
                     [--no-simulcast] [--ignore-layers] [--slowest N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    if o.rooms.is_empty() || o.rooms.iter().any(|&n| n == 0 || n > 200) || o.seconds == 0 || o.seconds > 300 {
        bail!("rooms must be 1 to 200 each and seconds 1 to 300: every load is bounded");
    }
    Ok(o)
}

/// A rooms-config with `rooms` devices, one expert and one interpreter per room, an advisor.
fn write_config(dir: &Path, rooms: usize) -> Result<()> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    // A fixed salt: these are throwaway load-test accounts on loopback.
    let salt = SaltString::from_b64("bG9hZGxvYWRsb2FkbG9hZA").map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(SECRET.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    std::fs::create_dir_all(dir.join("service-points"))?;
    std::fs::write(dir.join("agencies.toml"), "[[agency]]\nid = \"kela\"\nname = \"Kela\"\n")?;
    let mut sp = String::from("id = \"load\"\nname = \"Load\"\nmunicipality = \"Load\"\n");
    let mut people = format!(
        "[[person]]\nid = \"advisor-load\"\nname = \"Advisor\"\nrole = \"advisor\"\nservice_point = \"load\"\npassword_hash = \"{hash}\"\n"
    );
    for i in 1..=rooms {
        sp += &format!("\n[[device]]\nid = \"load-{i}\"\nname = \"Load {i}\"\ncredential_hash = \"{hash}\"\n");
        people += &format!(
            "\n[[person]]\nid = \"expert-{i}\"\nname = \"Expert {i}\"\nrole = \"expert\"\nagency = \"kela\"\npassword_hash = \"{hash}\"\n\
             \n[[person]]\nid = \"interp-{i}\"\nname = \"Interpreter {i}\"\nrole = \"interpreter\"\npassword_hash = \"{hash}\"\n"
        );
    }
    std::fs::write(dir.join("service-points/load.toml"), sp)?;
    std::fs::write(dir.join("people.toml"), people)?;
    Ok(())
}

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(bin: &Path, rooms: usize) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    write_config(&dir.path().join("rooms-config"), rooms)?;
    let mut child = Command::new(bin)
        .arg("serve")
        .env("VAYLA_LISTEN", "127.0.0.1:0")
        .env("VAYLA_DATA_DIR", dir.path().join("data"))
        .env("VAYLA_ROOMS_CONFIG", dir.path().join("rooms-config"))
        // Quiet unless asked otherwise: the server's log goes to this process's stderr.
        .env("VAYLA_LOG", std::env::var("VAYLA_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {} (build it with cargo build --release -p vayla-server)", bin.display()))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|w| w.trim_end_matches('/').to_owned())
        .with_context(|| format!("no URL in the server's first line: {line:?}"))?;
    Ok(Server { child, url, _dir: dir })
}

/// A process's CPU time so far (user + system), from /proc.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(')').context("stat format")?.1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // The kernel's clock tick is 100 Hz on every Linux this runs on.
    Ok(Duration::from_millis(ticks * 10))
}

/// The server process's resident memory, from /proc.
fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmRSS")?
        .parse()?;
    Ok(kb * 1024)
}

/// The server's counters a step reads at both ends of its window.
struct Counters {
    forwarded: f64,
    gso_segments: f64,
    passes: f64,
    sent: f64,
    probes: f64,
}

async fn counters(api: &Api) -> Result<Counters> {
    let text = reqwest::get(format!("{}/metrics", api.base())).await?.text().await?;
    let metric = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .with_context(|| format!("metric {name}"))
    };
    Ok(Counters {
        forwarded: metric("vayla_sfu_forwarded_packets_total")?,
        gso_segments: metric("vayla_media_udp_gso_segments_total")?,
        passes: metric("vayla_sfu_timeout_passes_total")?,
        sent: metric("vayla_sfu_sent_datagrams_total")?,
        probes: metric("vayla_sfu_probe_datagrams_total")?,
    })
}

async fn enter(
    api: &Api,
    access: &str,
    room: &str,
    publish: &[MediaSource],
    options: vayla_client::media::Options,
) -> Result<Participant> {
    let token = api.join_token(access, room).await?.token;
    let mut signal = Signal::open(&api.ws_url()).await?;
    let id = match signal.join(room, &token).await? {
        ServerMessage::Joined { you, .. } => you.participant_id,
        m => bail!("expected joined, got {m:?}"),
    };
    Ok(Participant::start_opts(signal, id, publish, options).await?)
}

/// A participant's counters at the start of the measured window.
struct Counts {
    sent: Vec<(MediaSource, u64)>,
    received: Vec<(String, MediaSource, u64)>,
    delays: usize,
}

impl Counts {
    fn of(p: &Participant) -> Counts {
        let received = p
            .media
            .tracks
            .values()
            .filter_map(|t| Some((t.participant_id.clone(), t.source, p.media.received.get(&t.mid)?.frames)))
            .collect();
        Counts {
            sent: p.media.sent().into_iter().map(|(s, n)| (s, n.frames)).collect(),
            received,
            delays: p.media.delays_us.len(),
        }
    }

    fn received_from(&self, publisher: &str, source: MediaSource) -> u64 {
        self.received.iter().find(|(p, s, _)| p == publisher && *s == source).map(|(_, _, n)| *n).unwrap_or(0)
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64
}

struct Figures {
    rooms: usize,
    participants: usize,
    forwarded_streams: usize,
    forwarded_pps: f64,
    cpu_us_per_packet: f64,
    cpu_share: f64,
    /// The load generator's own CPU share in the window: what the server competes with on a shared machine.
    own_cpu_share: f64,
    frame_loss: f64,
    delay_p50_ms: f64,
    delay_p99_ms: f64,
    first_frame_p50_ms: f64,
    first_frame_max_ms: f64,
    memory_per_participant_kib: f64,
    /// Share of the forwarded packets that left as segments of a UDP GSO send.
    gso_share: f64,
    /// The SFU's timeout passes per forwarded packet.
    passes_per_packet: f64,
    /// Datagrams the SFU sent per forwarded packet: RTCP, retransmissions, padding and probes on top of one.
    sent_per_packet: f64,
    /// Bandwidth-probe datagrams per forwarded packet.
    probes_per_packet: f64,
}

async fn step(o: &Options, rooms: usize) -> Result<Figures> {
    let server = start_server(&o.server, rooms)?;
    let pid = server.child.id();
    let api = Api::new(&server.url);
    // Everyone logs in first: password hashing (Argon2, ~19 MiB a hash) leaves heap behind that is not media's.
    let advisor = api.login("advisor-load", SECRET).await?.access_token;
    let mut logins = Vec::new();
    for i in 1..=rooms {
        let room = format!("load-{i}");
        let device = api.device_login(&room, SECRET).await?.access_token;
        let expert = api.login(&format!("expert-{i}"), SECRET).await?.access_token;
        let interp = api.login(&format!("interp-{i}"), SECRET).await?.access_token;
        logins.push((room, device, expert, interp));
    }
    let rss_idle = rss_bytes(pid)?;
    // The participants of a room join one after another; each remembers when it started joining and runs in its
    // own task from then on, so that its connection makes progress while the later rooms join (a participant
    // whose client sat idle until everyone had joined would charge that wait to the server's time to first
    // frame). Once all have joined, every task is told the same schedule: a warm-up (connecting, first
    // keyframes), a snapshot of its counters, then the measured window. Loss and delay count only what was
    // sent inside the window.
    let window = Duration::from_secs(o.seconds);
    let (schedule_tx, schedule) = tokio::sync::watch::channel(None::<(Instant, Instant)>);
    let mut tasks = Vec::new();
    for (i, (room, device, expert, interp)) in logins.into_iter().enumerate() {
        let i = i + 1;
        api.open_session(
            &advisor,
            &room,
            &[("expert", &format!("expert-{i}")), ("interpreter", &format!("interp-{i}"))],
        )
        .await?;
        for (access, publish) in [(&device, &DEVICE[..]), (&expert, &PERSON[..]), (&interp, &PERSON[..])] {
            let started = Instant::now();
            let mut p = enter(&api, access, &room, publish, o.media).await?;
            let schedule = schedule.clone();
            tasks.push(tokio::spawn(async move {
                let (warm_end, end) = loop {
                    if let Some(s) = *schedule.borrow() {
                        break s;
                    }
                    if let Err(e) = p.run_for(SLICE).await {
                        let before = Counts::of(&p);
                        return (p, started, before, Err(e));
                    }
                };
                let warm = p.run_for(warm_end.saturating_duration_since(Instant::now())).await;
                let before = Counts::of(&p);
                let r = warm.and(p.run_for(end.saturating_duration_since(Instant::now())).await);
                (p, started, before, r)
            }));
        }
    }
    let warm_end = Instant::now() + WARM_UP;
    schedule_tx.send_replace(Some((warm_end, warm_end + window)));
    tokio::time::sleep(WARM_UP).await;
    let own = std::process::id();
    let (cpu0, own0, t0, c0) = (cpu_time(pid)?, cpu_time(own)?, Instant::now(), counters(&api).await?);
    tokio::time::sleep(window).await;
    let (cpu1, own1, t1, c1) = (cpu_time(pid)?, cpu_time(own)?, Instant::now(), counters(&api).await?);
    let rss_busy = rss_bytes(pid)?;
    let mut parties = Vec::new();
    for t in tasks {
        let (p, started, before, r) = t.await?;
        r.with_context(|| format!("participant {}", p.id))?;
        parties.push((p, started, before));
    }

    // Loss: every frame a publisher sent in the window should reach the two others in its room.
    let mut expected = 0u64;
    let mut received = 0u64;
    let mut delays = Vec::new();
    let mut first_frames = Vec::new();
    // (time to first frame in ms, what it was)
    let mut slowest: Vec<(u32, String)> = Vec::new();
    for room in parties.chunks(3) {
        for (publisher, pub_started, pub_before) in room {
            for (source, sent) in publisher.media.sent() {
                let sent_before = pub_before.sent.iter().find(|(s, _)| *s == source).map(|(_, n)| *n).unwrap_or(0);
                for (subscriber, sub_started, sub_before) in room.iter().filter(|(s, _, _)| s.id != publisher.id) {
                    expected += sent.frames - sent_before;
                    let Some(got) = subscriber.media.received_from(&publisher.id, source) else { continue };
                    let got_before = sub_before.received_from(&publisher.id, source);
                    received += got.frames - got_before;
                    // Time to first frame: from when both ends had started joining.
                    if source != MediaSource::Microphone {
                        if let Some(first) = got.first_frame {
                            let from = (*pub_started).max(*sub_started);
                            let ms = first.saturating_duration_since(from).as_millis() as u32;
                            first_frames.push(ms);
                            if o.slowest > 0 {
                                let transit = got.first_transit_us.unwrap_or(0) / 1000;
                                // Milestones on the way, from `from`: the subscriber's connection up, the
                                // track offered to it.
                                let at = |t: Option<Instant>| {
                                    t.map(|t| format!("{} ms", t.saturating_duration_since(from).as_millis()))
                                        .unwrap_or_else(|| "-".into())
                                };
                                slowest.push((
                                    ms,
                                    format!(
                                        "{} → {} {source:?}: {ms} ms = {} ms until sent + {transit} ms on the way \
                                         (connected at {}, track offered at {})",
                                        publisher.id,
                                        subscriber.id,
                                        u64::from(ms).saturating_sub(transit),
                                        at(subscriber.media.connected_at),
                                        at(subscriber.media.offered_at(&publisher.id, source)),
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }
        for (p, _, before) in room {
            delays.extend_from_slice(&p.media.delays_us[before.delays.min(p.media.delays_us.len())..]);
        }
    }
    delays.sort_unstable();
    first_frames.sort_unstable();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (_, s) in slowest.iter().take(o.slowest) {
        eprintln!("{rooms} rooms, slow first frame: {s}");
    }
    let packets = c1.forwarded - c0.forwarded;
    let per_packet = |n: f64| if packets > 0.0 { n / packets } else { f64::NAN };
    let cpu = (cpu1 - cpu0).as_secs_f64();
    let window = (t1 - t0).as_secs_f64();
    let participants = rooms * 3;
    Ok(Figures {
        rooms,
        participants,
        // 7 published tracks a room, each forwarded to 2 subscribers.
        forwarded_streams: rooms * 14,
        forwarded_pps: packets / window,
        cpu_us_per_packet: if packets > 0.0 { cpu * 1e6 / packets } else { f64::NAN },
        cpu_share: cpu / window,
        own_cpu_share: (own1 - own0).as_secs_f64() / window,
        // Frames in flight at the window's edges can make this a hair below zero: clamp.
        frame_loss: if expected > 0 { (1.0 - received as f64 / expected as f64).max(0.0) } else { f64::NAN },
        delay_p50_ms: percentile(&delays, 0.5) / 1000.0,
        delay_p99_ms: percentile(&delays, 0.99) / 1000.0,
        first_frame_p50_ms: percentile(&first_frames, 0.5),
        first_frame_max_ms: first_frames.last().copied().map(f64::from).unwrap_or(f64::NAN),
        memory_per_participant_kib: rss_busy.saturating_sub(rss_idle) as f64 / 1024.0 / participants as f64,
        gso_share: per_packet(c1.gso_segments - c0.gso_segments).min(1.0),
        passes_per_packet: per_packet(c1.passes - c0.passes),
        sent_per_packet: per_packet(c1.sent - c0.sent),
        probes_per_packet: per_packet(c1.probes - c0.probes),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let o = options()?;
    let mut held = None;
    println!(
        "{:>5} {:>6} {:>7} {:>10} {:>9} {:>6} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9} {:>5} {:>7} {:>5} {:>6} {:>12} {:>7}",
        "rooms",
        "people",
        "streams",
        "fwd pkt/s",
        "µs/pkt",
        "cpu",
        "loss",
        "p50 ms",
        "p99 ms",
        "1st p50",
        "1st max",
        "KiB/pers",
        "gso",
        "passes",
        "sent",
        "probes",
        "streams/core",
        "lg cpu"
    );
    for &rooms in &o.rooms {
        let f = step(&o, rooms).await.with_context(|| format!("{rooms} rooms"))?;
        println!(
            "{:>5} {:>6} {:>7} {:>10.0} {:>9.1} {:>5.0}% {:>6.2}% {:>8.1} {:>8.1} {:>9.0} {:>9.0} {:>9.0} {:>4.0}% {:>7.2} {:>5.2} {:>6.3} {:>12.0} {:>6.0}%",
            f.rooms,
            f.participants,
            f.forwarded_streams,
            f.forwarded_pps,
            f.cpu_us_per_packet,
            f.cpu_share * 100.0,
            f.frame_loss * 100.0,
            f.delay_p50_ms,
            f.delay_p99_ms,
            f.first_frame_p50_ms,
            f.first_frame_max_ms,
            f.memory_per_participant_kib,
            f.gso_share * 100.0,
            f.passes_per_packet,
            f.sent_per_packet,
            f.probes_per_packet,
            f.forwarded_streams as f64 / f.cpu_share,
            f.own_cpu_share * 100.0
        );
        if o.json {
            let j = serde_json::json!({
                "rooms": f.rooms, "participants": f.participants, "forwarded_streams": f.forwarded_streams,
                "forwarded_packets_per_s": f.forwarded_pps, "server_cpu_us_per_forwarded_packet": f.cpu_us_per_packet,
                "server_cpu_share": f.cpu_share, "frame_loss": f.frame_loss, "delay_p50_ms": f.delay_p50_ms,
                "delay_p99_ms": f.delay_p99_ms, "first_frame_p50_ms": f.first_frame_p50_ms,
                "first_frame_max_ms": f.first_frame_max_ms, "server_memory_per_participant_kib": f.memory_per_participant_kib,
                "gso_share": f.gso_share, "timeout_passes_per_packet": f.passes_per_packet,
                "sent_datagrams_per_packet": f.sent_per_packet, "probe_datagrams_per_packet": f.probes_per_packet,
                "forwarded_streams_per_core": f.forwarded_streams as f64 / f.cpu_share,
                "loadgen_cpu_share": f.own_cpu_share,
            });
            println!("{j}");
        }
        if f.frame_loss < 0.01 {
            held = Some(rooms);
        }
    }
    match held {
        Some(n) => println!("largest step with under 1 % frame loss: {n} rooms ({} forwarded streams)", n * 14),
        None => println!("no step stayed under 1 % frame loss"),
    }
    Ok(())
}
