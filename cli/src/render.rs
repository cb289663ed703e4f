//! Human-readable output. JSON output is the serialised core types (documented in the
//! README); this module only draws text for people.

use crate::out::outln;

use airlock_core::log::Event;
use airlock_core::ops::sync::AppStatus;
use airlock_core::ops::{Committed, PointerUpdate};
use airlock_protocol::device::{Decision, Outcome};

pub use airlock_core::log::entry::percent as pct;

pub fn committed(c: &Committed) {
    let e = &c.entry.entry;
    outln!(
        "{} #{} {} by {}: {}",
        e.app,
        e.seq,
        e.event.kind(),
        e.actor,
        describe(&e.event)
    );
    pointers(&c.pointers);
}

/// A key set: its version, each key with its source, and whether this desktop can sign.
pub fn key_set(r: &airlock_core::ops::keys::KeySetReport) {
    let how = if r.created { "started" } else { "joined" };
    outln!(
        "trusted key set version {} ({how}; pinned as {})",
        r.version,
        r.pin
    );
    for k in &r.keys {
        let state = match (&k.retired_at, &k.retired_by) {
            (Some(at), Some(by)) => format!("retired {at} by {by}"),
            (Some(at), None) => format!("retired {at}"),
            _ => "active".into(),
        };
        outln!(
            "  {} {} from {} (added {} by {}) — {state}",
            k.keyid,
            k.algorithm,
            k.source,
            k.added_at,
            k.added_by
        );
    }
    match (&r.signer_keyid, r.signer_trusted) {
        (Some(id), true) => outln!("this desktop signs with {id}, a trusted key"),
        (Some(id), false) => outln!(
            "WARNING: this desktop's signer {id} is NOT in the set: it can read and verify, but \
             every signing command will refuse"
        ),
        (None, _) => outln!(
            "this desktop has no usable signing key: it can read and verify; to sign, use the \
             team's KMS key or `airlock keys import`"
        ),
    }
}

/// The pointers a command wrote, with their CDN invalidations.
pub fn pointers(pointers: &[PointerUpdate]) {
    for p in pointers {
        outln!(
            "  pointer {} -> seq {} (expires {})",
            p.key,
            p.seq,
            p.expires_at
        );
        if let Some(inv) = &p.invalidation {
            let waited = inv.waited_ms as f64 / 1000.0;
            match &inv.error {
                None => outln!(
                    "    CloudFront {} invalidation {} of {}: {} after {waited:.1} s",
                    inv.distribution,
                    inv.id,
                    inv.paths.join(", "),
                    inv.status
                ),
                Some(e) => outln!(
                    "    CloudFront {} invalidation failed after {waited:.1} s (the pointer is \
                     published): {e}",
                    inv.distribution
                ),
            }
        }
    }
}

pub fn describe(event: &Event) -> String {
    event.describe()
}

pub fn status(s: &AppStatus) {
    outln!("{} (log seq {})", s.app, s.head_seq);
    for c in &s.channels {
        let lock = if c.protected { " [protected]" } else { "" };
        let current = c.current.as_deref().unwrap_or("— (built-in bundle)");
        outln!("  {}{lock}: current {current}", c.channel);
        if let Some(r) = &c.rollout {
            let paused = if r.paused { ", paused" } else { "" };
            outln!(
                "    rolling out {} at {}{paused} (rollout {})",
                r.version,
                pct(r.basis_points),
                r.rollout_id
            );
        }
        if let Some(h) = &c.holdout {
            outln!(
                "    holdout: {} of devices kept on {} until {} (the gate judges {current} \
                 against them)",
                pct(h.basis_points),
                h.version,
                h.until
            );
        }
        if let Some(p) = &c.pointer {
            outln!("    pointer seq {}, expires {}", p.seq, p.expires_at);
        }
    }
    if !s.releases.is_empty() {
        outln!("  releases:");
        for r in &s.releases {
            let extra = match (r.basis_points, r.paused) {
                (Some(bp), true) => format!(" {} (paused)", pct(bp)),
                (Some(bp), false) => format!(" {}", pct(bp)),
                _ => String::new(),
            };
            outln!(
                "    {:<14} {:<12} {}{extra}",
                r.version,
                r.channel,
                r.status
            );
        }
    }
    for w in &s.warnings {
        outln!("  warning: {w}");
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
            outln!("device runs {version} (via {via:?}, {files} files, bundle {bundle_hash})");
        }
        Outcome::KeepBuiltIn => outln!("device keeps what it has (nothing applies to it)"),
        Outcome::Refused { reason } => {
            outln!("device REFUSES the update [{}]: {reason}", reason.code());
        }
    }
}

/// What `airlock recover` will do (or did).
pub fn recover_plan(p: &airlock_core::ops::recover_log::RecoverPlan, done: bool) {
    let will = if done { "" } else { "would be " };
    match p.seen_seq {
        Some(seq) => outln!("{}: this desktop had seen its log up to seq {seq}", p.app),
        None => outln!(
            "{}: this desktop has no record of its log in this store",
            p.app
        ),
    }
    if p.restore.is_empty() {
        outln!("  nothing {will}written back");
    } else {
        let seqs: Vec<String> = p.restore.iter().map(u64::to_string).collect();
        outln!(
            "  {will}written back from this desktop: seq {}",
            seqs.join(", ")
        );
    }
    if p.discard.is_empty() {
        outln!("  nothing {will}discarded");
    } else {
        outln!("  {will}DISCARDED (the store holds other entries there):");
        for d in &p.discard {
            outln!("    {d}");
        }
    }
    match p.committed_seq {
        Some(seq) => outln!("  recorded as seq {seq}; every served pointer re-signed past it"),
        None => outln!(
            "  the `recovered` entry would take seq {} (past every pointer's seq). Nothing was \
             written: run again with --yes to carry it out",
            p.seq
        ),
    }
}
