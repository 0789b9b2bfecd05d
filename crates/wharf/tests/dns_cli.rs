//! `wharf dns DOMAIN [--check]`: the printed records parse and match the configuration
//! and `wharf dkim show`; `--check` against a little DNS server on 127.0.0.1 run by the
//! test (UDP, answering from a zone built per test, as in wharf-smtp's outbound tests).

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{CNAME, MX, SRV, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use tokio::net::UdpSocket;

/// Records by (lowercase name without dot, type).
type Zone = HashMap<(String, RecordType), Vec<RData>>;

/// Answers from `zone`; a name with no record of any type is NXDOMAIN.
async fn dns_server(zone: Zone) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let Some(q) = req.queries.first().cloned() else {
                continue;
            };
            let name = q.name().to_ascii().trim_end_matches('.').to_lowercase();
            let mut resp =
                Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
            resp.metadata.recursion_desired = req.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            resp.metadata.authoritative = true;
            resp.add_query(q.clone());
            for rdata in zone
                .get(&(name.clone(), q.query_type()))
                .into_iter()
                .flatten()
            {
                resp.add_answer(Record::from_rdata(q.name().clone(), 60, rdata.clone()));
            }
            if !zone.keys().any(|(n, _)| *n == name) {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
        }
    });
    local
}

fn txt(value: &str) -> RData {
    // RFC 1035 §3.3.14: at most 255 octets per string.
    let chunks = value
        .as_bytes()
        .chunks(255)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    RData::TXT(TXT::new(chunks))
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{s}.")).unwrap()
}

fn config(dir: &Path, nameserver: &str) -> std::path::PathBuf {
    let path = dir.join("wharf.toml");
    std::fs::write(
        &path,
        format!(
            "hostname = \"mx.example.test\"\n\
             data_dir = \"{}\"\n\
             [listen]\n\
             smtp = [\"127.0.0.1:2525\"]\n\
             submission = [\"127.0.0.1:2587\"]\n\
             imaps = [\"127.0.0.1:2993\", \"[::1]:2993\"]\n\
             pop3 = [\"127.0.0.1:2110\"]\n\
             [dns]\n\
             nameservers = [\"{nameserver}\"]\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

fn wharf(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("WHARF_CONFIG")
        .output()
        .expect("run wharf")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "wharf failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// `(name, type, rdata)` of each non-comment line of `wharf dns` output.
fn parse_zone(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            let mut it = l.splitn(5, ' ');
            let name = it.next().unwrap();
            let ttl = it.next().unwrap();
            assert!(ttl.parse::<u32>().is_ok(), "ttl in {l:?}");
            assert_eq!(it.next(), Some("IN"), "{l:?}");
            let rtype = it.next().unwrap();
            assert!(name.ends_with('.'), "absolute owner name in {l:?}");
            (
                name.trim_end_matches('.').to_string(),
                rtype.to_string(),
                it.next().unwrap().to_string(),
            )
        })
        .collect()
}

/// The TXT value of a zone line's RDATA: its quoted strings joined.
fn unquote(rdata: &str) -> String {
    rdata
        .split('"')
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>()
        .concat()
}

fn p_of(v: &str) -> String {
    v.split(';')
        .map(str::trim)
        .find_map(|t| t.strip_prefix("p="))
        .unwrap()
        .to_string()
}

#[test]
fn prints_every_record_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "127.0.0.1:53");
    ok(wharf(&cfg, &["domain", "add", "example.test"]));
    let zone = parse_zone(&ok(wharf(&cfg, &["dns", "example.test"])));
    let find = |n: &str, t: &str| -> Vec<String> {
        zone.iter()
            .filter(|(name, rtype, _)| name == n && rtype == t)
            .map(|(_, _, v)| v.clone())
            .collect()
    };
    assert_eq!(find("example.test", "MX"), ["10 mx.example.test."]);
    assert_eq!(
        find("example.test", "TXT")
            .iter()
            .map(|v| unquote(v))
            .collect::<Vec<_>>(),
        ["v=spf1 mx -all"]
    );
    let dmarc = unquote(&find("_dmarc.example.test", "TXT")[0]);
    assert!(dmarc.starts_with("v=DMARC1; p=quarantine;"), "{dmarc}");
    assert!(unquote(&find("_mta-sts.example.test", "TXT")[0]).starts_with("v=STSv1; id="));
    assert!(unquote(&find("_smtp._tls.example.test", "TXT")[0]).starts_with("v=TLSRPTv1;"));
    for c in ["autoconfig", "autodiscover"] {
        assert_eq!(
            find(&format!("{c}.example.test"), "CNAME"),
            ["mx.example.test."]
        );
    }
    // RFC 6186 SRV: configured ports; services that are off are "not offered".
    for (srv, want) in [
        ("_submission._tcp", "0 1 2587 mx.example.test."),
        ("_imaps._tcp", "0 1 2993 mx.example.test."),
        ("_pop3._tcp", "0 1 2110 mx.example.test."),
        ("_submissions._tcp", "0 0 0 ."),
        ("_imap._tcp", "0 0 0 ."),
        ("_pop3s._tcp", "0 0 0 ."),
    ] {
        assert_eq!(find(&format!("{srv}.example.test"), "SRV"), [want], "{srv}");
    }
    // DKIM: the same keys as `wharf dkim show`.
    let show = ok(wharf(&cfg, &["dkim", "show", "example.test"]));
    let shown: Vec<(String, String)> = show
        .lines()
        .map(|l| {
            let (n, rest) = l.split_once(". IN TXT ").unwrap();
            (n.to_string(), p_of(&unquote(rest)))
        })
        .collect();
    assert_eq!(shown.len(), 2, "{show}");
    let dkim: Vec<(String, String)> = zone
        .iter()
        .filter(|(n, t, _)| t == "TXT" && n.contains("._domainkey."))
        .map(|(n, _, v)| (n.clone(), p_of(&unquote(v))))
        .collect();
    assert_eq!(dkim, shown);
    assert!(
        dkim.iter().all(|(_, p)| p.len() > 40),
        "keys are published: {dkim:?}"
    );
}

#[test]
fn not_a_local_domain_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "127.0.0.1:53");
    ok(wharf(&cfg, &["domain", "add", "example.test"]));
    let o = wharf(&cfg, &["dns", "other.test"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("other.test is not a local domain"), "{err}");
    assert_eq!(stdout(&o), "");
}

/// The DKIM records `wharf dkim show` prints: (owner name, TXT value).
fn dkim_values(cfg: &Path) -> Vec<(String, String)> {
    ok(wharf(cfg, &["dkim", "show", "example.test"]))
        .lines()
        .map(|l| {
            let (n, rest) = l.split_once(". IN TXT ").unwrap();
            (n.to_lowercase(), unquote(rest))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_ok_missing_wrong() {
    let dir = tempfile::tempdir().unwrap();
    // The keys are generated first, so the zone can publish them.
    let keys_cfg = config(dir.path(), "127.0.0.1:53");
    ok(wharf(&keys_cfg, &["domain", "add", "example.test"]));
    let dkim = dkim_values(&keys_cfg);

    let mut zone = Zone::new();
    let rr = |zone: &mut Zone, n: &str, t: RecordType, d: RData| {
        zone.entry((n.into(), t)).or_default().push(d);
    };
    rr(
        &mut zone,
        "example.test",
        RecordType::MX,
        RData::MX(MX::new(10, name("mx.example.test"))),
    );
    // Wrong: does not authorise the MX hosts, and passes everything else.
    rr(
        &mut zone,
        "example.test",
        RecordType::TXT,
        txt("v=spf1 a ?all"),
    );
    rr(
        &mut zone,
        "example.test",
        RecordType::TXT,
        txt("google-site-verification=xyz"),
    );
    // DKIM: only the ed25519 key is published (without the optional `v=DKIM1`, RFC 6376
    // §3.6.1); the RSA one is missing.
    let (ed_name, ed_value) = dkim.iter().find(|(_, v)| v.contains("k=ed25519")).unwrap();
    let ed_bare = ed_value.strip_prefix("v=DKIM1; ").unwrap();
    rr(&mut zone, ed_name, RecordType::TXT, txt(ed_bare));
    rr(
        &mut zone,
        "_dmarc.example.test",
        RecordType::TXT,
        txt("v=DMARC1; p=reject; rua=mailto:dmarc@example.test"),
    );
    rr(
        &mut zone,
        "autoconfig.example.test",
        RecordType::CNAME,
        RData::CNAME(CNAME(name("mx.example.test"))),
    );
    rr(
        &mut zone,
        "_imaps._tcp.example.test",
        RecordType::SRV,
        RData::SRV(SRV::new(0, 1, 993, name("mx.example.test"))),
    );
    let ns = dns_server(zone.clone()).await;
    let cfg = config(dir.path(), &ns.to_string());
    let o = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || wharf(&cfg, &["dns", "example.test", "--check"])
    })
    .await
    .unwrap();
    let out = stdout(&o);
    assert!(!o.status.success(), "{out}");
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{out}"))
            .to_string()
    };
    line("ok\texample.test MX\trequired");
    assert_eq!(
        line("wrong\texample.test TXT\trequired"),
        "wrong\texample.test TXT\trequired\tfound: v=spf1 a ?all"
    );
    line(&format!("ok\t{ed_name} TXT\trequired"));
    let rsa_name = &dkim.iter().find(|(_, v)| v.contains("k=rsa")).unwrap().0;
    line(&format!("missing\t{rsa_name} TXT\trequired"));
    line("ok\t_dmarc.example.test TXT\trequired");
    line("missing\t_mta-sts.example.test TXT\tadvisory");
    line("ok\tautoconfig.example.test CNAME\tadvisory");
    line("missing\tautodiscover.example.test CNAME\tadvisory");
    // Published with the standard port, but this server listens on 2993.
    line("wrong\t_imaps._tcp.example.test SRV\tadvisory\tfound: 0 1 993 mx.example.test");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("2 required record(s) of example.test missing or wrong"),
        "{err}"
    );

    // Every required record right (advisory ones still missing): exit 0.
    zone.insert(
        ("example.test".into(), RecordType::TXT),
        vec![txt("v=spf1 mx -all")],
    );
    let (rsa_name, rsa_value) = dkim.iter().find(|(_, v)| v.contains("k=rsa")).unwrap();
    zone.insert((rsa_name.clone(), RecordType::TXT), vec![txt(rsa_value)]);
    let ns = dns_server(zone).await;
    let cfg = config(dir.path(), &ns.to_string());
    let o = tokio::task::spawn_blocking(move || wharf(&cfg, &["dns", "example.test", "--check"]))
        .await
        .unwrap();
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\trequired\t") || l.ends_with("\trequired"))
            .filter(|l| l.starts_with("ok\t"))
            .count(),
        5,
        "MX, SPF, two DKIM keys, DMARC: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_resolver_is_an_error_not_missing() {
    let dir = tempfile::tempdir().unwrap();
    // A resolver that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(dir.path(), &silent.local_addr().unwrap().to_string());
    ok(wharf(&cfg, &["domain", "add", "example.test"]));
    let started = std::time::Instant::now();
    let o = tokio::task::spawn_blocking(move || wharf(&cfg, &["dns", "example.test", "--check"]))
        .await
        .unwrap();
    let out = stdout(&o);
    assert!(!o.status.success());
    assert!(!out.contains("missing"), "{out}");
    assert!(
        out.lines()
            .find(|l| l.starts_with("error\texample.test MX\trequired\tlookup failed"))
            .is_some(),
        "{out}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "bounded by one timeout"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("could not be looked up"), "{err}");
    drop(silent);
}
