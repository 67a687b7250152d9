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

/// The tables of whole executions: time between steps, requests, and cost.
pub fn pipeline_table(f: &crate::pipeline::Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Whole executions of the {} app under `sluice local` (functions built for release): \
         {} commits, each pushed, built, deployed to staging, approved at once through its \
         link and deployed to production, one after another",
        f.app, f.executions
    );
    let _ = writeln!(
        out,
        "push to production: p50 {:.1} s, max {:.1} s; opening the link and approving: p50 {:.0} ms",
        f.push_to_production_s.p50, f.push_to_production_s.max, f.approval_click_ms.p50
    );
    let _ = writeln!(
        out,
        "time Sluice adds per execution (every event to the request it caused, summed): \
         p50 {:.0} ms, max {:.0} ms",
        f.added_per_execution_ms.p50, f.added_per_execution_ms.max
    );
    let _ = writeln!(
        out,
        "\nPer handler (per invocation; event times to the millisecond, as the local bus \
         stamps them)"
    );
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>16} {:>18} {:>18} {:>16}",
        "function", "per exec.", "AWS requests", "event→handler ms", "event→step ms", "handler ms"
    );
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>16} {:>18} {:>18} {:>16}",
        "", "", "p50 / max", "p50 / p99", "p50 / p99", "p50 / p99"
    );
    let pair = |s: &crate::stats::Summary, high: f64| {
        if s.max == 0.0 && s.p50 == 0.0 {
            "-".to_owned()
        } else {
            format!("{:.0} / {:.0}", s.p50, high)
        }
    };
    for h in &f.handlers {
        let _ = writeln!(
            out,
            "{:<10} {:>10.1} {:>16} {:>18} {:>18} {:>16}",
            h.function,
            h.invocations_per_execution,
            pair(&h.aws_requests, h.aws_requests.max),
            pair(&h.event_to_handler_ms, h.event_to_handler_ms.p99),
            pair(&h.event_to_step_ms, h.event_to_step_ms.p99),
            pair(&h.handler_ms, h.handler_ms.p99),
        );
    }
    let c = &f.cost;
    let _ = writeln!(
        out,
        "\nCost per execution at us-east-1 prices of {}: {:.1} Lambda invocations, \
         {:.0} ms billed at {:.0} MB (the emulator's durations: an upper bound), {:.0} AWS \
         requests (each priced as an S3 PUT, the dearest), {:.0} approval email, {:.1} KiB \
         of logs; EventBridge delivers AWS services' events free",
        c.prices_as_of,
        c.lambda_invocations,
        c.lambda_billed_ms,
        c.memory_mb,
        c.aws_requests,
        c.approval_emails,
        c.log_bytes / 1024.0
    );
    let _ = writeln!(out, "{:<44} {:>12}", "", "USD");
    let _ = writeln!(out, "{:<44} {:>12.6}", "Sluice", c.sluice_usd);
    let _ = writeln!(
        out,
        "{:<44} {:>12.6}",
        format!(
            "CodePipeline V2 ({:.0} action minutes)",
            c.codepipeline_v2_action_minutes
        ),
        c.codepipeline_v2_usd
    );
    let _ = writeln!(
        out,
        "{:<44} {:>12}",
        "CodePipeline V1",
        format!("{:.2} a month", c.codepipeline_v1_usd_per_month)
    );
    out
}
