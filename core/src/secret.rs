//! A wrapper for secrets (private keys, credentials) that keeps them out of logs, debug
//! output and serialised data: `Debug` prints a redaction marker and there is deliberately no
//! `Serialize` or `Display`. The only way to the value is [`Sensitive::expose`], which makes
//! every use easy to find in review.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Call only where the value must leave the process boundary
    /// (the keychain, a signing call), never to format it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Sensitive::new("hunter2".to_string());
        let shown = format!("{s:?} {:?}", Some(&s));
        assert!(
            !shown.contains("hunter2"),
            "a secret leaked into Debug output: {shown}"
        );
    }
}
