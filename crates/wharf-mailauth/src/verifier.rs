//! Inbound checks on the mail exchanger: SPF, DKIM, DMARC, Authentication-Results, DNSBL.
//!
//! ## Implementation notes
//!
//! - SPF (RFC 7208) is evaluated for both identities: HELO (§2.3, skipped when the HELO
//!   argument is an address literal or not a domain name) and MAIL FROM (§2.4; for the null
//!   reverse-path the MAIL FROM identity is `postmaster@<helo>`, so its result is the HELO
//!   result). Both run concurrently. mail-auth enforces the §4.6.4 limits (10 DNS-querying
//!   terms, 2 void look-ups).
//! - DKIM (RFC 6376 §6): at most [`MAX_DKIM_SIGNATURES`] signatures are verified, the
//!   topmost ones; further `DKIM-Signature` fields are ignored, so a message cannot make us
//!   do unbounded DNS and hashing work.
//! - DMARC (RFC 7489, with its successor's DNS tree walk as mail-auth implements it): the
//!   SPF identity for alignment is the MAIL FROM domain, or the HELO domain for the null
//!   reverse-path (RFC 7489 §3.1.2 / §4.1). `dmarc=fail` under `p=reject` sets
//!   [`Verdict::reject`]; the caller decides (config `dmarc_reject`) whether to answer 550.
//!   A DNS failure never rejects: it is `temperror`.
//! - The whole check is bounded in time; when the bound is hit every method reports
//!   `temperror` and nothing is rejected.
//! - The `Authentication-Results:` header (RFC 8601) is composed from mail-auth's writer
//!   for the spf and dkim parts and here for `dkim=none` and dmarc, whose summary mail-auth
//!   gets wrong when neither identifier passed (it reports `none` where a published policy
//!   and no aligned pass is `fail`, RFC 7489 §11.2).

use crate::results::is_plain_authserv_id;
use crate::{Error, Result, dnsbl};
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    MessageAuthenticator, SpfOutput, SpfResult,
};
use mail_auth::{dmarc::Policy, dmarc::verify::DmarcParameters};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// DKIM signatures verified per message, topmost first.
pub const MAX_DKIM_SIGNATURES: usize = 8;

/// Per-query DNS timeout.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of one authentication method, in RFC 8601 §2.7 terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    /// `pass`.
    Pass,
    /// `fail` (SPF `-all`, bad DKIM signature, DMARC without an aligned pass).
    Fail,
    /// `softfail` (SPF `~all`).
    SoftFail,
    /// `neutral` (SPF `?all`; DKIM signature that could not be evaluated).
    Neutral,
    /// `none`: nothing to evaluate (no record, no signature).
    None,
    /// `temperror`: DNS trouble; may succeed later.
    TempError,
    /// `permerror`: a broken record or signature.
    PermError,
}

impl AuthResult {
    /// The RFC 8601 result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for AuthResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One DKIM signature's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimCheck {
    /// The result for this signature.
    pub result: AuthResult,
    /// Its signing domain (`d=`), empty if the signature did not parse.
    pub domain: String,
    /// Its selector (`s=`).
    pub selector: String,
}

/// The DMARC policy a domain publishes (`p=`, or `sp=`/`np=` for subdomains).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcPolicy {
    /// `none`, or no record.
    None,
    /// `quarantine`.
    Quarantine,
    /// `reject`.
    Reject,
}

/// The DMARC evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcCheck {
    /// `pass`, `fail`, `none` (no policy), `temperror`, `permerror`.
    pub result: AuthResult,
    /// The author domain (from `From:`), empty when there is none to evaluate.
    pub domain: String,
    /// The policy that applies to that domain.
    pub policy: DmarcPolicy,
}

/// What [`Verifier::check`] found out about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The complete `Authentication-Results:` header field, folded, ending in CRLF, to put
    /// in front of the stored message (after removing forged copies with
    /// [`crate::strip_forged_results`]).
    pub header: String,
    /// SPF result for the HELO identity (`None` when the HELO was not a domain name).
    pub spf_helo: AuthResult,
    /// SPF result for the MAIL FROM identity.
    pub spf_mail_from: AuthResult,
    /// One entry per verified DKIM signature; empty when the message has none.
    pub dkim: Vec<DkimCheck>,
    /// The DMARC evaluation.
    pub dmarc: DmarcCheck,
    /// DMARC failed and the domain asks for rejection (`p=reject`, RFC 7489 §6.3).
    pub reject: bool,
}

impl Verdict {
    /// DMARC failed and the domain asks for quarantine: deliver to Junk.
    pub fn quarantine(&self) -> bool {
        self.dmarc.result == AuthResult::Fail && self.dmarc.policy == DmarcPolicy::Quarantine
    }

    /// The SMTP reply for a message refused because of [`Verdict::reject`]:
    /// `550 5.7.1` (RFC 7372 §3.1 also registers 5.7.26 "multiple authentication checks
    /// failed" for DMARC; 5.7.1 is what the issue and most MTAs use).
    pub fn reject_reply(&self) -> String {
        format!("550 {}", self.reject_text())
    }

    /// [`Verdict::reject_reply`] without the reply code: the enhanced status code and text,
    /// `5.7.1 Message rejected per DMARC policy of <domain>`.
    pub fn reject_text(&self) -> String {
        format!(
            "5.7.1 Message rejected per DMARC policy of {}",
            if self.dmarc.domain.is_empty() {
                "the author domain"
            } else {
                &self.dmarc.domain
            }
        )
    }
}

/// Runs the inbound checks. Build one at start-up and share it (`Arc<Verifier>`); it owns a
/// DNS resolver with its cache.
#[derive(Clone)]
pub struct Verifier {
    auth: MessageAuthenticator,
    timeout: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier that asks `nameservers` (UDP, with TCP for truncated answers); an empty
    /// list means the system's `/etc/resolv.conf`. The per-message time limit is 30 s;
    /// change it with [`Verifier::with_timeout`].
    pub fn new(nameservers: Vec<SocketAddr>) -> Result<Verifier> {
        let mut opts = ResolverOpts::default();
        let config = if nameservers.is_empty() {
            let (config, system_opts) =
                mail_auth::hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| Error::Resolver(e.to_string()))?;
            opts = system_opts;
            config
        } else {
            let servers = nameservers
                .iter()
                .map(|addr| {
                    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                    for connection in &mut ns.connections {
                        connection.port = addr.port();
                    }
                    ns
                })
                .collect();
            ResolverConfig::from_name_servers(servers)
        };
        opts.timeout = DNS_TIMEOUT;
        opts.attempts = 2;
        let auth =
            MessageAuthenticator::new(config, opts).map_err(|e| Error::Resolver(e.to_string()))?;
        Ok(Verifier {
            auth,
            timeout: Duration::from_secs(30),
        })
    }

    /// Sets the bound on one [`Verifier::check`] or [`Verifier::dnsbl`] call.
    pub fn with_timeout(mut self, timeout: Duration) -> Verifier {
        self.timeout = timeout;
        self
    }

    /// Checks one received message.
    ///
    /// - `peer_ip`: the SMTP client's address;
    /// - `helo`: the EHLO/HELO argument as sent (a domain or an address literal);
    /// - `mail_from`: the reverse-path (`user@example.org`, or `<user@example.org>`), empty
    ///   or `<>` for the null reverse-path;
    /// - `message`: the message as received (CRLF line endings, before we add anything);
    /// - `receiving_host`: our host name, used as the authserv-id (RFC 8601 §2.5).
    ///
    /// Never fails: DNS trouble shows up as `temperror` in the verdict.
    pub async fn check(
        &self,
        peer_ip: IpAddr,
        helo: &str,
        mail_from: &str,
        message: &[u8],
        receiving_host: &str,
    ) -> Verdict {
        // The authserv-id goes into a header unquoted: only a plain host name may.
        let host = if is_plain_authserv_id(receiving_host) {
            receiving_host
        } else {
            "localhost"
        };
        let work = self.evaluate(peer_ip, helo, mail_from, message, host);
        match tokio::time::timeout(self.timeout, work).await {
            Ok(verdict) => verdict,
            Err(_) => {
                tracing::warn!(%peer_ip, "mail authentication timed out");
                timed_out(host)
            }
        }
    }

    async fn evaluate(
        &self,
        ip: IpAddr,
        helo: &str,
        mail_from: &str,
        message: &[u8],
        host: &str,
    ) -> Verdict {
        // Callers may pass the reverse-path as written in MAIL FROM: `<a@b>`, `<>`.
        let mail_from = mail_from
            .strip_prefix('<')
            .and_then(|m| m.strip_suffix('>'))
            .unwrap_or(mail_from);
        let helo_domain = helo.trim_end_matches('.');
        let helo_is_domain = crate::is_domain_name(helo_domain) && helo_domain.contains('.');
        let mail_from_domain = mail_from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('.'))
            .filter(|d| !d.is_empty());

        // SPF, both identities at once.
        let helo_check = async {
            if helo_is_domain {
                Some(
                    self.auth
                        .verify_spf(SpfParameters::verify_ehlo(ip, helo_domain, host))
                        .await,
                )
            } else {
                None
            }
        };
        let mail_from_check = async {
            if mail_from.is_empty() {
                None
            } else {
                Some(
                    self.auth
                        .verify_spf(SpfParameters::verify_mail_from(
                            ip,
                            helo_domain,
                            host,
                            mail_from,
                        ))
                        .await,
                )
            }
        };
        // DKIM, bounded in the number of signatures.
        let limited = limit_dkim_signatures(message, MAX_DKIM_SIGNATURES);
        let parsed = AuthenticatedMessage::parse(&limited);
        let dkim_future = async {
            match &parsed {
                Some(msg) => self.auth.verify_dkim(msg).await,
                None => Vec::new(),
            }
        };
        let (spf_helo, spf_mail_from, dkim) =
            tokio::join!(helo_check, mail_from_check, dkim_future);

        // RFC 7208 §2.4: for the null reverse-path the MAIL FROM identity is
        // postmaster@<helo>, which is the HELO check's identity.
        let spf_mail_from = spf_mail_from.or_else(|| spf_helo.clone());

        // DMARC.
        let spf_domain = mail_from_domain.unwrap_or(helo_domain);
        let none_spf = SpfOutput::new(spf_domain.to_string());
        let spf_for_dmarc = spf_mail_from.as_ref().unwrap_or(&none_spf);
        let dmarc = match &parsed {
            Some(msg) => Some(
                self.auth
                    .verify_dmarc(DmarcParameters::new(msg, &dkim, spf_domain, spf_for_dmarc))
                    .await,
            ),
            None => None,
        };

        // Authentication-Results.
        let from_domain = dmarc.as_ref().map_or("", |d| d.domain());
        let mut results = AuthenticationResults::new(host).with_dkim_results(&dkim, from_domain);
        if let Some(out) = &spf_helo {
            results = results.with_spf_ehlo_result(out, ip, helo_domain);
        }
        if let Some(out) = &spf_mail_from {
            results = results.with_spf_mailfrom_result(out, ip, mail_from, helo_domain);
        }
        let dmarc_check = dmarc.as_ref().map_or(
            DmarcCheck {
                result: AuthResult::None,
                domain: String::new(),
                policy: DmarcPolicy::None,
            },
            summarize_dmarc,
        );
        let mut header = format!("Authentication-Results: {results}");
        if dkim.is_empty() {
            header.push_str(";\r\n\tdkim=none");
        }
        if spf_mail_from.is_none() {
            // Neither identity could be checked (null sender and a HELO that is not a name).
            header.push_str(";\r\n\tspf=none");
        }
        let _ = write!(header, ";\r\n\tdmarc={}", dmarc_check.result);
        if !dmarc_check.domain.is_empty() && crate::is_domain_name(&dmarc_check.domain) {
            let policy = match dmarc_check.policy {
                DmarcPolicy::None => "none",
                DmarcPolicy::Quarantine => "quarantine",
                DmarcPolicy::Reject => "reject",
            };
            let _ = write!(
                header,
                " header.from={} policy.dmarc={policy}",
                dmarc_check.domain
            );
        }
        header.push_str("\r\n");

        let reject =
            dmarc_check.result == AuthResult::Fail && dmarc_check.policy == DmarcPolicy::Reject;
        Verdict {
            header,
            spf_helo: spf_helo
                .as_ref()
                .map_or(AuthResult::None, |o| spf_result(o.result())),
            spf_mail_from: spf_mail_from
                .as_ref()
                .map_or(AuthResult::None, |o| spf_result(o.result())),
            dkim: dkim.iter().map(summarize_dkim).collect(),
            dmarc: dmarc_check,
            reject,
        }
    }

    /// Looks `ip` up in each DNSBL zone (RFC 5782), all at once, and returns the first zone
    /// in `zones` order that lists it. A zone that does not answer in time, answers with an
    /// error, or answers outside 127.0.0.0/8 does not list anybody (see
    /// [`dnsbl::is_listing`]): a broken blocklist must not stop mail.
    pub async fn dnsbl(&self, ip: IpAddr, zones: &[String]) -> Option<String> {
        let mut lookups = tokio::task::JoinSet::new();
        for (index, zone) in zones.iter().enumerate() {
            let Some(name) = dnsbl::query_name(ip, zone) else {
                tracing::warn!(zone, "DNSBL zone is not a domain name; skipped");
                continue;
            };
            let auth = self.auth.clone();
            lookups.spawn(async move {
                let listed = match auth.ipv4_lookup_raw(&format!("{name}.")).await {
                    Ok(answer) => {
                        if let Some(odd) = answer.entry.iter().find(|a| !dnsbl::is_listing(**a)) {
                            tracing::warn!(%name, answer = %odd, "DNSBL answer outside 127/8 or a refusal code; ignored");
                        }
                        answer.entry.iter().any(|a| dnsbl::is_listing(*a))
                    }
                    // NXDOMAIN: not listed. Other errors: the zone is unusable right now.
                    Err(_) => false,
                };
                (index, listed)
            });
        }
        let mut first: Option<usize> = None;
        let collect = async {
            while let Some(done) = lookups.join_next().await {
                if let Ok((index, true)) = done {
                    first = Some(first.map_or(index, |f| f.min(index)));
                }
            }
        };
        // On timeout the remaining look-ups are aborted when `lookups` is dropped; the
        // listings found so far still count.
        let _ = tokio::time::timeout(self.timeout, collect).await;
        first.map(|i| zones[i].trim_end_matches('.').to_string())
    }
}

/// The verdict when the time bound was hit: nothing known, nothing rejected.
fn timed_out(host: &str) -> Verdict {
    Verdict {
        header: format!(
            "Authentication-Results: {host};\r\n\tdkim=temperror (timeout);\r\n\tspf=temperror (timeout);\r\n\tdmarc=temperror (timeout)\r\n"
        ),
        spf_helo: AuthResult::TempError,
        spf_mail_from: AuthResult::TempError,
        dkim: Vec::new(),
        dmarc: DmarcCheck {
            result: AuthResult::TempError,
            domain: String::new(),
            policy: DmarcPolicy::None,
        },
        reject: false,
    }
}

fn spf_result(r: SpfResult) -> AuthResult {
    match r {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

fn summarize_dkim(out: &DkimOutput<'_>) -> DkimCheck {
    let result = match out.result() {
        DkimResult::Pass => AuthResult::Pass,
        DkimResult::Neutral(_) => AuthResult::Neutral,
        DkimResult::Fail(_) => AuthResult::Fail,
        DkimResult::PermError(_) => AuthResult::PermError,
        DkimResult::TempError(_) => AuthResult::TempError,
        DkimResult::None => AuthResult::None,
    };
    let (domain, selector) = out.signature().map_or((String::new(), String::new()), |s| {
        (s.d.clone(), s.s.clone())
    });
    DkimCheck {
        result,
        domain,
        selector,
    }
}

/// Summarizes mail-auth's DMARC output (RFC 7489 §6.6.2 steps 4-6): with a policy record,
/// an aligned SPF or DKIM pass is `pass` and anything else `fail`; DNS errors on the record
/// are `temperror`/`permerror`; without a record, `none`.
fn summarize_dmarc(out: &DmarcOutput) -> DmarcCheck {
    let spf = out.spf_result();
    let dkim = out.dkim_result();
    let result = if *spf == DmarcResult::Pass || *dkim == DmarcResult::Pass {
        AuthResult::Pass
    } else if out.dmarc_record().is_some() {
        AuthResult::Fail
    } else if matches!(spf, DmarcResult::TempError(_)) || matches!(dkim, DmarcResult::TempError(_))
    {
        AuthResult::TempError
    } else if matches!(spf, DmarcResult::PermError(_)) || matches!(dkim, DmarcResult::PermError(_))
    {
        AuthResult::PermError
    } else {
        AuthResult::None
    };
    let policy = if out.dmarc_record().is_none() {
        DmarcPolicy::None
    } else {
        match out.policy() {
            Policy::Reject => DmarcPolicy::Reject,
            Policy::Quarantine => DmarcPolicy::Quarantine,
            Policy::None | Policy::Unspecified => DmarcPolicy::None,
        }
    };
    DmarcCheck {
        result,
        domain: out.domain().to_ascii_lowercase(),
        policy,
    }
}

/// Keeps the first `max` `DKIM-Signature` header fields and drops the rest (see the
/// module notes). Other fields and the body are untouched.
pub(crate) fn limit_dkim_signatures(message: &[u8], max: usize) -> Cow<'_, [u8]> {
    let mut seen = 0usize;
    crate::results::filter_header_fields(message, |name, _field| {
        if name.eq_ignore_ascii_case(b"dkim-signature") {
            seen += 1;
            seen <= max
        } else {
            true
        }
    })
}
