//! `trino-standin`: a protocol-faithful Trino coordinator stand-in.
//!
//! Integration tests put one stand-in per "cluster" behind Envoy and the router
//! filter and drive them with the real Trino clients; benchmarks use it as a fast
//! upstream. This file parses the flags, binds the port, announces it on stdout
//! (`listening on http://HOST:PORT`, which harnesses wait for) and runs the
//! accept loop and the purger on a 2-worker tokio runtime.

mod app;
mod args;
mod auth;
mod cluster;
mod fast;
mod framing;
mod http;
mod ids;
mod introspect;
mod pages;
mod plan;
mod queries;
mod rejection;
mod respond;
mod rows;
mod slug;
mod spooling;
mod statement;
mod uris;
mod zstd_frame;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::App;

fn main() {
    let config = match args::parse(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trino-standin: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(config)) {
        eprintln!("trino-standin: {e}");
        std::process::exit(1);
    }
}

async fn run(config: args::Config) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
    let local = listener.local_addr()?;
    let bound = authority(local);
    let app = Arc::new(App::new(config, bound.clone()));

    // Exactly one line, flushed, so a harness can read the port.
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{bound}")?;
    out.flush()?;
    drop(out);

    tokio::spawn(purge_loop(app.clone()));
    // Fast mode renders its pages once, here, before the first request.
    let fast = app.config.fast.then(|| Arc::new(fast::FastServer::new(app.clone())));
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                match &fast {
                    Some(server) => tokio::spawn(fast::serve_connection(server.clone(), stream)),
                    None => tokio::spawn(http::serve_connection(app.clone(), stream)),
                };
            }
            Err(e) => {
                // Usually fd exhaustion under load: back off instead of spinning.
                eprintln!("trino-standin: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn authority(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// Forgets old queries every few seconds so memory stays bounded.
async fn purge_loop(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        app.registry().purge(Instant::now());
    }
}
