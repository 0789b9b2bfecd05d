//! The `[mailauth]` section of `wharf.toml`.

use serde::Deserialize;

/// Mail authentication settings (`[mailauth]` in `wharf.toml`).
///
/// ```toml
/// [mailauth]
/// verify = true
/// dmarc_reject = true
/// dnsbl_zones = ["zen.spamhaus.org"]
/// dkim_sign = true
/// dkim_selector = "wharf"
/// timeout_secs = 30
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Check SPF, DKIM and DMARC on mail that arrives at the mail exchanger and prepend an
    /// `Authentication-Results:` header (RFC 8601) to it.
    pub verify: bool,
    /// Refuse mail with `550 5.7.1` when DMARC fails and the author domain publishes
    /// `p=reject` (RFC 7489 §6.7). When false such mail is accepted and only marked
    /// `dmarc=fail` in `Authentication-Results:`.
    pub dmarc_reject: bool,
    /// DNS blocklist zones (RFC 5782) checked for the client's address when it connects to
    /// the mail exchanger, e.g. `["zen.spamhaus.org"]`. A listed client is refused with
    /// `554 5.7.1`. Empty: no DNSBL check.
    pub dnsbl_zones: Vec<String>,
    /// DKIM-sign mail that Wharf sends out for its own domains (RFC 6376).
    pub dkim_sign: bool,
    /// DKIM selector for newly generated keys: the RSA key is published at
    /// `<selector>._domainkey.<domain>` and the Ed25519 key (RFC 8463) at
    /// `<selector>-ed25519._domainkey.<domain>`. A key keeps the selector it was generated
    /// with (recorded in `data_dir/dkim/<domain>.json`), so changing this only affects
    /// domains that have no key yet.
    pub dkim_selector: String,
    /// Upper bound, in seconds, on the DNS work of one message's SPF/DKIM/DMARC check and of
    /// one DNSBL check. When it runs out the results are `temperror` and mail is not
    /// rejected for them.
    pub timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            verify: true,
            dmarc_reject: true,
            dnsbl_zones: Vec::new(),
            dkim_sign: true,
            dkim_selector: "wharf".to_string(),
            timeout_secs: 30,
        }
    }
}

impl Config {
    /// Checks the values serde cannot: the selector and the DNSBL zones must be DNS names.
    /// The binary calls this at start-up so a typo is reported before mail flows.
    pub fn validate(&self) -> crate::Result<()> {
        if !crate::is_domain_name(&self.dkim_selector) || self.dkim_selector.ends_with('.') {
            return Err(crate::Error::InvalidSelector(self.dkim_selector.clone()));
        }
        for zone in &self.dnsbl_zones {
            if !crate::is_domain_name(zone) {
                return Err(crate::Error::InvalidDomain(zone.clone()));
            }
        }
        Ok(())
    }

    /// The per-message time limit as a [`std::time::Duration`] (at least one second).
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn defaults_and_partial_section() {
        let c: Config = toml_like(r#"{"dnsbl_zones": ["zen.example.org"]}"#);
        assert!(c.verify && c.dmarc_reject && c.dkim_sign);
        assert_eq!(c.dkim_selector, "wharf");
        assert_eq!(c.dnsbl_zones, vec!["zen.example.org".to_string()]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<Config>(r#"{"dmarc_rejct": false}"#).is_err());
    }

    #[test]
    fn validate_refuses_bad_names() {
        let c = Config {
            dkim_selector: "a/b".into(),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            dnsbl_zones: vec!["bad zone".into()],
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }

    fn toml_like(json: &str) -> Config {
        serde_json::from_str(json).expect("config parses")
    }
}
