//! Delivering notifications (core/src/notify): the webhooks' URLs and signing secrets in
//! the OS keychain; the outbox filled from the log (each audience from where this desktop
//! turned it on: history is never replayed); and [`Workspace::notify_send`], which claims
//! each due message in the store with a create-only write before sending it — so two
//! consoles and a CI job on one store send each message once — then posts it, retrying
//! with exponential backoff and jitter for up to 24 h (honouring `Retry-After`), and turns
//! an audience off on `410 Gone`. It never spends more than its budget: a dead or hanging
//! receiver never delays an action, which is committed (and its pointer written) before
//! anything is sent.

use crate::error::{Error, ErrorKind, Result};
use crate::keychain::Keychain;
use crate::log::reader::StoredEntry;
use crate::notify::message::{self, Context, Message};
use crate::notify::outbox::{Attempt, OutboxRow};
use crate::notify::{Audience, Format, KEYCHAIN_SERVICE, NotifySettings, account};
use crate::secret::Sensitive;
use crate::store::{ObjectClass, PutOutcome};
use crate::workspace::Workspace;
use airlock_protocol::limits::Cap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Messages are given up this long after they were made.
pub const GIVE_UP_SECONDS: i64 = 24 * 3600;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECONDS: f64 = 3600.0;

/// A webhook's URL and, for the JSON format, its signing secret.
type Webhook = (String, Option<Sensitive<Vec<u8>>>);

/// What one `notify_send` did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SendReport {
    pub sent: u32,
    /// Failed this time; tried again later.
    pub retrying: u32,
    /// Claimed by another desktop or job, which sends it.
    pub elsewhere: u32,
    /// Given up (24 h passed, or the receiver refused it for good).
    pub failed: u32,
    /// Due but left for later: the budget ran out.
    pub left: u32,
    /// Audiences turned off by a `410 Gone`, in words.
    pub disabled: Vec<String>,
}

/// The store key that claims a message: one create-only write decides who sends it.
fn claim_key(m: &Message) -> String {
    format!("apps/{}/notify/{}/{:020}", m.app, m.audience.key(), m.seq)
}

fn random_token() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    hex::encode(b)
}

/// 0.5 to 1.5: spreads the retries of many messages.
fn jitter() -> f64 {
    let mut b = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut b);
    0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}

/// When to try again after attempt number `attempts` (1 for the first), honouring a
/// receiver's `Retry-After` (seconds) when it gives one.
pub fn backoff(settings: &NotifySettings, attempts: u32, retry_after: Option<f64>) -> f64 {
    if let Some(s) = retry_after {
        return s.clamp(0.0, MAX_BACKOFF_SECONDS);
    }
    let base = settings.retry_seconds.unwrap_or(30.0).max(0.0);
    (base * 2f64.powi(attempts.saturating_sub(1).min(16) as i32)).min(MAX_BACKOFF_SECONDS)
        * jitter()
}

/// A webhook URL is a secret and a bearer of access: https only, except to a loopback
/// address (a local relay, a test receiver).
pub fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| Error::InvalidInput(format!("the webhook URL {why}; nothing was stored"));
    let (scheme, rest) = url
        .trim()
        .split_once("://")
        .ok_or_else(|| bad("is not a URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("needs a host and no user:password@"));
    }
    match scheme {
        "https" => Ok(()),
        "http" if crate::kpi::policy::is_loopback(authority) => Ok(()),
        "http" => Err(bad(
            "must use https:// (http:// only to a loopback address)",
        )),
        _ => Err(bad("must start with https://")),
    }
}

/// Posts `m` to `url` in `format` (signed with `secret` for the JSON format, as message
/// `id`): the status, a `Retry-After` in seconds, the error in words and the latency. The
/// error never holds the URL, which is a secret.
#[allow(clippy::too_many_arguments)]
async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&Sensitive<Vec<u8>>>,
    format: Format,
    m: &Message,
    id: &str,
    now: i64,
    timeout: Duration,
) -> (Option<u16>, Option<f64>, String, u64) {
    let body = match format {
        Format::Slack => message::slack_body(m),
        Format::Json => message::json_body(m),
    };
    let mut req = client
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .body(body.clone());
    if format == Format::Json {
        req = req
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string());
        if let Some(s) = secret {
            req = req.header(
                "webhook-signature",
                message::signature(s.expose(), id, now, &body),
            );
        }
    }
    let t0 = Instant::now();
    let answer = req.send().await;
    let latency_ms = t0.elapsed().as_millis() as u64;
    match answer {
        Ok(r) => (
            Some(r.status().as_u16()),
            r.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok()),
            String::new(),
            latency_ms,
        ),
        Err(e) if e.is_timeout() => (None, None, "no answer in time".into(), latency_ms),
        Err(e) => (None, None, e.without_url().to_string(), latency_ms),
    }
}

impl Workspace {
    pub fn notify_settings(&self) -> NotifySettings {
        self.config().notify.clone().unwrap_or_default()
    }

    fn notify_keychain(&self) -> Result<std::sync::Arc<dyn Keychain>> {
        self.keychain()
    }

    /// Stores `audience`'s webhook URL (or, with `secret`, its signing secret) in the
    /// keychain, and turns the audience back on after a `410 Gone`.
    pub async fn set_notify(&self, audience: Audience, value: &str, secret: bool) -> Result<()> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::InvalidInput(
                "nothing was read from standard input; nothing was stored".into(),
            ));
        }
        if !secret {
            check_url(value)?;
        }
        self.notify_keychain()?.set(
            KEYCHAIN_SERVICE,
            &account(self.store().id(), audience, secret),
            &Sensitive::new(value.as_bytes().to_vec()),
        )?;
        if !secret {
            self.registry()
                .notify_enable(self.store().id(), audience)
                .await?;
        }
        Ok(())
    }

    /// Removes `audience`'s URL and signing secret; whether there was a URL.
    pub fn delete_notify(&self, audience: Audience) -> Result<bool> {
        let kc = self.notify_keychain()?;
        let had = kc.delete(
            KEYCHAIN_SERVICE,
            &account(self.store().id(), audience, false),
        )?;
        kc.delete(
            KEYCHAIN_SERVICE,
            &account(self.store().id(), audience, true),
        )?;
        Ok(had)
    }

    /// Which audiences have a URL set, and whether each has a signing secret (never the
    /// values).
    pub fn notify_status(&self) -> Result<Vec<(Audience, bool, bool)>> {
        let kc = self.notify_keychain()?;
        Audience::ALL
            .into_iter()
            .map(|a| {
                let url = kc
                    .get(KEYCHAIN_SERVICE, &account(self.store().id(), a, false))?
                    .is_some();
                let secret = kc
                    .get(KEYCHAIN_SERVICE, &account(self.store().id(), a, true))?
                    .is_some();
                Ok((a, url, secret))
            })
            .collect()
    }

    /// `a`'s URL and signing secret, from the keychain.
    fn webhook(&self, a: Audience) -> Result<Option<Webhook>> {
        let kc = self.notify_keychain()?;
        let Some(url) = kc.get(KEYCHAIN_SERVICE, &account(self.store().id(), a, false))? else {
            return Ok(None);
        };
        let url = String::from_utf8_lossy(url.expose()).to_string();
        let secret = kc.get(KEYCHAIN_SERVICE, &account(self.store().id(), a, true))?;
        Ok(Some((url, secret)))
    }

    /// Fills the outbox from the log, for every audience with a URL: from where it stopped,
    /// or (the first time) from the head, replaying nothing; an app that appears after an
    /// audience was turned on is told from its first entry.
    async fn notify_enqueue(&self, audiences: &[Audience]) -> Result<()> {
        let store = self.store().id().to_string();
        let now = self.now().unix();
        let mut started = BTreeMap::new();
        for a in audiences {
            started.insert(*a, self.registry().notify_started(&store, *a).await?);
        }
        for app in self.registry().apps().await? {
            // The log is read only when some audience is behind its head.
            let Some(head) = self.registry().head_seq(&app).await? else {
                continue;
            };
            let mut entries: Option<Vec<StoredEntry>> = None;
            for a in audiences {
                let mut cursor = self.registry().notify_cursor(&store, &app, *a).await?;
                if cursor.is_none() && started.get(a).copied().unwrap_or(false) {
                    cursor = Some(0);
                }
                let Some(from) = cursor else {
                    self.registry()
                        .notify_enqueue(&store, &app, *a, head, &[], now)
                        .await?;
                    continue;
                };
                if from >= head {
                    continue;
                }
                if entries.is_none() {
                    entries = Some(self.registry().entries(&app).await?);
                }
                let all = entries.as_deref().unwrap_or_default();
                let messages = self.derive_messages(&app, all, from, *a).await;
                self.registry()
                    .notify_enqueue(&store, &app, *a, head, &messages, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// The messages for `audience` of `entries` after seq `from`.
    async fn derive_messages(
        &self,
        app: &str,
        entries: &[StoredEntry],
        from: u64,
        audience: Audience,
    ) -> Vec<Message> {
        // Descriptions come from the releases' signed statements (a store read each).
        let mut descriptions: BTreeMap<String, Option<String>> = BTreeMap::new();
        if audience == Audience::Releases {
            for s in entries.iter().filter(|s| s.entry.seq > from) {
                if let crate::log::Event::Promoted { version, .. }
                | crate::log::Event::Expanded { version, .. } = &s.entry.event
                    && !descriptions.contains_key(version)
                {
                    let d = self
                        .release_detail(app, version, None)
                        .await
                        .ok()
                        .map(|d| d.description);
                    descriptions.insert(version.clone(), d);
                }
            }
        }
        let protected = |c: &str| self.config().channel(c).is_ok_and(|c| c.protected);
        let description = |v: &str| descriptions.get(v).cloned().flatten();
        let eta = |channel: &str, plan: &[u32], bp: u32| -> Option<f64> {
            let policy = self.gate_policy(channel).ok()?;
            let at = plan.iter().position(|p| *p == bp)?;
            let steps = plan.len().saturating_sub(1);
            let seconds: i64 = (at..steps)
                .map(|i| policy.window_seconds(i as u32, protected(channel)))
                .sum();
            Some(seconds as f64 / 3600.0)
        };
        let ctx = Context {
            protected: &protected,
            description: &description,
            eta_hours: &eta,
        };
        let mut out = Vec::new();
        for (i, s) in entries.iter().enumerate() {
            if s.entry.seq <= from {
                continue;
            }
            out.extend(
                message::derive(app, entries, i, &ctx)
                    .into_iter()
                    .filter(|m| m.audience == audience),
            );
        }
        out
    }

    /// Delivers what is due now, spending at most `budget`: fills the outbox, claims each
    /// message in the store, posts it. Errors of one message never stop the others.
    pub async fn notify_send(&self, budget: Duration) -> Result<SendReport> {
        let started = Instant::now();
        let mut report = SendReport::default();
        // Each audience's URL and secret, read once from the keychain for this pass.
        let mut hooks = BTreeMap::new();
        for a in Audience::ALL {
            if let Some(w) = self.webhook(a)? {
                hooks.insert(a, w);
            }
        }
        let configured: Vec<Audience> = hooks.keys().copied().collect();
        if configured.is_empty() {
            return Ok(report);
        }
        self.notify_enqueue(&configured).await?;
        let store = self.store().id().to_string();
        let settings = self.notify_settings();
        let due = self
            .registry()
            .notify_due(&store, self.now().unix())
            .await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::InvalidInput(format!("an HTTP client: {e}")))?;
        for (m, attempts, created) in due {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() {
                report.left += 1;
                continue;
            }
            let now = self.now().unix();
            if let Some(why) = self.registry().notify_disabled(&store, m.audience).await? {
                self.registry()
                    .notify_attempted(&store, &m, None, "disabled", &why, now)
                    .await?;
                continue;
            }
            if now - created > GIVE_UP_SECONDS {
                self.registry()
                    .notify_attempted(&store, &m, None, "failed", "given up after 24 h", now)
                    .await?;
                report.failed += 1;
                continue;
            }
            let Some((url, secret)) = hooks.get(&m.audience) else {
                report.left += 1;
                continue;
            };
            // The claim: one create-only write in the store decides who sends the message.
            // The token is kept in the outbox first, so a sender that stopped after writing
            // its claim recognises it and sends, and a second process on this registry
            // takes the claim already there.
            if attempts == 0 {
                let token = self
                    .registry()
                    .notify_take_claim(&store, &m, &random_token())
                    .await?;
                let outcome = match self
                    .store()
                    .put_new(&claim_key(&m), token.as_bytes(), ObjectClass::Log)
                    .await
                {
                    Ok(PutOutcome::AlreadyExists) => match self
                        .store()
                        .get(&claim_key(&m), Cap::new("notification claim", 256))
                        .await
                    {
                        Ok(Some(o)) if o.bytes == token.as_bytes() => Ok(PutOutcome::Created),
                        Ok(_) => Ok(PutOutcome::AlreadyExists),
                        Err(e) => Err(e),
                    },
                    other => other,
                };
                match outcome {
                    Ok(PutOutcome::Created) => {}
                    Ok(PutOutcome::AlreadyExists) => {
                        self.registry()
                            .notify_attempted(
                                &store,
                                &m,
                                None,
                                "elsewhere",
                                "claimed by another desktop or job",
                                now,
                            )
                            .await?;
                        report.elsewhere += 1;
                        continue;
                    }
                    Err(e) => {
                        // Not claimed: nobody sends it yet; try again at the next pass.
                        self.registry()
                            .notify_attempted(
                                &store,
                                &m,
                                None,
                                "due",
                                &format!("the claim could not be written: {e}"),
                                now + 30,
                            )
                            .await?;
                        report.left += 1;
                        continue;
                    }
                }
            }
            let id = message::id(&store, &m);
            let (status, retry_after, error, latency_ms) = post(
                &client,
                url,
                secret.as_ref(),
                settings.format(m.audience),
                &m,
                &id,
                now,
                left.min(Duration::from_secs(15)),
            )
            .await;
            let attempt = Attempt {
                at: now,
                status,
                latency_ms,
                error: error.clone(),
            };
            match status {
                Some(s) if (200..300).contains(&s) => {
                    self.registry()
                        .notify_attempted(&store, &m, Some(&attempt), "sent", "", now)
                        .await?;
                    report.sent += 1;
                }
                Some(410) => {
                    let why = format!(
                        "the {} receiver answered 410 Gone: the audience is off until its URL is set again (airlock notify set {})",
                        m.audience.key(),
                        m.audience.key()
                    );
                    self.registry()
                        .notify_attempted(&store, &m, Some(&attempt), "disabled", &why, now)
                        .await?;
                    self.registry()
                        .notify_disable(&store, m.audience, now, &why)
                        .await?;
                    report.disabled.push(why);
                }
                Some(s) if (400..500).contains(&s) && s != 408 && s != 429 => {
                    let why = format!("the receiver refused it ({s}); not retried");
                    self.registry()
                        .notify_attempted(&store, &m, Some(&attempt), "failed", &why, now)
                        .await?;
                    report.failed += 1;
                }
                _ => {
                    let wait = backoff(&settings, attempts + 1, retry_after);
                    let detail = match status {
                        Some(s) => format!("answered {s}; trying again in {:.0} s", wait),
                        None => format!("{error}; trying again in {:.0} s", wait),
                    };
                    self.registry()
                        .notify_attempted(
                            &store,
                            &m,
                            Some(&attempt),
                            "due",
                            &detail,
                            now + wait.ceil() as i64,
                        )
                        .await?;
                    report.retrying += 1;
                }
            }
        }
        Ok(report)
    }

    /// Sends a test message to `audience` now (not through the outbox): what the receiver
    /// answered.
    pub async fn notify_test(&self, audience: Audience) -> Result<Attempt> {
        let (url, secret) = self.webhook(audience)?.ok_or_else(|| {
            Error::Config(format!(
                "no webhook for {0}: set one with `airlock notify set {0}` (the URL on standard input)",
                audience.key()
            ))
        })?;
        let m = Message {
            audience,
            app: "airlock".into(),
            seq: 0,
            kind: "test".into(),
            at: self.now().to_string(),
            actor: "airlock".into(),
            title: format!("Airlock test message for {}", audience.key()),
            text: "If you can read this, Airlock's notifications reach this channel.".into(),
            fields: Vec::new(),
        };
        let now = self.now().unix();
        let (status, _, error, latency_ms) = post(
            &reqwest::Client::new(),
            &url,
            secret.as_ref(),
            self.notify_settings().format(audience),
            &m,
            &format!("msg_test_{now}"),
            now,
            Duration::from_secs(10),
        )
        .await;
        Ok(Attempt {
            at: now,
            status,
            latency_ms,
            error,
        })
    }

    /// Why `audience` is off (its receiver answered `410 Gone`), if it is.
    pub async fn notify_disabled(&self, audience: Audience) -> Result<Option<String>> {
        self.registry()
            .notify_disabled(self.store().id(), audience)
            .await
    }

    /// Every message of this store, newest first, with its attempts.
    pub async fn notify_log(&self, limit: u32) -> Result<Vec<OutboxRow>> {
        self.registry().notify_log(self.store().id(), limit).await
    }

    /// After a changing command: delivers what is due within the `[notify]` budget; a
    /// failure is a warning in words, never the command's failure.
    pub async fn notify_after_change(&self) -> Option<String> {
        let budget = self.notify_settings().budget();
        if budget.is_zero() {
            return None;
        }
        match self.notify_send(budget).await {
            Ok(r) if r.disabled.is_empty() => None,
            Ok(r) => Some(r.disabled.join("; ")),
            Err(e) if e.kind() == ErrorKind::Config => None,
            Err(e) => Some(format!("notifications were not sent: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback() {
        assert!(check_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://[::1]:8080/hook").is_ok());
        assert!(check_url("http://example.com/hook").is_err());
        assert!(check_url("https://user:pw@example.com/").is_err());
        assert!(check_url("hooks.slack.com").is_err());
    }

    #[test]
    fn backoff_doubles_honours_retry_after_and_stops_at_an_hour() {
        let s = NotifySettings::default();
        let first = backoff(&s, 1, None);
        assert!((15.0..=45.0).contains(&first), "{first}");
        let fourth = backoff(&s, 4, None);
        assert!((120.0..=360.0).contains(&fourth), "{fourth}");
        assert!(backoff(&s, 30, None) <= 5400.0);
        assert_eq!(backoff(&s, 1, Some(7.0)), 7.0);
        assert_eq!(backoff(&s, 1, Some(1e9)), 3600.0);
    }
}
