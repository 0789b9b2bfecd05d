//! Where mail for a domain goes (RFC 5321 §5.1): a static route, the smarthost, or the
//! domain's MX hosts in preference order (equal preferences shuffled), the domain
//! itself when it has no MX (implicit MX, its A/AAAA records), and nowhere when it
//! publishes a null MX (RFC 7505: `MX 0 .`) or does not exist.
//!
//! DNS sits behind the [`Resolver`] trait so routing is tested without a network; the
//! real one is [`super::dns::HickoryResolver`].

use crate::config::{OutboundConfig, split_host_port};
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// A DNS answer that is not a list of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// The name exists but has no records of this type.
    NoRecords,
    /// Timeout, SERVFAIL, network trouble: try later.
    Temporary(String),
}

/// MX and address lookups.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    /// MX records as (preference, exchange without the trailing dot; "" for the root).
    async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsError>;
    /// A and AAAA records.
    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError>;
}

/// One host to try, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Where a domain's mail goes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Try these hosts in order; `smarthost` = authenticate if configured.
    Hosts {
        targets: Vec<Target>,
        smarthost: bool,
    },
    /// Undeliverable: RFC 3463 status and the reason.
    Fail { status: String, reason: String },
    /// Try later.
    Defer { reason: String },
}

impl Route {
    /// Recipients with equal keys share one transaction (same hosts, same order).
    pub fn key(&self) -> Option<String> {
        match self {
            Route::Hosts { targets, .. } => Some(
                targets
                    .iter()
                    .map(|t| format!("{}={:?}", t.host, t.addrs))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    }
}

/// The routing part of `[outbound]`.
#[derive(Debug, Clone)]
pub struct Routing {
    /// Lower-cased domain -> (host, port).
    pub routes: BTreeMap<String, (String, u16)>,
    pub smarthost: Option<(String, u16)>,
    pub port: u16,
}

impl Routing {
    pub fn from_config(c: &OutboundConfig) -> Result<Routing, String> {
        c.validate()?;
        Ok(Routing {
            routes: c
                .routes
                .iter()
                .filter_map(|(d, t)| {
                    Some((d.trim_end_matches('.').to_lowercase(), split_host_port(t)?))
                })
                .collect(),
            smarthost: c.smarthost.as_deref().and_then(split_host_port),
            port: c.port,
        })
    }
}

/// Most MX hosts we try for one domain.
const MAX_MX: usize = 10;

/// Finds the route for `domain`.
pub async fn route(domain: &str, routing: &Routing, dns: &dyn Resolver) -> Route {
    let domain = domain.trim_end_matches('.').to_lowercase();
    if let Some((host, port)) = routing.routes.get(&domain) {
        return fixed(host, *port, dns, false).await;
    }
    if let Some((host, port)) = &routing.smarthost {
        return fixed(host, *port, dns, true).await;
    }
    let mut mx = match dns.mx(&domain).await {
        Ok(mx) => mx,
        // RFC 5321 §5.1: no MX records: the domain itself is the one host (implicit MX).
        Err(DnsError::NoRecords) => vec![(0, domain.clone())],
        Err(DnsError::NxDomain) => {
            return Route::Fail {
                status: "5.1.2".into(),
                reason: format!("domain {domain} does not exist (NXDOMAIN)"),
            };
        }
        Err(DnsError::Temporary(e)) => {
            return Route::Defer {
                reason: format!("MX lookup for {domain} failed: {e}"),
            };
        }
    };
    // RFC 7505 §3: a single MX with the root as exchange: no mail accepted.
    if mx.len() == 1 && mx[0].1.is_empty() {
        return Route::Fail {
            status: "5.1.10".into(),
            reason: format!("domain {domain} does not accept mail (null MX, RFC 7505)"),
        };
    }
    mx.retain(|(_, h)| !h.is_empty());
    // RFC 5321 §5.1: lowest preference first; equal preferences in random order.
    mx.shuffle(&mut rand::thread_rng());
    mx.sort_by_key(|(p, _)| *p);
    mx.truncate(MAX_MX);
    let mut targets = Vec::new();
    let mut last = None;
    let mut implicit_missing = false;
    for (_, host) in &mx {
        match resolve_host(host, routing.port, dns).await {
            Ok(t) => targets.push(t),
            Err(e) => {
                implicit_missing |=
                    mx.len() == 1 && *host == domain && e != DnsErrorKind::Temporary;
                last = Some(format!("{host}: {e:?}"));
            }
        }
    }
    if targets.is_empty() {
        if implicit_missing {
            return Route::Fail {
                status: "5.1.2".into(),
                reason: format!("domain {domain} has neither MX nor address records"),
            };
        }
        return Route::Defer {
            reason: format!(
                "no address for any mail host of {domain} ({})",
                last.unwrap_or_default()
            ),
        };
    }
    Route::Hosts {
        targets,
        smarthost: false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DnsErrorKind {
    Missing,
    Temporary,
}

async fn resolve_host(host: &str, port: u16, dns: &dyn Resolver) -> Result<Target, DnsErrorKind> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(Target {
            host: host.to_string(),
            addrs: vec![SocketAddr::new(ip, port)],
        });
    }
    match dns.ips(host).await {
        Ok(ips) if !ips.is_empty() => Ok(Target {
            host: host.to_string(),
            addrs: ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        }),
        Ok(_) | Err(DnsError::NoRecords) | Err(DnsError::NxDomain) => Err(DnsErrorKind::Missing),
        Err(DnsError::Temporary(_)) => Err(DnsErrorKind::Temporary),
    }
}

/// A static route or the smarthost: one host, no MX lookup.
async fn fixed(host: &str, port: u16, dns: &dyn Resolver, smarthost: bool) -> Route {
    match resolve_host(host, port, dns).await {
        Ok(t) => Route::Hosts {
            targets: vec![t],
            smarthost,
        },
        Err(e) => Route::Defer {
            reason: format!("cannot resolve relay host {host}: {e:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct FakeDns {
        mx: HashMap<String, Result<Vec<(u16, String)>, DnsError>>,
        ips: HashMap<String, Vec<IpAddr>>,
    }

    #[async_trait::async_trait]
    impl Resolver for FakeDns {
        async fn mx(&self, d: &str) -> Result<Vec<(u16, String)>, DnsError> {
            self.mx.get(d).cloned().unwrap_or(Err(DnsError::NxDomain))
        }
        async fn ips(&self, h: &str) -> Result<Vec<IpAddr>, DnsError> {
            self.ips.get(h).cloned().ok_or(DnsError::NoRecords)
        }
    }

    fn routing() -> Routing {
        Routing {
            routes: BTreeMap::new(),
            smarthost: None,
            port: 25,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hosts(r: &Route) -> Vec<String> {
        match r {
            Route::Hosts { targets, .. } => targets.iter().map(|t| t.host.clone()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn mx_preference_order_and_unresolvable_hosts_skipped() {
        let mut dns = FakeDns::default();
        dns.mx.insert(
            "a.test".into(),
            Ok(vec![
                (20, "mx2.a.test".into()),
                (10, "mx1.a.test".into()),
                (30, "gone.a.test".into()),
            ]),
        );
        dns.ips.insert("mx1.a.test".into(), vec![ip("192.0.2.1")]);
        dns.ips.insert(
            "mx2.a.test".into(),
            vec![ip("192.0.2.2"), ip("2001:db8::2")],
        );
        let r = route("A.test.", &routing(), &dns).await;
        assert_eq!(hosts(&r), ["mx1.a.test", "mx2.a.test"]);
        let Route::Hosts { targets, .. } = &r else {
            unreachable!()
        };
        assert_eq!(
            targets[1].addrs,
            vec![
                "192.0.2.2:25".parse().unwrap(),
                "[2001:db8::2]:25".parse().unwrap()
            ]
        );
    }

    #[tokio::test]
    async fn implicit_mx_null_mx_and_missing_domains() {
        let mut dns = FakeDns::default();
        dns.mx.insert("plain.test".into(), Err(DnsError::NoRecords));
        dns.ips.insert("plain.test".into(), vec![ip("192.0.2.9")]);
        assert_eq!(
            hosts(&route("plain.test", &routing(), &dns).await),
            ["plain.test"]
        );
        dns.mx
            .insert("null.test".into(), Ok(vec![(0, String::new())]));
        assert!(
            matches!(route("null.test", &routing(), &dns).await, Route::Fail { status, .. } if status == "5.1.10")
        );
        assert!(
            matches!(route("nx.test", &routing(), &dns).await, Route::Fail { status, .. } if status == "5.1.2")
        );
        dns.mx
            .insert("noaddr.test".into(), Err(DnsError::NoRecords));
        assert!(
            matches!(route("noaddr.test", &routing(), &dns).await, Route::Fail { status, .. } if status == "5.1.2")
        );
        dns.mx.insert(
            "temp.test".into(),
            Err(DnsError::Temporary("SERVFAIL".into())),
        );
        assert!(matches!(
            route("temp.test", &routing(), &dns).await,
            Route::Defer { .. }
        ));
        // An MX host without addresses (not the implicit case) is a temporary problem.
        dns.mx
            .insert("broken.test".into(), Ok(vec![(10, "nowhere.test".into())]));
        assert!(matches!(
            route("broken.test", &routing(), &dns).await,
            Route::Defer { .. }
        ));
    }

    #[tokio::test]
    async fn static_routes_and_smarthost_skip_mx() {
        let dns = FakeDns::default();
        let mut r = routing();
        r.routes.insert("x.test".into(), ("127.0.0.1".into(), 2525));
        r.smarthost = Some(("[::1]".into(), 587));
        let got = route("X.TEST", &r, &dns).await;
        assert_eq!(
            got,
            Route::Hosts {
                targets: vec![Target {
                    host: "127.0.0.1".into(),
                    addrs: vec!["127.0.0.1:2525".parse().unwrap()]
                }],
                smarthost: false
            }
        );
        let got = route("other.test", &r, &dns).await;
        assert!(
            matches!(&got, Route::Hosts { smarthost: true, targets } if targets[0].addrs == vec!["[::1]:587".parse::<SocketAddr>().unwrap()]),
            "{got:?}"
        );
    }
}
