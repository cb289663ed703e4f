//! `airlock simulate`: plays a fleet (kpi/fleet.rs) against a channel's real pointer. What
//! devices get is decided by the protocol's reference device check (`verify_update`) on
//! the pointer in the channel's store, run for a device inside the rollout's buckets and
//! one outside (every device's own bucket then says which it is); the fleet writes what
//! such devices would report: an OpenMetrics history for `promtool tsdb
//! create-blocks-from openmetrics`, and CloudFront-format access logs, gzipped, into a
//! store or a folder. With a state file a fleet is played on from where it stopped, so a
//! revert or an expansion between two runs moves devices as a real fleet would.

use crate::error::{Error, Result};
use crate::kpi::fleet::{Fleet, LogPaths, Played, Scenario, Served};
use crate::store::{ObjectClass, PutOutcome, Store};
use crate::workspace::Workspace;
use airlock_protocol::bucketing::FULL;
use airlock_protocol::device::Outcome;
use airlock_protocol::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct SimulateRequest {
    pub app: String,
    pub channel: String,
    pub scenario: Scenario,
    /// Default: where the state file's fleet stopped, else an hour before `to`.
    pub from: Option<Timestamp>,
    /// Default: now.
    pub to: Option<Timestamp>,
    /// The fleet's state: read if it exists (the scenario then comes from it), written
    /// after.
    pub state: Option<PathBuf>,
    /// Where to write the OpenMetrics history.
    pub openmetrics: Option<PathBuf>,
    /// Where to write the access logs: a store URL, a `[stores]` name, or a folder.
    pub cdn_logs: Option<String>,
    /// Where to write the sessions, crashes and JS errors per hour and release as a crash
    /// tool's CSV export (for `airlock kpi import`).
    pub crash_export: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulateReport {
    pub app: String,
    pub channel: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub devices: u32,
    pub sessions: u64,
    pub update_checks: u64,
    pub downloads: u64,
    /// Devices running each version at the end (`""`: the built-in bundle).
    pub running: BTreeMap<String, u32>,
    pub served: Served,
    pub openmetrics: Option<String>,
    pub log_files: Vec<String>,
    pub crash_export: Option<String>,
}

impl Workspace {
    /// What the pointer in `channel`'s store gives devices running `native` (X.Y.Z) now,
    /// by the reference check.
    pub async fn served_to_devices(
        &self,
        app: &str,
        channel: &str,
        native: Option<&str>,
    ) -> Result<Served> {
        let native = native
            .map(|v| {
                semver::Version::parse(v).map_err(|e| {
                    Error::InvalidInput(format!("native version {v:?} is not X.Y.Z: {e}"))
                })
            })
            .transpose()?;
        let probe = |n: u32| super::device::DeviceProfile {
            install_id: probe_id(n),
            native_version: native.clone(),
            ..Default::default()
        };
        let mut first = self.verify_as_device(app, channel, probe(0), None).await?;
        // The first probe shows the side outside any holdout: another one if it was held.
        if let Some(n) = first
            .pointer
            .as_ref()
            .and_then(|p| p.holdout.as_ref())
            .and_then(|h| probe_where(h, false))
            .filter(|n| *n > 0)
        {
            first = self.verify_as_device(app, channel, probe(n), None).await?;
        }
        let Some(pointer) = &first.pointer else {
            let why = match &first.outcome {
                Outcome::Refused { reason } => reason.to_string(),
                _ => "no pointer".into(),
            };
            return Ok(Served {
                refused: Some(why),
                ..Served::default()
            });
        };
        // One device in the rollout's buckets and one outside it show what each side runs
        // (or refuses: a release's native minimum, say, keeps that side where it is).
        let rollout = pointer.rollout.as_ref();
        let inside = |id: &str| {
            rollout.is_some_and(|r| {
                airlock_protocol::bucketing::in_rollout(&r.rollout_id, id, r.basis_points)
            })
        };
        let first_inside = inside(&probe(0).install_id);
        let mut decided = vec![(first_inside, first.outcome.clone())];
        if rollout.is_some_and(|r| r.basis_points > 0 && r.basis_points < FULL) {
            // Bucketing is cheap: look as far as it takes for a device on the other side
            // (at 0.01 % about one in 10,000 ids is inside).
            if let Some(n) = (1..2_000_000).find(|n| inside(&probe_id(*n)) != first_inside) {
                let d = self.verify_as_device(app, channel, probe(n), None).await?;
                decided.push((!first_inside, d.outcome));
            }
        }
        let mut served = Served::default();
        for (in_rollout, outcome) in decided {
            let r = rollout.filter(|_| in_rollout);
            match (outcome, r) {
                (Outcome::Run { version, .. }, Some(r)) => {
                    served.rollout = Some((version, r.rollout_id.clone(), r.basis_points));
                }
                (Outcome::Run { version, .. }, None) => served.current = Some(version),
                (Outcome::KeepBuiltIn, _) => {}
                (Outcome::Refused { reason }, Some(r)) => {
                    served.rollout_refused =
                        Some((r.rollout_id.clone(), r.basis_points, reason.to_string()));
                }
                (Outcome::Refused { reason }, None) => {
                    served.current_refused = Some(reason.to_string());
                }
            }
        }
        // A device in the holdout shows what the held side runs.
        if let Some(h) = pointer.holdout.as_ref().filter(|_| rollout.is_none())
            && let Some(n) = probe_where(h, true)
        {
            let d = self.verify_as_device(app, channel, probe(n), None).await?;
            if let Outcome::Run {
                version,
                via: airlock_protocol::device::Via::Holdout,
                ..
            } = d.outcome
            {
                served.holdout = Some((
                    version,
                    h.holdout_id.clone(),
                    h.basis_points,
                    h.until.unix(),
                ));
            }
        }
        Ok(served)
    }

    /// A fleet on `channel` from `start`, its devices on what the pointer gives them now.
    pub async fn new_fleet(
        &self,
        app: &str,
        channel: &str,
        scenario: Scenario,
        start: Timestamp,
    ) -> Result<Fleet> {
        scenario.validate()?;
        self.config.channel(channel)?;
        let served = self
            .served_to_devices(app, channel, scenario.native_version.as_deref())
            .await?;
        Ok(Fleet::new(scenario, app, channel, start, &served))
    }

    /// Plays `fleet` up to `until` on the pointer as it is now; with `logs`, writes its
    /// access logs there (one gzipped file per hour touched, named as CloudFront names them)
    /// and returns their keys.
    pub async fn play_fleet(
        &self,
        fleet: &mut Fleet,
        until: Timestamp,
        logs: Option<&Arc<dyn Store>>,
    ) -> Result<(Played, Vec<String>)> {
        let served = self.served_to_fleet(fleet).await?;
        self.play_served(fleet, until, &served, logs).await
    }

    /// What the pointer gives `fleet`'s devices now.
    async fn served_to_fleet(&self, fleet: &Fleet) -> Result<Served> {
        let native = fleet.scenario.native_version.as_deref();
        self.served_to_devices(&fleet.app, &fleet.channel, native)
            .await
    }

    /// [`Workspace::play_fleet`] on `served`, read by the caller.
    async fn play_served(
        &self,
        fleet: &mut Fleet,
        until: Timestamp,
        served: &Served,
        logs: Option<&Arc<dyn Store>>,
    ) -> Result<(Played, Vec<String>)> {
        // Blobs name the log lines of downloads: only needed when logs are written.
        let state = match logs {
            Some(_) => Some(self.load(&fleet.app).await?),
            None => None,
        };
        for version in state.iter().flat_map(|s| s.releases.keys()) {
            if !fleet.knows_blobs(version) {
                let objects = self.release_objects(&fleet.app, version).await?;
                let blobs = objects
                    .manifest
                    .files
                    .into_iter()
                    .map(|f| (f.sha256, f.size))
                    .collect();
                fleet.know_blobs(version, blobs);
            }
        }
        let (paths, distribution) = self.log_paths(&fleet.channel)?;
        let from = fleet.now;
        let played = fleet.play(until, served, logs.map(|_| &paths));
        let mut keys = Vec::new();
        if let Some(store) = logs {
            for (hour, lines) in &played.log_lines {
                let key = log_key(&distribution, *hour, from, &fleet.app, &fleet.channel);
                let text = crate::kpi::fleet::log_file(lines);
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(text.as_bytes())
                    .and_then(|()| gz.flush())
                    .map_err(|e| Error::InvalidInput(format!("compressing {key}: {e}")))?;
                let bytes = gz
                    .finish()
                    .map_err(|e| Error::InvalidInput(format!("compressing {key}: {e}")))?;
                let put = store
                    .put_new(
                        &key,
                        &bytes,
                        ObjectClass::Blob {
                            content_type: "application/gzip",
                        },
                    )
                    .await?;
                // Names are unique per chunk: one already there is a chunk played before.
                if put == PutOutcome::AlreadyExists {
                    return Err(Error::Refused(format!(
                        "a log file {key} is already there: this stretch of the fleet was \
                         played and logged before"
                    )));
                }
                keys.push(key);
            }
        }
        Ok((played, keys))
    }

    /// What a log line's path and host are for `channel`: its CDN's path prefix (else the
    /// store's prefix) and address, and the distribution id files are named after.
    fn log_paths(&self, channel: &str) -> Result<(LogPaths, String)> {
        let cdn = self.config.channel(channel)?.cdn.clone();
        let store = self.channel_store(channel)?;
        let prefix = match (
            &cdn.as_ref().and_then(|c| c.path_prefix.clone()),
            store.as_s3(),
        ) {
            (Some(p), _) => p.clone(),
            (None, Some(s3)) => s3.object_key(""),
            (None, None) => String::new(),
        };
        let host = cdn
            .as_ref()
            .and_then(|c| c.address.as_deref())
            .and_then(|a| a.split("://").nth(1))
            .map(|h| h.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "d111111abcdef8.cloudfront.net".into());
        let distribution = cdn
            .map(|c| c.distribution)
            .unwrap_or_else(|| "EAIRLOCKSIMULATED".into());
        Ok((LogPaths { prefix, host }, distribution))
    }

    /// `airlock simulate`; see the module note.
    pub async fn simulate(&self, req: &SimulateRequest) -> Result<SimulateReport> {
        let to = req.to.unwrap_or_else(|| self.now());
        let saved = match &req.state {
            Some(path) if path.exists() => {
                let text = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
                let fleet: Fleet = serde_json::from_slice(&text).map_err(|e| {
                    Error::InvalidInput(format!(
                        "{} is not a fleet's state ({e}); remove it to start a new fleet",
                        path.display()
                    ))
                })?;
                if fleet.app != req.app || fleet.channel != req.channel {
                    return Err(Error::InvalidInput(format!(
                        "{} holds a fleet of {} in {}, not {} in {}",
                        path.display(),
                        fleet.app,
                        fleet.channel,
                        req.app,
                        req.channel
                    )));
                }
                Some(fleet)
            }
            _ => None,
        };
        let mut fleet = match saved {
            Some(f) => f,
            None => {
                let from = req.from.unwrap_or_else(|| to.plus_seconds(-3600));
                self.new_fleet(&req.app, &req.channel, req.scenario.clone(), from)
                    .await?
            }
        };
        let from = Timestamp::from_unix(fleet.now)?;
        if to <= from {
            return Err(Error::InvalidInput(format!(
                "nothing to play: the fleet is at {from}, and --to is {to}"
            )));
        }
        let logs = match &req.cdn_logs {
            Some(target) => Some(self.log_store(target)?),
            None => None,
        };
        // The pointer is read once: what the devices were played on is what is reported.
        let served = self.served_to_fleet(&fleet).await?;
        let (played, log_files) = self
            .play_served(&mut fleet, to, &served, logs.as_ref())
            .await?;
        if let Some(path) = &req.openmetrics {
            std::fs::write(path, &played.openmetrics).map_err(|e| Error::io("write", path, e))?;
        }
        if let Some(path) = &req.crash_export {
            std::fs::write(path, played.crash_export()).map_err(|e| Error::io("write", path, e))?;
        }
        if let Some(path) = &req.state {
            let text = serde_json::to_vec(&fleet)
                .map_err(|e| Error::InvalidInput(format!("the fleet's state: {e}")))?;
            std::fs::write(path, text).map_err(|e| Error::io("write", path, e))?;
        }
        Ok(SimulateReport {
            app: req.app.clone(),
            channel: req.channel.clone(),
            from,
            to,
            devices: fleet.scenario.devices,
            sessions: played.sessions,
            update_checks: played.update_checks,
            downloads: played.downloads,
            running: fleet.running(),
            served,
            openmetrics: req.openmetrics.as_ref().map(|p| p.display().to_string()),
            log_files,
            crash_export: req.crash_export.as_ref().map(|p| p.display().to_string()),
        })
    }

    /// A store to write logs into: a URL, a `[stores]` name, or a folder (created).
    pub(crate) fn log_store(&self, target: &str) -> Result<Arc<dyn Store>> {
        let spec = if target.contains("://") || self.config.stores.contains_key(target) {
            self.config.resolve_store(target)?
        } else {
            let dir = std::path::Path::new(target);
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
            let abs = dir.canonicalize().map_err(|e| Error::io("open", dir, e))?;
            self.config
                .resolve_store(&format!("file://{}", abs.display()))?
        };
        crate::store::open(&spec, self.aws())
    }
}

/// A log file's key as CloudFront names it: `<distribution>.<YYYY-MM-DD-HH>.<unique>.gz`
/// (unique per chunk, so a second chunk in the same hour writes a file of its own).
fn log_key(distribution: &str, hour: i64, chunk: i64, app: &str, channel: &str) -> String {
    let t = Timestamp::from_unix(hour)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let stamp = format!(
        "{}-{}",
        t.get(..10).unwrap_or(""),
        t.get(11..13).unwrap_or("")
    );
    let unique =
        &airlock_protocol::digest::sha256_hex(format!("{app}/{channel}/{chunk}/{hour}").as_bytes())
            [..8];
    format!("{distribution}.{stamp}.{unique}.gz")
}

/// The install id of probe device `n`.
fn probe_id(n: u32) -> String {
    format!("airlock-simulate-probe-{n}")
}

/// The first probe that is (`held`) or is not in the pointer's holdout: bucketing is cheap,
/// and a holdout holds at least one id in 10,000.
fn probe_where(h: &airlock_protocol::pointer::HoldoutPin, held: bool) -> Option<u32> {
    (0..2_000_000).find(|n| {
        airlock_protocol::bucketing::in_holdout(&h.holdout_id, &probe_id(*n), h.basis_points)
            == held
    })
}
