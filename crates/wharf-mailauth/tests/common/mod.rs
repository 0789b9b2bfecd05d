//! A real DNS server for the tests: hickory-server, authoritative for the root zone, on a
//! random 127.0.0.1 port (UDP and TCP on the same port), serving the records a test gives
//! it. Names it does not hold get NXDOMAIN, as from the real DNS.

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// One record to serve.
pub enum Rec {
    /// A TXT record; values longer than 255 octets are split into several strings, as
    /// a DKIM RSA key must be.
    Txt(String),
    /// An A record.
    A(Ipv4Addr),
}

/// The running server; stops when dropped.
pub struct TestDns {
    pub addr: SocketAddr,
    _server: Server<Catalog>,
}

impl TestDns {
    pub async fn start(records: Vec<(String, Rec)>) -> TestDns {
        let root = Name::root();
        let mut zone =
            InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::empty(
                root.clone(),
                ZoneType::Primary,
                AxfrPolicy::Deny,
            );
        let soa = SOA::new(
            Name::from_str("ns.test.").unwrap(),
            Name::from_str("hostmaster.test.").unwrap(),
            1,
            3600,
            600,
            86400,
            60,
        );
        assert!(zone.upsert_mut(Record::from_rdata(root.clone(), 60, RData::SOA(soa)), 1));
        for (name, rec) in records {
            let name = Name::from_str(&format!("{}.", name.trim_end_matches('.'))).unwrap();
            let rdata = match rec {
                Rec::Txt(value) => {
                    let chunks = value
                        .as_bytes()
                        .chunks(255)
                        .map(|c| String::from_utf8(c.to_vec()).unwrap())
                        .collect();
                    RData::TXT(TXT::new(chunks))
                }
                Rec::A(ip) => RData::A(A(ip)),
            };
            assert!(zone.upsert_mut(Record::from_rdata(name, 60, rdata), 1));
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&root), vec![Arc::new(zone)]);

        // UDP on a random port, TCP on the same port (retry if it is taken).
        for _ in 0..50 {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            let Ok(tcp) = tokio::net::TcpListener::bind(addr).await else {
                continue;
            };
            let mut server = Server::new(catalog);
            server.register_socket(udp);
            server.register_listener(tcp, Duration::from_secs(10), 64 * 1024);
            return TestDns {
                addr,
                _server: server,
            };
        }
        panic!("no free port pair for the test DNS server");
    }
}
