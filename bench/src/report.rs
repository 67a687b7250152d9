//! The printed tables and `report.json`.

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::coldstart::Figures;

/// Replaces `section` of the report at `path` with `value`, keeping the others, and
/// stamps it with the time and machine it was measured on.
pub fn save(path: &Path, section: &str, value: &impl Serialize) -> anyhow::Result<()> {
    let mut report: Map<String, Value> = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(e.into()),
    };
    report.insert(
        section.to_owned(),
        serde_json::json!({
            "measured_at": now_utc(),
            "machine": machine(),
            "figures": value,
        }),
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(&report)?)?;
    std::fs::rename(&temporary, path)?;
    println!("(kept in {}, section \"{section}\")", path.display());
    Ok(())
}

/// The time now, as RFC 3339 in UTC.
fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The machine, as the report names it: CPU model and count, memory.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{model}, {cores} cores, {memory_gib:.0} GiB")
}

/// The cold-start table: each binary beside the first (the bare runtime).
pub fn coldstart_table(figures: &[Figures]) -> String {
    let mut out = String::new();
    let bare = figures.first();
    let start_base = bare.map_or(1.0, |b| b.start_ms.p50.max(f64::EPSILON));
    let event_base = bare
        .and_then(|b| b.first_event_ms)
        .map_or(1.0, |e| e.p50.max(f64::EPSILON));
    let _ = writeln!(
        out,
        "Cold start: exec to the first poll of a stub runtime API on loopback, and to the \
         answer to a first event that needs no AWS call\n(release build for this machine, \
         {} starts each, interleaved; p50 unless said)",
        figures.first().map_or(0, |f| f.runs)
    );
    let _ = writeln!(
        out,
        "{:<18} {:>8} {:>8} {:>7} {:>10} {:>7} {:>10} {:>8}",
        "binary", "poll ms", "p99", "× bare", "event ms", "× bare", "peak RSS", "size"
    );
    for f in figures {
        let _ = writeln!(
            out,
            "{:<18} {:>8.2} {:>8.2} {:>6.1}× {:>10} {:>7} {:>6.1} MiB {:>4.1} MiB",
            f.binary,
            f.start_ms.p50,
            f.start_ms.p99,
            f.start_ms.p50 / start_base,
            f.first_event_ms
                .map_or("-".to_owned(), |e| format!("{:.2}", e.p50)),
            f.first_event_ms
                .map_or("-".to_owned(), |e| format!("{:.1}×", e.p50 / event_base)),
            f.peak_rss_kib.max / 1024.0,
            f.size_bytes as f64 / 1024.0 / 1024.0,
        );
    }
    out
}

/// The table of commands at scale.
pub fn scale_table(figures: &crate::scale::Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "At scale: {} executions in the emulator's S3 (seeded in {:.0} s); the code behind \
         each command, with its clients, on loopback",
        figures.executions, figures.seed_seconds
    );
    let _ = writeln!(
        out,
        "{:<28} {:>5} {:>10} {:>10} {:>9} {:>11}",
        "command", "runs", "p50 ms", "max ms", "requests", "documents"
    );
    for c in &figures.commands {
        let _ = writeln!(
            out,
            "{:<28} {:>5} {:>10.1} {:>10.1} {:>9} {:>11}",
            c.command, c.runs, c.wall_ms.p50, c.wall_ms.max, c.requests, c.executions_read
        );
    }
    out
}

/// The table of `make build`'s packages.
pub fn sizes_table(packages: &[crate::sizes::Package]) -> String {
    let mut out =
        String::from("arm64 packages from `make build` (.aws-sam/build), zipped as deployed\n");
    let _ = writeln!(out, "{:<24} {:>10} {:>10}", "function", "binary", "zipped");
    let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
    for p in packages {
        let _ = writeln!(
            out,
            "{:<24} {:>6.1} MiB {:>6.1} MiB",
            p.function,
            mib(p.binary_bytes),
            mib(p.zipped_bytes)
        );
    }
    out
}
