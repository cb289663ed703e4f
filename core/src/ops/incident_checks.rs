//! Airlock's own checks of an incident's post-rollback checklist: the pointer devices read
//! (from the store, verified, and through the CDN address when one is configured) no
//! longer serves the bad release; the error rate since the action is back within the KPI's
//! boundary (kpi/boundary.rs) of the baseline the gate saw; the good release is back on 95 % of the active
//! devices; the bad release is quarantined (after a rollback). Each item that holds is
//! logged once as `incidentChecked` by `gate:<actor>` with a command id per incident and
//! item, so two watchers log it once; an item that does not hold yet says why.

use crate::error::{ErrorKind, Result};
use crate::kpi::policy::{Kpi, Measure};
use crate::kpi::source::{KpiSource, Scope, Window};
use crate::kpi::{boundary, stats, words};
use crate::log::Event;
use crate::log::entry::ChecklistItem;
use crate::state::{AppState, Incident, IncidentAction};
use crate::workspace::{Attribution, Workspace};
use airlock_protocol::device::{DeviceRequest, check_pointer_bytes};
use airlock_protocol::pointer::ChannelPointer;
use airlock_protocol::time::Timestamp;
use serde::Serialize;

/// The share of active devices the good release must be back on.
pub const ADOPTION_TARGET: f64 = 0.95;
/// How soon after the action it should get there.
pub const ADOPTION_MINUTES: i64 = 30;
/// The confidence of the error-rate check's bound.
const CHECK_ALPHA: f64 = 0.05;

/// One check of one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutcome {
    pub item: ChecklistItem,
    pub held: bool,
    /// Whether this run logged it (false: it did not hold, or was logged already).
    pub logged: bool,
    pub detail: String,
}

impl Workspace {
    /// Runs Airlock's checks of incident `number` that have not held yet and logs each that
    /// holds now; see the module note.
    pub async fn check_incident(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        app: &str,
        number: u64,
    ) -> Result<Vec<CheckOutcome>> {
        self.may_change(&format!("check an incident of {app}"))?;
        let state = self.load(app).await?;
        let incident = state.incident(number)?.clone();
        let mut out = Vec::new();
        if incident.closed.is_some() {
            return Ok(out);
        }
        for item in incident.checklist() {
            if !item.automatic() || incident.checks.contains_key(&item) {
                continue;
            }
            let (held, detail) = match item {
                ChecklistItem::Pointer => self.pointer_check(app, &incident).await?,
                ChecklistItem::ErrorRate => self.error_rate_check(source, app, &incident).await?,
                ChecklistItem::Adoption => self.adoption_check(source, app, &incident).await?,
                ChecklistItem::Quarantined => quarantine_check(&state, &incident),
                ChecklistItem::SupportNotified | ChecklistItem::PostmortemScheduled => continue,
            };
            let logged = held && self.log_check(actor, app, number, item, &detail).await?;
            out.push(CheckOutcome {
                item,
                held,
                logged,
                detail,
            });
        }
        Ok(out)
    }

    async fn log_check(
        &self,
        actor: &str,
        app: &str,
        number: u64,
        item: ChecklistItem,
        detail: &str,
    ) -> Result<bool> {
        let by = Attribution::new(&format!("gate:{actor}"), None)?
            .with_command(&format!("gate-check-{number}-{}", item.key()))?;
        let event = Event::IncidentChecked {
            incident: number,
            item,
            detail: detail.to_string(),
        };
        match self.commit(app, &by, |_, _| Ok(event.clone())).await {
            Ok(done) => Ok(!done.replayed),
            // Another watcher checked it first, or a person closed the incident meanwhile.
            Err(e) if e.kind() == ErrorKind::Refused => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn pointer_check(&self, app: &str, i: &Incident) -> Result<(bool, String)> {
        let store = self.channel_store(&i.channel)?.url().to_string();
        let Some(stored) = self.stored_pointer(app, &i.channel).await? else {
            return Ok((false, format!("{store} has no pointer for {}", i.channel)));
        };
        if let Some(why) = stored.untrusted {
            return Ok((
                false,
                format!("the pointer in {store} does not verify: {why}"),
            ));
        }
        let pointer = stored.parsed?;
        if let Some(why) = serves(&pointer, &i.version) {
            return Ok((false, format!("the pointer in {store} {why}")));
        }
        let mut detail = format!(
            "the pointer in {store} (seq {}) serves {}",
            pointer.seq,
            describe(&pointer)
        );
        if let Some(url) = self.cdn_pointer_url(app, &i.channel)? {
            match self.read_through_cdn(&url, app, &i.channel).await {
                Ok(p) if p.seq < pointer.seq => {
                    return Ok((
                        false,
                        format!(
                            "{url} still serves seq {} where the store has {} (the CDN caches \
                             an older pointer)",
                            p.seq, pointer.seq
                        ),
                    ));
                }
                Ok(p) => {
                    if let Some(why) = serves(&p, &i.version) {
                        return Ok((false, format!("{url} {why} (the CDN still caches it)")));
                    }
                    detail.push_str(&format!("; {url} serves the same (seq {})", p.seq));
                }
                Err(why) => return Ok((false, format!("{url}: {why}"))),
            }
        }
        Ok((true, detail))
    }

    /// Reads `app`'s `channel` pointer through the CDN and checks it as a device would (the
    /// protocol's own pointer rules: signature by a trusted key, fields, app and channel,
    /// expiry), after a size limit.
    async fn read_through_cdn(
        &self,
        url: &str,
        app: &str,
        channel: &str,
    ) -> std::result::Result<ChannelPointer, String> {
        /// Far more than any pointer: a CDN answering more is not serving one.
        const MOST: usize = 1 << 20;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client.get(url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        if response.content_length().is_some_and(|n| n > MOST as u64) {
            return Err("answered more than a megabyte: not a pointer".into());
        }
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() > MOST {
            return Err("answered more than a megabyte: not a pointer".into());
        }
        let trusted = self
            .key_set()
            .await
            .map_err(|e| e.to_string())?
            .set
            .active_keys();
        let device = DeviceRequest {
            app,
            channel,
            install_id: "",
            native_version: None,
            trusted_keys: &trusted,
            last_accepted: None,
            now: self.now(),
        };
        check_pointer_bytes(&device, &bytes)
            .map(|(p, _)| p)
            .map_err(|refusal| format!("a device would refuse the pointer there: {refusal}"))
    }

    /// `i`'s action and the release it sent devices back to, once a bin of numbers has
    /// come in since; else why not yet.
    fn since_action<'i>(
        &self,
        i: &'i Incident,
    ) -> Result<std::result::Result<(&'i IncidentAction, &'i String), String>> {
        let Some(action) = &i.action else {
            return Ok(Err("not reverted or rolled back yet".into()));
        };
        let Some(good) = &action.to else {
            return Ok(Err("devices went back to their built-in bundle".into()));
        };
        let step = self.gate_policy(&i.channel)?.step_seconds;
        if self.now().unix() - action.at.unix() < step {
            return Ok(Err("waiting for the first numbers after the action".into()));
        }
        Ok(Ok((action, good)))
    }

    async fn error_rate_check(
        &self,
        source: &dyn KpiSource,
        app: &str,
        i: &Incident,
    ) -> Result<(bool, String)> {
        let (action, good) = match self.since_action(i)? {
            Ok(found) => found,
            Err(why) => return Ok((false, why)),
        };
        let policy = self.gate_policy(&i.channel)?;
        let now = self.now();
        let window = Window::new(action.at, now, policy.step_seconds)?;
        let scope = Scope {
            app: app.to_string(),
            channel: i.channel.clone(),
            versions: vec![good.clone(), i.version.clone()],
            holdout: false,
        };
        // The KPIs that triggered it (rates), else crash-free sessions.
        let mut kpis: Vec<Kpi> = i
            .kpis
            .iter()
            .filter_map(|k| Kpi::parse(&k.kpi).ok())
            .filter(|k| matches!(k.measure(), Measure::Rate { .. }))
            .collect();
        if kpis.is_empty() {
            kpis.push(Kpi::CrashFree);
        }
        let mut said = Vec::new();
        for kpi in kpis {
            let Measure::Rate {
                events, exposure, ..
            } = kpi.measure()
            else {
                continue;
            };
            let limits = policy
                .kpis
                .iter()
                .find(|(k, _)| *k == kpi)
                .map_or_else(|| kpi.default_limits(), |(_, l)| *l);
            let sum = |c: crate::kpi::source::Counts| -> f64 {
                c.values().flat_map(|bins| bins.iter()).sum::<f64>()
            };
            let n = sum(source.counts(exposure, &scope, &window).await?);
            let x = sum(source.counts(events, &scope, &window).await?);
            // The baseline's rate, and the highest it may have been: the boundary is drawn
            // from that, so a baseline measured on few sessions does not make "back" a
            // level the good release never had.
            let baseline = match i.kpis.iter().find(|k| k.kpi == kpi.key()) {
                Some(k) if k.baseline_exposure > 0 => {
                    let (x, n) = (k.baseline_events as f64, k.baseline_exposure as f64);
                    Some((x / n, stats::rate_bounds(x, n, CHECK_ALPHA).1))
                }
                _ => self
                    .rate_before(source, app, i, good, kpi)
                    .await?
                    .map(|r| (r, r)),
            };
            let Some((base, base_upper)) = baseline else {
                return Ok((
                    false,
                    format!(
                        "no {} of {good} before the incident to compare with: tick it by hand",
                        kpi.label()
                    ),
                ));
            };
            let (_, upper) = stats::rate_bounds(x, n, CHECK_ALPHA);
            let enough = n * base.max(limits.tolerance) >= policy.min_expected_events;
            let numbers = format!(
                "{} {} (at most {}) on {} since the {}, against {} before",
                kpi.label(),
                words::percent(if n > 0.0 { x / n } else { 0.0 }),
                words::percent(upper),
                words::count(n),
                if action.kind == "reverted" {
                    "revert"
                } else {
                    "rollback"
                },
                words::percent(base)
            );
            if !enough || upper > boundary::limit_of(base_upper, &limits) {
                return Ok((false, format!("{numbers}: not yet shown back")));
            }
            said.push(numbers);
        }
        Ok((
            true,
            format!("{}: back within the boundary", said.join("; ")),
        ))
    }

    /// `good`'s rate of `kpi` in the hour before the incident opened, if it has one.
    async fn rate_before(
        &self,
        source: &dyn KpiSource,
        app: &str,
        i: &Incident,
        good: &str,
        kpi: Kpi,
    ) -> Result<Option<f64>> {
        let Measure::Rate {
            events, exposure, ..
        } = kpi.measure()
        else {
            return Ok(None);
        };
        let policy = self.gate_policy(&i.channel)?;
        let window = Window::new(
            i.opened_at.plus_seconds(-3600),
            i.opened_at,
            policy.step_seconds,
        )?;
        let scope = Scope {
            app: app.to_string(),
            channel: i.channel.clone(),
            versions: vec![good.to_string()],
            holdout: false,
        };
        let total = |c: crate::kpi::source::Counts| c.get(good).map(|b| b.iter().sum::<f64>());
        let n = total(source.counts(exposure, &scope, &window).await?);
        let x = total(source.counts(events, &scope, &window).await?);
        Ok(match (n, x) {
            (Some(n), x) if n > 0.0 => Some(x.unwrap_or(0.0) / n),
            _ => None,
        })
    }

    async fn adoption_check(
        &self,
        source: &dyn KpiSource,
        app: &str,
        i: &Incident,
    ) -> Result<(bool, String)> {
        let (action, good) = match self.since_action(i)? {
            Ok(found) => found,
            Err(why) => return Ok((false, why)),
        };
        let now = self.now();
        let scope = Scope {
            app: app.to_string(),
            channel: i.channel.clone(),
            versions: vec![good.clone(), i.version.clone()],
            holdout: false,
        };
        let devices = source.active_devices_now(&scope, now).await?;
        let (share, what) = match (devices.get(good), devices.get(&i.version)) {
            (Some(g), b) if g + b.unwrap_or(&0.0) > 0.0 => {
                (g / (g + b.unwrap_or(&0.0)), "active devices")
            }
            _ => match self.session_share(source, &scope, good, now).await? {
                Some(s) => (s, "sessions in the last bin"),
                None => return Ok((false, format!("no numbers on {good}'s devices yet"))),
            },
        };
        let minutes = (now.unix() - action.at.unix()) / 60;
        let said = format!(
            "{good} on {} of {what}, {} after the action",
            words::percent(share),
            words::duration(minutes as f64 / 60.0)
        );
        if share < ADOPTION_TARGET {
            let target = crate::log::entry::percent((ADOPTION_TARGET * 10_000.0).round() as u32);
            return Ok((false, format!("{said}: not yet {target}")));
        }
        let on_time = if minutes <= ADOPTION_MINUTES {
            format!("within the {ADOPTION_MINUTES}-minute target")
        } else {
            format!("later than the {ADOPTION_MINUTES}-minute target")
        };
        Ok((true, format!("{said}: {on_time}")))
    }

    /// `good`'s share of the sessions in the last bin before `now`.
    async fn session_share(
        &self,
        source: &dyn KpiSource,
        scope: &Scope,
        good: &str,
        now: Timestamp,
    ) -> Result<Option<f64>> {
        let step = self.gate_policy(&scope.channel)?.step_seconds;
        let window = Window::new(now.plus_seconds(-step), now, step)?;
        let counts = source
            .counts(crate::kpi::source::Counter::Sessions, scope, &window)
            .await?;
        let of = |v: &str| counts.get(v).map_or(0.0, |b| b.iter().sum::<f64>());
        let total: f64 = scope.versions.iter().map(|v| of(v)).sum();
        Ok((total > 0.0).then(|| of(good) / total))
    }
}

fn quarantine_check(state: &AppState, i: &Incident) -> (bool, String) {
    match state
        .release(&i.version)
        .ok()
        .and_then(|r| r.quarantined.as_ref())
    {
        Some(q) => (
            true,
            format!("{} quarantined by {} at {}", i.version, q.actor, q.at),
        ),
        None => (false, format!("{} is not quarantined", i.version)),
    }
}

/// Why `pointer` still serves `version`, if it does.
fn serves(pointer: &ChannelPointer, version: &str) -> Option<String> {
    if pointer
        .current
        .as_ref()
        .is_some_and(|c| c.version == version)
    {
        return Some(format!(
            "still names {version} as current (seq {})",
            pointer.seq
        ));
    }
    if let Some(r) = pointer.rollout.as_ref().filter(|r| r.version == version) {
        return Some(format!(
            "still rolls {version} out to {} (seq {})",
            crate::log::entry::percent(r.basis_points),
            pointer.seq
        ));
    }
    None
}

fn describe(p: &ChannelPointer) -> String {
    let current = p
        .current
        .as_ref()
        .map_or("no current release".to_string(), |c| c.version.clone());
    match &p.rollout {
        Some(r) => format!(
            "{current}, {} to {}",
            crate::log::entry::percent(r.basis_points),
            r.version
        ),
        None => format!("{current} to everyone"),
    }
}
