//! The `vayla` command: `vayla serve [--config FILE]` runs the server; `vayla hash-secret` prints an Argon2id
//! hash of a password or device credential read from standard input, for the rooms-config.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;
use vayla_server::{start, Config};

/// The media loop allocates and frees a few buffers per forwarded packet (str0m's datagrams and packet
/// queues); mimalloc does that with less CPU than the system allocator (measured in `docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: vayla serve [--config FILE] | vayla hash-secret < secret";

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") | None => serve(&args[args.len().min(1)..]).await,
        Some("hash-secret") => {
            let mut secret = String::new();
            std::io::stdin().read_to_string(&mut secret)?;
            let secret = secret.trim_end_matches(['\n', '\r']);
            if secret.is_empty() {
                bail!("give the secret on standard input");
            }
            println!("{}", vayla_server::auth::hash_secret(secret));
            Ok(())
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

async fn serve(args: &[String]) -> Result<()> {
    let json = std::env::var("VAYLA_LOG_FORMAT").map(|v| v == "json").unwrap_or(false);
    let filter = EnvFilter::try_from_env("VAYLA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if json {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).json().init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let file = match args {
        [] => None,
        [flag, path] if flag == "--config" => Some(PathBuf::from(path)),
        _ => bail!("{USAGE}"),
    };
    let config = Config::load(file.as_deref(), std::env::vars()).context("configuration")?;
    let server = start(config).await.context("starting the server")?;
    println!("Väylä is running: open {}/ in a browser (Ctrl-C stops it)", server.url());
    wait_for_stop_signal().await?;
    server.shutdown().await;
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM, the signal service managers send.
async fn wait_for_stop_signal() -> Result<()> {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
