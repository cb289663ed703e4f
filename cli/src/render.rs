//! Human-readable output. JSON output is the serialised core types (documented in the
//! README); this module only draws text for people.

use airlock_core::log::Event;
use airlock_core::ops::sync::AppStatus;
use airlock_core::ops::{Committed, PointerUpdate};
use airlock_protocol::device::{Decision, Outcome};

pub fn pct(bp: u32) -> String {
    format!("{} %", f64::from(bp) / 100.0)
}

pub fn committed(c: &Committed) {
    let e = &c.entry.entry;
    println!(
        "{} #{} {} by {}: {}",
        e.app,
        e.seq,
        e.event.kind(),
        e.actor,
        describe(&e.event)
    );
    pointers(&c.pointers);
}

/// The pointers a command wrote, with their CDN invalidations.
pub fn pointers(pointers: &[PointerUpdate]) {
    for p in pointers {
        println!(
            "  pointer {} -> seq {} (expires {})",
            p.key, p.seq, p.expires_at
        );
        if let Some(inv) = &p.invalidation {
            let waited = inv.waited_ms as f64 / 1000.0;
            match &inv.error {
                None => println!(
                    "    CloudFront {} invalidation {} of {}: {} after {waited:.1} s",
                    inv.distribution,
                    inv.id,
                    inv.paths.join(", "),
                    inv.status
                ),
                Some(e) => println!(
                    "    CloudFront {} invalidation failed after {waited:.1} s (the pointer is \
                     published): {e}",
                    inv.distribution
                ),
            }
        }
    }
}

pub fn describe(event: &Event) -> String {
    match event {
        Event::Released {
            version,
            channel,
            files,
            bytes,
            ..
        } => {
            format!("{version} into {channel} ({files} files, {bytes} bytes)")
        }
        Event::Promoted {
            version,
            from,
            to,
            basis_points,
            ..
        } => {
            format!("{version} from {from} to {to} at {}", pct(*basis_points))
        }
        Event::Expanded {
            channel,
            version,
            basis_points,
            ..
        } => {
            format!("{version} in {channel} to {}", pct(*basis_points))
        }
        Event::Paused {
            channel, version, ..
        } => format!("{version} in {channel} paused"),
        Event::Resumed {
            channel, version, ..
        } => format!("{version} in {channel} resumed"),
        Event::Reverted {
            channel,
            version,
            basis_points,
            ..
        } => {
            format!("{version} in {channel} reverted at {}", pct(*basis_points))
        }
        Event::RolledBack {
            channel, from, to, ..
        } => format!(
            "{channel} back to {to}{}",
            from.as_deref()
                .map(|f| format!(" ({f} quarantined)"))
                .unwrap_or_default()
        ),
        Event::Approved { version, channel } => format!("{version} approved for {channel}"),
        Event::Quarantined { version } => format!("{version} quarantined"),
        Event::Archived { version, channel } => format!("{version} archived in {channel}"),
        Event::PointerResigned { channel } => format!("{channel} pointer re-signed"),
    }
}

pub fn status(s: &AppStatus) {
    println!("{} (log seq {})", s.app, s.head_seq);
    for c in &s.channels {
        let lock = if c.protected { " [protected]" } else { "" };
        let current = c.current.as_deref().unwrap_or("— (built-in bundle)");
        println!("  {}{lock}: current {current}", c.channel);
        if let Some(r) = &c.rollout {
            let paused = if r.paused { ", paused" } else { "" };
            println!(
                "    rolling out {} at {}{paused} (rollout {})",
                r.version,
                pct(r.basis_points),
                r.rollout_id
            );
        }
        if let Some(p) = &c.pointer {
            println!("    pointer seq {}, expires {}", p.seq, p.expires_at);
        }
    }
    if !s.releases.is_empty() {
        println!("  releases:");
        for r in &s.releases {
            let extra = match (r.basis_points, r.paused) {
                (Some(bp), true) => format!(" {} (paused)", pct(bp)),
                (Some(bp), false) => format!(" {}", pct(bp)),
                _ => String::new(),
            };
            println!(
                "    {:<14} {:<12} {}{extra}",
                r.version, r.channel, r.status
            );
        }
    }
    for w in &s.warnings {
        println!("  warning: {w}");
    }
}

pub fn decision(d: &Decision) {
    match &d.outcome {
        Outcome::Run {
            version,
            via,
            bundle_hash,
            files,
        } => {
            println!("device runs {version} (via {via:?}, {files} files, bundle {bundle_hash})");
        }
        Outcome::KeepBuiltIn => println!("device keeps what it has (nothing applies to it)"),
        Outcome::Refused { reason } => {
            println!("device REFUSES the update [{}]: {reason}", reason.code());
        }
    }
}
