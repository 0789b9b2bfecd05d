//! The real [`Resolver`]: hickory-resolver, with the `[dns] nameservers` from the
//! config or the system's resolv.conf.

use super::route::{DnsError, Resolver};
use crate::config::DnsConfig;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{ResolverBuilder, TokioResolver};
use std::net::IpAddr;
use std::time::Duration;

pub struct HickoryResolver {
    inner: TokioResolver,
}

impl HickoryResolver {
    pub fn new(config: &DnsConfig) -> Result<HickoryResolver, String> {
        let mut builder = resolver_builder(&config.nameservers)?;
        let opts = builder.options_mut();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        opts.ndots = 0;
        let inner = builder
            .build()
            .map_err(|e| format!("setting up the DNS resolver: {e}"))?;
        Ok(HickoryResolver { inner })
    }
}

/// A resolver builder for `[dns] nameservers` (`ip` or `ip:port`, UDP and TCP each), or
/// for the system's resolv.conf when the list is empty. Callers set their own timeouts,
/// attempts and cache (delivery and `wharf dns --check` want different ones).
pub fn resolver_builder(
    nameservers: &[String],
) -> Result<ResolverBuilder<TokioRuntimeProvider>, String> {
    if nameservers.is_empty() {
        return TokioResolver::builder_tokio()
            .map_err(|e| format!("reading the system DNS configuration: {e}"));
    }
    let mut servers = Vec::new();
    for s in nameservers {
        let addr = crate::config::parse_nameserver(s)
            .ok_or_else(|| format!("dns.nameservers: {s:?} is not ip or ip:port"))?;
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        servers.push(NameServerConfig::new(addr.ip(), true, vec![udp, tcp]));
    }
    Ok(TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(servers),
        TokioRuntimeProvider::default(),
    ))
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn map_err(e: NetError) -> DnsError {
    match e {
        NetError::Dns(HDnsError::NoRecordsFound(nr)) => {
            if nr.response_code == ResponseCode::NXDomain {
                DnsError::NxDomain
            } else {
                DnsError::NoRecords
            }
        }
        other => DnsError::Temporary(other.to_string()),
    }
}

#[async_trait::async_trait]
impl Resolver for HickoryResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsError> {
        let lookup = self.inner.mx_lookup(fqdn(domain)).await.map_err(map_err)?;
        let mx: Vec<(u16, String)> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some((
                    mx.preference,
                    mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                )),
                _ => None,
            })
            .collect();
        if mx.is_empty() {
            return Err(DnsError::NoRecords);
        }
        Ok(mx)
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let lookup = self.inner.lookup_ip(fqdn(host)).await.map_err(map_err)?;
        Ok(lookup.iter().collect())
    }
}
