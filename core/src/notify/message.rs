//! The messages a log entry gives each audience (pure: the same history always gives the
//! same messages), and their bodies: Slack Block Kit with a plain `text` fallback, or the
//! documented JSON body with its Standard Webhooks signature.

use super::Audience;
use crate::log::Event;
use crate::log::reader::StoredEntry;
use airlock_protocol::bucketing::FULL;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// One message, as kept in the outbox and sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Message {
    pub audience: Audience,
    pub app: String,
    pub seq: u64,
    /// The entry's kind (`promoted`, `incidentOpened`, …).
    pub kind: String,
    pub at: String,
    pub actor: String,
    pub title: String,
    pub text: String,
    /// Label and value pairs, in order.
    pub fields: Vec<(String, String)>,
}

/// Hours to 100 % for a rollout in a channel, at a share, following a plan.
pub type EtaFn<'a> = dyn Fn(&str, &[u32], u32) -> Option<f64> + 'a;

/// What deriving needs besides the log: which channels are protected, a release's one-line
/// description, and the ETA to 100 % from a rollout's plan and windows.
#[allow(missing_debug_implementations)] // closures only
pub struct Context<'a> {
    pub protected: &'a dyn Fn(&str) -> bool,
    pub description: &'a dyn Fn(&str) -> Option<String>,
    /// Hours to 100 % for a rollout in `channel` at `basis_points` following `plan`.
    pub eta_hours: &'a EtaFn<'a>,
}

fn pct(bp: u32) -> String {
    crate::log::entry::percent(bp)
}

/// The messages of `entries[i]` (the entries before it decide "first reaches").
pub fn derive(app: &str, entries: &[StoredEntry], i: usize, ctx: &Context<'_>) -> Vec<Message> {
    let e = &entries[i].entry;
    let base = |audience, title: String, text: String, fields: Vec<(String, String)>| Message {
        audience,
        app: app.to_string(),
        seq: e.seq,
        kind: e.event.kind().to_string(),
        at: e.at.to_string(),
        actor: e.actor.clone(),
        title,
        text,
        fields,
    };
    let mut out = vec![base(
        Audience::Engineering,
        format!("{app}: {}", e.event.kind()),
        match &e.reason {
            Some(r) => format!("{} — {r}", e.event.describe()),
            None => e.event.describe(),
        },
        vec![
            ("seq".into(), e.seq.to_string()),
            ("by".into(), e.actor.clone()),
        ],
    )];
    let described = |v: &str| (ctx.description)(v).filter(|d| !d.trim().is_empty());
    let release_fields = |v: &str, bp: u32, eta: Option<f64>| {
        let mut f = vec![("version".into(), v.to_string()), ("share".into(), pct(bp))];
        if let Some(d) = described(v) {
            f.push(("what changed".into(), d));
        }
        if let Some(h) = eta {
            f.push((
                "ETA to 100 %".into(),
                format!(
                    "about {} if every window passes",
                    crate::kpi::words::duration(h)
                ),
            ));
        }
        f
    };
    let seen_in = |v: &str, c: &str| {
        entries[..i].iter().any(|s| match &s.entry.event {
            Event::Promoted { version, to, .. } => version == v && to == c,
            Event::Released {
                version, channel, ..
            } => version == v && channel == c,
            _ => false,
        })
    };
    match &e.event {
        Event::Promoted {
            version,
            to,
            basis_points,
            plan,
            ..
        } if (ctx.protected)(to) && !seen_in(version, to) => {
            let eta = (*basis_points < FULL)
                .then(|| (ctx.eta_hours)(to, plan, *basis_points))
                .flatten();
            out.push(base(
                Audience::Releases,
                format!("{app} {version} reaches {to}"),
                format!(
                    "{version} now runs on {} of {to} devices.{}",
                    pct(*basis_points),
                    described(version)
                        .map(|d| format!(" {d}"))
                        .unwrap_or_default()
                ),
                release_fields(version, *basis_points, eta),
            ));
        }
        Event::Expanded {
            channel,
            version,
            basis_points,
            ..
        } if *basis_points >= FULL && (ctx.protected)(channel) => {
            out.push(base(
                Audience::Releases,
                format!("{app} {version} is on every {channel} device"),
                format!("{version} reached 100 % of {channel}."),
                release_fields(version, FULL, None),
            ));
        }
        Event::Reverted {
            channel,
            version,
            basis_points,
            ..
        } if (ctx.protected)(channel) => {
            out.push(base(
                Audience::Releases,
                format!("{app} {version} reverted in {channel}"),
                format!(
                    "The rollout of {version} at {} stopped; its devices are back on the current release.{}",
                    pct(*basis_points),
                    e.reason.as_ref().map(|r| format!(" Why: {r}")).unwrap_or_default()
                ),
                vec![("version".into(), version.clone()), ("share".into(), "0 %".into())],
            ));
        }
        Event::RolledBack {
            channel, from, to, ..
        } if (ctx.protected)(channel) => {
            let from = from.clone().unwrap_or_else(|| "the current release".into());
            out.push(base(
                Audience::Releases,
                format!("{app} rolled back to {to} in {channel}"),
                format!(
                    "Every {channel} device goes back from {from} to {to}.{}",
                    e.reason
                        .as_ref()
                        .map(|r| format!(" Why: {r}"))
                        .unwrap_or_default()
                ),
                vec![("from".into(), from), ("to".into(), to.clone())],
            ));
        }
        Event::IncidentOpened {
            channel,
            version,
            severity,
            recommendation,
            ..
        } => out.push(base(
            Audience::Incidents,
            format!(
                "SEV-{severity} incident #{}: {app} {version} in {channel}",
                e.seq
            ),
            format!(
                "{} {recommendation}",
                e.reason.clone().unwrap_or_else(|| "Opened by hand.".into())
            ),
            vec![
                ("severity".into(), format!("SEV-{severity}")),
                ("status".into(), "open".into()),
            ],
        )),
        Event::IncidentChecked {
            incident,
            item,
            detail,
        } => out.push(base(
            Audience::Incidents,
            format!("Incident #{incident} of {app}: {} checked", item.key()),
            detail.clone(),
            vec![("status".into(), "checklist item checked".into())],
        )),
        Event::IncidentClosed { incident } => out.push(base(
            Audience::Incidents,
            format!("Incident #{incident} of {app} closed"),
            e.reason
                .clone()
                .unwrap_or_else(|| "Closed with every checklist item done.".into()),
            vec![("status".into(), "closed".into())],
        )),
        _ => {}
    }
    out
}

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>`: links and mentions cannot be injected).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack Block Kit with a plain `text` fallback.
pub fn slack_body(m: &Message) -> String {
    let fields: Vec<serde_json::Value> = m
        .fields
        .iter()
        .map(|(k, v)| {
            serde_json::json!({"type": "mrkdwn", "text": format!("*{}*\n{}", slack_escape(k), slack_escape(v))})
        })
        .collect();
    let mut blocks = vec![
        serde_json::json!({"type": "header", "text": {"type": "plain_text", "text": m.title}}),
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&m.text)}}),
    ];
    if !fields.is_empty() {
        blocks.push(serde_json::json!({"type": "section", "fields": fields}));
    }
    blocks.push(serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(&format!("{} · log seq {} · {} · {}", m.app, m.seq, m.actor, m.at))}]}));
    serde_json::json!({
        "text": slack_escape(&format!("{}: {}", m.title, m.text)),
        "blocks": blocks,
    })
    .to_string()
}

/// The JSON body (docs/NOTIFICATIONS.md).
pub fn json_body(m: &Message) -> String {
    serde_json::json!({
        "type": format!("airlock.{}", m.kind),
        "audience": m.audience.key(),
        "app": m.app,
        "seq": m.seq,
        "at": m.at,
        "actor": m.actor,
        "title": m.title,
        "text": m.text,
        "fields": m.fields.iter().map(|(k, v)| serde_json::json!({"label": k, "value": v})).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The message's id for receivers: the same on every retry and from every desktop.
pub fn id(store: &str, m: &Message) -> String {
    let digest = airlock_protocol::digest::sha256_hex(store.as_bytes());
    format!(
        "msg_{}_{}_{}_{}",
        &digest[..12],
        m.app,
        m.seq,
        m.audience.key()
    )
}

/// The Standard Webhooks signature: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`
/// with the secret (`whsec_` + base64 key; any other text is used as the key's bytes).
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let text = String::from_utf8_lossy(secret);
    let key_bytes = match text.trim().strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|_| secret.to_vec()),
        None => secret.to_vec(),
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key_bytes);
    let tag = aws_lc_rs::hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn slack_text_cannot_carry_links_or_mentions() {
        assert_eq!(
            slack_escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }
}
