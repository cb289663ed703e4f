//! `airlock credentials`: choosing where a workspace's AWS credentials come from, and
//! keeping typed-in keys in the OS keychain only. Secrets are read from standard input
//! (without echo at a terminal), never from arguments or the environment, and never printed.

use crate::out::outln;

use crate::args::{Cli, CredentialsCommand};
use crate::run::print_json;
use airlock_core::aws::credentials::{self, CredentialSource, StaticKeys};
use airlock_core::config::{self, Config};
use airlock_core::keychain::{Keychain, SecretServiceKeychain};
use airlock_core::secret::Sensitive;
use airlock_core::{Error, Result};
use std::io::{BufRead, IsTerminal};

pub async fn run(cli: &Cli, command: &CredentialsCommand) -> Result<u8> {
    let dir = cli.workspace.clone();
    let command = command.clone();
    let json = cli.json;
    tokio::task::spawn_blocking(move || blocking(&dir, &command, json))
        .await
        .map_err(|e| Error::Keychain(format!("the credentials command failed to run: {e}")))?
}

fn blocking(dir: &std::path::Path, command: &CredentialsCommand, json: bool) -> Result<u8> {
    match command {
        CredentialsCommand::Set {
            access_key_id,
            name,
            session_token,
        } => {
            // Works before `airlock init` too (whose store check needs the keys), in which
            // case `init --credentials keychain:<name>` makes the choice.
            let source = CredentialSource::parse(Some(&format!("keychain:{name}")))?;
            let secret = read_secret("AWS secret access key")?;
            let token = if *session_token {
                Some(read_secret("AWS session token")?.expose().clone())
            } else {
                None
            };
            let keys = StaticKeys::new(access_key_id, secret.expose().clone(), token)?;
            let keychain = SecretServiceKeychain::connect()?;
            credentials::save(&keychain, name, &keys)?;
            let what = if dir.join(config::FILE_NAME).exists() {
                Config::set_setting(dir, "credentials", Some(&source.setting()))?;
                "stored in the OS keychain; airlock.toml now uses them".to_string()
            } else {
                format!(
                    "stored in the OS keychain; use them with `airlock init … --credentials {}`",
                    source.setting()
                )
            };
            report(json, &source, Some(&keys), &what);
            Ok(0)
        }
        CredentialsCommand::Show => {
            let config = Config::load(dir)?;
            let source = CredentialSource::parse(config.credentials.as_deref())?;
            let keys = match &source {
                CredentialSource::Keychain(name) => {
                    let keychain = SecretServiceKeychain::connect()?;
                    let keys = credentials::load(&keychain, name)?;
                    if keys.is_none() {
                        return Err(Error::Config(format!(
                            "this workspace uses {}, but there are no keys there; store them \
                             with `airlock credentials set --name {name} --access-key-id …`",
                            source.describe()
                        )));
                    }
                    keys
                }
                _ => None,
            };
            report(json, &source, keys.as_ref(), "in use");
            Ok(0)
        }
        CredentialsCommand::Delete { name } => {
            let keychain = SecretServiceKeychain::connect()?;
            let had = credentials::delete(&keychain as &dyn Keychain, name)?;
            if let Ok(config) = Config::load(dir)
                && CredentialSource::parse(config.credentials.as_deref())?
                    == CredentialSource::Keychain(name.clone())
            {
                Config::set_setting(dir, "credentials", None)?;
            }
            let what = if had {
                "deleted"
            } else {
                "there were no keys to delete"
            };
            if json {
                print_json(&serde_json::json!({ "name": name, "deleted": had }));
            } else {
                outln!("airlock/aws-credentials:{name}: {what}");
            }
            Ok(0)
        }
        CredentialsCommand::Use { source } => {
            let parsed = CredentialSource::parse(Some(source))?;
            if matches!(parsed, CredentialSource::Keychain(_)) {
                return Err(Error::InvalidInput(
                    "to use keys from the keychain, store them with `airlock credentials set`"
                        .into(),
                ));
            }
            Config::set_setting(dir, "credentials", Some(&parsed.setting()))?;
            report(json, &parsed, None, "now in use");
            Ok(0)
        }
    }
}

fn report(json: bool, source: &CredentialSource, keys: Option<&StaticKeys>, what: &str) {
    if json {
        print_json(&serde_json::json!({
            "source": source.setting(),
            "description": source.describe(),
            "accessKeyId": keys.map(StaticKeys::masked_id),
            "sessionToken": keys.map(|k| k.session_token.is_some()),
        }));
    } else {
        outln!("credentials: {} — {what}", source.describe());
        if let Some(k) = keys {
            outln!(
                "access key id {}{}",
                k.masked_id(),
                if k.session_token.is_some() {
                    ", with a session token"
                } else {
                    ""
                }
            );
        }
    }
}

/// One line of standard input; at a terminal, prompted for and not echoed.
pub(crate) fn read_secret(what: &str) -> Result<Sensitive<String>> {
    if std::io::stdin().is_terminal() {
        let value = rpassword::prompt_password(format!("{what}: "))
            .map_err(|e| Error::InvalidInput(format!("could not read the {what}: {e}")))?;
        return Ok(Sensitive::new(value));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::InvalidInput(format!("could not read the {what}: {e}")))?;
    if line.trim().is_empty() {
        return Err(Error::InvalidInput(format!(
            "expected the {what} on standard input (for example `airlock credentials set \
             --access-key-id AKIA… < secret-file`)"
        )));
    }
    Ok(Sensitive::new(
        line.trim_end_matches(['\r', '\n']).to_string(),
    ))
}
