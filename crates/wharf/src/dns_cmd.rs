//! `wharf dns DOMAIN [--check]`: the DNS records an administrator publishes for a local
//! domain, in zone-file form with one comment line each, and (with `--check`) a lookup
//! of each through the configured resolvers, reported as ok / missing / wrong / error.
//!
//! Implementation notes:
//! - MX, SPF, DKIM and DMARC are required (without them mail is refused or lands in
//!   spam); MTA-STS, TLS-RPT, autoconfig/autodiscover and the RFC 6186 SRV records are
//!   advisory. The exit status of `--check` is 0 only when every required record is ok.
//! - A lookup that fails for any reason other than "no such record" (timeout, refused,
//!   unreachable resolver) is reported as `error`, never as `missing`: the record may
//!   well be published, we just could not see it.
//! - The PTR record cannot be derived offline (the public addresses of `hostname` are
//!   not in the configuration), so it is printed as an instruction and not checked.

use crate::config::Config;
use anyhow::{Context, Result};
use hickory_resolver::TokioResolver;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{RData, RecordType};
use sha2::Digest;
use std::time::Duration;
use wharf_mailauth::DnsRecord;

/// Bound on one record's lookup, retries included.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(8);

/// How `--check` judges what it found.
#[derive(Debug, Clone)]
enum Expect {
    /// An MX whose exchange is this host.
    Mx(String),
    /// A TXT record starting with `prefix`, accepted when `accept` says so.
    Txt {
        prefix: &'static str,
        accept: fn(&str, &str) -> bool,
        want: String,
    },
    /// A CNAME to this host.
    Cname(String),
    /// An SRV with exactly this `priority weight port target`.
    Srv(String),
}

/// One record to publish.
#[derive(Debug, Clone)]
struct Rec {
    /// Owner name without the trailing dot.
    name: String,
    rtype: &'static str,
    /// The RDATA as a zone file writes it.
    value: String,
    comment: String,
    required: bool,
    expect: Expect,
}

impl Rec {
    fn zone_line(&self) -> String {
        format!("{}. 3600 IN {} {}", self.name, self.rtype, self.value)
    }
}

fn quoted(v: &str) -> String {
    format!("\"{v}\"")
}

/// The port of the first address of a `[listen]` entry, if the service is on.
fn port(list: &Option<Vec<String>>) -> Option<u16> {
    let first = list.as_ref()?.first()?;
    first.rsplit_once(':')?.1.parse().ok()
}

/// SPF: ours, or any record that authorises the MX hosts and ends in a fail/softfail.
fn spf_ok(found: &str, want: &str) -> bool {
    let terms: Vec<&str> = found.split_whitespace().collect();
    found == want
        || (terms.iter().any(|t| *t == "mx" || *t == "+mx")
            && matches!(terms.last(), Some(&"-all") | Some(&"~all")))
}

/// DKIM: the same public key (`p=`), whatever the tag order or spacing.
fn dkim_ok(found: &str, want: &str) -> bool {
    let p = |v: &str| {
        v.split(';')
            .map(str::trim)
            .find_map(|t| t.strip_prefix("p="))
            .map(|p| p.split_whitespace().collect::<String>())
    };
    p(found).is_some() && p(found) == p(want)
}

/// DMARC: a policy that acts on failures (quarantine or reject).
fn dmarc_ok(found: &str, _want: &str) -> bool {
    found
        .split(';')
        .map(str::trim)
        .any(|t| t == "p=quarantine" || t == "p=reject")
}

/// Any record of the right version tag.
fn present(_found: &str, _want: &str) -> bool {
    true
}

/// Every record for `domain`, in the order they are printed.
fn records(config: &Config, domain: &str, dkim: &[DnsRecord]) -> Vec<Rec> {
    let host = config.hostname.trim_end_matches('.').to_string();
    let mut out = Vec::new();
    out.push(Rec {
        name: domain.into(),
        rtype: "MX",
        value: format!("10 {host}."),
        comment: format!("MX: mail for {domain} is delivered to this server ({host})"),
        required: true,
        expect: Expect::Mx(host.clone()),
    });
    let spf = "v=spf1 mx -all".to_string();
    out.push(Rec {
        name: domain.into(),
        rtype: "TXT",
        value: quoted(&spf),
        comment: "SPF (RFC 7208): only the MX hosts send mail for this domain; add ip4:/ip6: \
                  terms if mail leaves from other addresses"
            .into(),
        required: true,
        expect: Expect::Txt {
            prefix: "v=spf1",
            accept: spf_ok,
            want: spf,
        },
    });
    for k in dkim {
        // The zone line of `wharf dkim show`, cut into 255-octet strings.
        let line = k.zone_line();
        let value = line
            .split_once(" IN TXT ")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| quoted(&k.value));
        out.push(Rec {
            name: k.name.clone(),
            rtype: "TXT",
            value,
            comment: format!(
                "DKIM (RFC 6376): the {} public key, selector {}, that verifies what this \
                 server signs",
                k.algorithm, k.selector
            ),
            required: true,
            expect: Expect::Txt {
                // RFC 6376 §3.6.1: `v=DKIM1` is only RECOMMENDED; any TXT here is the key.
                prefix: "",
                accept: dkim_ok,
                want: k.value.clone(),
            },
        });
    }
    let dmarc = format!("v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}");
    out.push(Rec {
        name: format!("_dmarc.{domain}"),
        rtype: "TXT",
        value: quoted(&dmarc),
        comment: "DMARC (RFC 7489): mail failing SPF and DKIM goes to spam (quarantine) rather \
                  than being refused while reports to postmaster show all your mail passes; \
                  then raise to p=reject"
            .into(),
        required: true,
        expect: Expect::Txt {
            prefix: "v=DMARC1",
            accept: dmarc_ok,
            want: dmarc,
        },
    });
    // RFC 8461 §3.1: the id changes whenever the policy changes; derived from the policy.
    let policy = format!("version: STSv1\nmode: testing\nmx: {host}\nmax_age: 86400\n");
    let id = hex::encode(&sha2::Sha256::digest(policy.as_bytes())[..8]);
    let sts = format!("v=STSv1; id={id}");
    let mut sts_comment = format!(
        "MTA-STS (RFC 8461, advisory): senders fetch the policy from \
         https://mta-sts.{domain}/.well-known/mta-sts.txt; Wharf's HTTP service does NOT \
         serve it yet: publish it on another web server (with a certificate for \
         mta-sts.{domain}) or leave this record out. Policy:"
    );
    for l in policy.lines() {
        sts_comment.push_str(&format!("\n;   {l}"));
    }
    out.push(Rec {
        name: format!("_mta-sts.{domain}"),
        rtype: "TXT",
        value: quoted(&sts),
        comment: sts_comment,
        required: false,
        expect: Expect::Txt {
            prefix: "v=STSv1",
            accept: present,
            want: sts,
        },
    });
    let tlsrpt = format!("v=TLSRPTv1; rua=mailto:postmaster@{domain}");
    out.push(Rec {
        name: format!("_smtp._tls.{domain}"),
        rtype: "TXT",
        value: quoted(&tlsrpt),
        comment: "TLS-RPT (RFC 8460, advisory): where senders report TLS failures".into(),
        required: false,
        expect: Expect::Txt {
            prefix: "v=TLSRPTv1",
            accept: present,
            want: tlsrpt,
        },
    });
    for (label, what) in [
        ("autoconfig", "Thunderbird-style autoconfiguration"),
        ("autodiscover", "Outlook-style autodiscover"),
    ] {
        out.push(Rec {
            name: format!("{label}.{domain}"),
            rtype: "CNAME",
            value: format!("{host}."),
            comment: format!("{what} (advisory): mail clients find the server settings"),
            required: false,
            expect: Expect::Cname(host.clone()),
        });
    }
    let l = &config.listen;
    for (service, listen, what) in [
        ("submission", &l.submission, "SMTP submission with STARTTLS"),
        ("submissions", &l.submissions, "SMTP submission over TLS"),
        ("imap", &l.imap, "IMAP with STARTTLS"),
        ("imaps", &l.imaps, "IMAP over TLS"),
        ("pop3", &l.pop3, "POP3 with STARTTLS"),
        ("pop3s", &l.pop3s, "POP3 over TLS"),
    ] {
        // RFC 6186 §4 (and RFC 8314 §5.1 for submissions): target "." means "not offered".
        let (value, comment) = match port(listen) {
            Some(p) => (
                format!("0 1 {p} {host}."),
                format!("SRV (RFC 6186, advisory): {what} on port {p}"),
            ),
            None => (
                "0 0 0 .".to_string(),
                format!(
                    "SRV (RFC 6186, advisory): {what} is not offered ([listen] {service} is off)"
                ),
            ),
        };
        out.push(Rec {
            name: format!("_{service}._tcp.{domain}"),
            rtype: "SRV",
            expect: Expect::Srv(value.trim_end_matches('.').to_string()),
            value,
            comment,
            required: false,
        });
    }
    out
}

fn print_ptr(host: &str) {
    println!(
        "; PTR (ask your hosting provider): the reverse DNS of every public IPv4 and IPv6 \
         address of {host} must name {host} (receivers distrust mail from addresses \
         without one); the addresses cannot be known offline, so this is not printed as a \
         record nor checked"
    );
}

/// Prints the records, or checks them against DNS.
pub async fn run(config: &Config, domain: &str, dkim: &[DnsRecord], check: bool) -> Result<()> {
    let recs = records(config, domain, dkim);
    if !check {
        println!("; DNS records for {domain} (server {})", config.hostname);
        for r in &recs {
            println!("; {}", r.comment);
            println!("{}", r.zone_line());
        }
        print_ptr(config.hostname.trim_end_matches('.'));
        return Ok(());
    }
    let resolver = resolver(&config.dns.nameservers)?;
    // All lookups at once: an unreachable resolver costs one timeout, not one per record.
    let tasks: Vec<_> = recs
        .iter()
        .map(|r| {
            let (resolver, r) = (resolver.clone(), r.clone());
            tokio::spawn(async move { check_one(&resolver, &r).await })
        })
        .collect();
    let (mut wrong, mut unknown) = (0, 0);
    for (r, task) in recs.iter().zip(tasks) {
        let verdict = task
            .await
            .unwrap_or_else(|e| Verdict::Error(format!("lookup task: {e}")));
        let level = if r.required { "required" } else { "advisory" };
        println!(
            "{}\t{} {}\t{level}\t{verdict}",
            verdict.word(),
            r.name,
            r.rtype
        );
        match verdict {
            Verdict::Ok => {}
            Verdict::Error(_) if r.required => unknown += 1,
            _ if r.required => wrong += 1,
            _ => {}
        }
    }
    println!(
        "skip\tPTR of {}\tadvisory\tnot checked: the public addresses are not in the config",
        config.hostname
    );
    match (wrong, unknown) {
        (0, 0) => Ok(()),
        (w, 0) => anyhow::bail!("{w} required record(s) of {domain} missing or wrong"),
        (0, u) => anyhow::bail!(
            "{u} required record(s) of {domain} could not be looked up (is the resolver reachable?)"
        ),
        (w, u) => anyhow::bail!(
            "{w} required record(s) of {domain} missing or wrong, {u} could not be looked up"
        ),
    }
}

enum Verdict {
    Ok,
    Missing,
    Wrong(String),
    Error(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Missing => "missing",
            Verdict::Wrong(_) => "wrong",
            Verdict::Error(_) => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Ok | Verdict::Missing => Ok(()),
            Verdict::Wrong(found) => write!(f, "found: {found}"),
            Verdict::Error(e) => write!(f, "lookup failed: {e}"),
        }
    }
}

fn resolver(nameservers: &[String]) -> Result<TokioResolver> {
    let mut builder =
        wharf_smtp::outbound::dns::resolver_builder(nameservers).map_err(|e| anyhow::anyhow!(e))?;
    let opts = builder.options_mut();
    opts.timeout = Duration::from_secs(3);
    opts.attempts = 2;
    opts.ndots = 0;
    // Each check asks afresh: a cached answer would hide a record just published.
    opts.cache_size = 0;
    builder.build().context("setting up the DNS resolver")
}

/// The answers of type `rtype` at `name`, as zone-file strings (TXT strings joined);
/// `Ok(vec![])` when the name or type has no records.
async fn lookup(
    resolver: &TokioResolver,
    name: &str,
    rtype: RecordType,
) -> Result<Vec<String>, String> {
    let fut = resolver.lookup(format!("{name}."), rtype);
    let lookup = match tokio::time::timeout(LOOKUP_TIMEOUT, fut).await {
        Err(_) => return Err(format!("no answer within {}s", LOOKUP_TIMEOUT.as_secs())),
        Ok(Err(NetError::Dns(DnsError::NoRecordsFound(_)))) => return Ok(Vec::new()),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(l)) => l,
    };
    Ok(lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some(format!(
                "{} {}",
                mx.preference,
                mx.exchange.to_ascii().trim_end_matches('.')
            )),
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            RData::CNAME(c) => Some(c.0.to_ascii().trim_end_matches('.').to_string()),
            RData::SRV(s) => Some(format!(
                "{} {} {} {}",
                s.priority,
                s.weight,
                s.port,
                s.target.to_ascii().trim_end_matches('.')
            )),
            _ => None,
        })
        .collect())
}

async fn check_one(resolver: &TokioResolver, r: &Rec) -> Verdict {
    let rtype = match r.rtype {
        "MX" => RecordType::MX,
        "CNAME" => RecordType::CNAME,
        "SRV" => RecordType::SRV,
        _ => RecordType::TXT,
    };
    let found = match lookup(resolver, &r.name, rtype).await {
        Ok(f) => f,
        Err(e) => return Verdict::Error(e),
    };
    let judge = |ok: bool, shown: Vec<String>| {
        if ok {
            Verdict::Ok
        } else if shown.is_empty() {
            Verdict::Missing
        } else {
            Verdict::Wrong(shown.join(" | "))
        }
    };
    match &r.expect {
        Expect::Mx(host) => {
            let ok = found.iter().any(|mx| {
                mx.split_once(' ')
                    .is_some_and(|(_, h)| h.eq_ignore_ascii_case(host))
            });
            judge(ok, found)
        }
        Expect::Cname(host) => {
            let ok = found.iter().any(|c| c.eq_ignore_ascii_case(host));
            judge(ok, found)
        }
        Expect::Srv(want) => {
            let ok = found.iter().any(|s| s.eq_ignore_ascii_case(want));
            judge(ok, found)
        }
        Expect::Txt {
            prefix,
            accept,
            want,
        } => {
            // Only records of this kind count (a domain has many TXT records).
            let ours: Vec<String> = found
                .into_iter()
                .filter(|t| t.starts_with(prefix))
                .collect();
            // RFC 7208 §4.5 / RFC 7489 §6.6.3: more than one record is an error.
            let ok = ours.len() == 1 && accept(&ours[0], want);
            judge(ok, ours)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges() {
        assert!(spf_ok("v=spf1 mx -all", "v=spf1 mx -all"));
        assert!(spf_ok("v=spf1 ip4:192.0.2.1 mx ~all", "v=spf1 mx -all"));
        assert!(!spf_ok("v=spf1 a ?all", "v=spf1 mx -all"));
        assert!(dkim_ok("v=DKIM1;k=rsa; p=AB CD", "v=DKIM1; k=rsa; p=ABCD"));
        assert!(!dkim_ok("v=DKIM1; k=rsa; p=XYZ", "v=DKIM1; k=rsa; p=ABCD"));
        assert!(dmarc_ok("v=DMARC1; p=reject", ""));
        assert!(!dmarc_ok("v=DMARC1; p=none", ""));
        assert_eq!(port(&Some(vec!["[::1]:993".into()])), Some(993));
        assert_eq!(port(&None), None);
    }
}
