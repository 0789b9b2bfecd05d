//! End-to-end: a real DNS server (hickory-server on 127.0.0.1) publishes SPF, DKIM and DMARC
//! records and a DNSBL zone; `Verifier` resolves them over the network like it would on an
//! MX; `Signer` signs messages whose keys are published from its own `dns_records`.

mod common;

use common::{Rec, TestDns};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use wharf_mailauth::{AuthResult, DmarcPolicy, Signer, Verifier, strip_forged_results};

const HOST: &str = "mx.wharf.test";
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6_LISTED: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x25));

struct World {
    dns: TestDns,
    signer: Signer,
    _dir: tempfile::TempDir,
}

fn txt(name: &str, value: &str) -> (String, Rec) {
    (name.to_string(), Rec::Txt(value.to_string()))
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::new(dir.path(), "wharf");
    let mut records = vec![
        // HELO identity.
        txt("helo.example.com", "v=spf1 ip4:127.0.0.1 -all"),
        // SPF pass, DMARC reject.
        txt("pass.example.com", "v=spf1 ip4:127.0.0.0/24 -all"),
        txt("_dmarc.pass.example.com", "v=DMARC1; p=reject"),
        // SPF fail, DMARC reject.
        txt("fail.example.com", "v=spf1 ip4:192.0.2.1 -all"),
        txt("_dmarc.fail.example.com", "v=DMARC1; p=reject"),
        // SPF softfail, DMARC none.
        txt("soft.example.com", "v=spf1 ip4:192.0.2.1 ~all"),
        txt("_dmarc.soft.example.com", "v=DMARC1; p=none"),
        // SPF pass, no DMARC record.
        txt("nodmarc.example.com", "v=spf1 ip4:127.0.0.1 -all"),
        // Signed mail; SPF does not cover us, so only DKIM can make DMARC pass.
        txt("signed.example.com", "v=spf1 ip4:192.0.2.1 -all"),
        txt("_dmarc.signed.example.com", "v=DMARC1; p=reject"),
        // Quarantine.
        txt("q.example.com", "v=spf1 -all"),
        txt("_dmarc.q.example.com", "v=DMARC1; p=quarantine"),
        // SPF mechanisms that need more look-ups: include, a; and broken records.
        txt("inc.example.com", "v=spf1 include:pass.example.com -all"),
        txt("amech.example.com", "v=spf1 a -all"),
        ("amech.example.com".into(), Rec::A(Ipv4Addr::LOCALHOST)),
        txt("broken.example.com", "v=spf1 ip4:not-an-address -all"),
        txt("loop.example.com", "v=spf1 include:loop.example.com -all"),
        // DMARC alignment: a subdomain in MAIL FROM, relaxed (default) and strict.
        txt("bounce.pass.example.com", "v=spf1 ip4:127.0.0.1 -all"),
        txt("strict.example.com", "v=spf1 -all"),
        txt("_dmarc.strict.example.com", "v=DMARC1; p=reject; aspf=s"),
        txt("bounce.strict.example.com", "v=spf1 ip4:127.0.0.1 -all"),
        // IPv6 client.
        txt("v6.example.com", "v=spf1 ip6:2001:db8::/32 -all"),
        (
            wharf_mailauth::dnsbl::query_name(V6_LISTED, "bl.example.net").unwrap(),
            Rec::A(Ipv4Addr::new(127, 0, 0, 2)),
        ),
        // DNSBL zones: bl lists 127.0.0.2, broken answers outside 127/8 (wildcard-like).
        (
            "2.0.0.127.bl.example.net".into(),
            Rec::A(Ipv4Addr::new(127, 0, 0, 2)),
        ),
        (
            "2.0.0.127.bl2.example.net".into(),
            Rec::A(Ipv4Addr::new(127, 0, 0, 4)),
        ),
        (
            "2.0.0.127.broken.example.net".into(),
            Rec::A(Ipv4Addr::new(192, 0, 2, 1)),
        ),
        (
            "2.0.0.127.refused.example.net".into(),
            Rec::A(Ipv4Addr::new(127, 255, 255, 254)),
        ),
    ];
    for record in signer.dns_records("signed.example.com").unwrap() {
        records.push((record.name.clone(), Rec::Txt(record.value.clone())));
    }
    World {
        dns: TestDns::start(records).await,
        signer,
        _dir: dir,
    }
}

impl World {
    fn verifier(&self) -> Verifier {
        Verifier::new(vec![self.dns.addr]).unwrap()
    }
}

fn message(from_domain: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@{from_domain}>\r\n\
         To: Bob <bob@wharf.test>\r\n\
         Subject: quarterly numbers\r\n\
         Date: Mon, 23 Nov 2026 18:00:00 +0000\r\n\
         Message-ID: <1@{from_domain}>\r\n\
         \r\n\
         {body}"
    )
    .into_bytes()
}

#[tokio::test]
async fn spf_pass_aligned_gives_dmarc_pass() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@pass.example.com",
            &message("pass.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_helo, AuthResult::Pass);
    assert_eq!(v.spf_mail_from, AuthResult::Pass);
    assert!(v.dkim.is_empty());
    assert_eq!(v.dmarc.result, AuthResult::Pass);
    assert_eq!(v.dmarc.policy, DmarcPolicy::Reject);
    assert!(!v.reject);
    assert!(
        v.header
            .starts_with("Authentication-Results: mx.wharf.test;\r\n\t")
    );
    assert!(v.header.ends_with("\r\n"));
    assert!(v.header.contains("spf=pass"), "{}", v.header);
    assert!(
        v.header.contains("smtp.mailfrom=alice@pass.example.com"),
        "{}",
        v.header
    );
    assert!(
        v.header.contains("smtp.helo=helo.example.com"),
        "{}",
        v.header
    );
    assert!(v.header.contains("dkim=none"), "{}", v.header);
    assert!(
        v.header
            .contains("dmarc=pass header.from=pass.example.com policy.dmarc=reject"),
        "{}",
        v.header
    );
}

#[tokio::test]
async fn spf_fail_under_p_reject_is_a_dmarc_reject() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@fail.example.com",
            &message("fail.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Fail);
    assert_eq!(v.dmarc.result, AuthResult::Fail);
    assert_eq!(v.dmarc.domain, "fail.example.com");
    assert!(v.reject);
    assert!(!v.quarantine());
    assert!(v.header.contains("spf=fail"), "{}", v.header);
    assert!(
        v.header.contains("dmarc=fail header.from=fail.example.com"),
        "{}",
        v.header
    );
    assert_eq!(
        v.reject_reply(),
        "550 5.7.1 Message rejected per DMARC policy of fail.example.com"
    );
    assert_eq!(
        v.reject_text(),
        "5.7.1 Message rejected per DMARC policy of fail.example.com"
    );
}

#[tokio::test]
async fn spf_softfail_under_p_none_is_not_rejected() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@soft.example.com",
            &message("soft.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::SoftFail);
    assert_eq!(v.dmarc.result, AuthResult::Fail);
    assert_eq!(v.dmarc.policy, DmarcPolicy::None);
    assert!(!v.reject);
    assert!(v.header.contains("spf=softfail"), "{}", v.header);
    assert!(v.header.contains("policy.dmarc=none"), "{}", v.header);
}

#[tokio::test]
async fn p_quarantine_failure_is_quarantine_not_reject() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@q.example.com",
            &message("q.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.dmarc.result, AuthResult::Fail);
    assert!(v.quarantine());
    assert!(!v.reject);
}

#[tokio::test]
async fn no_dmarc_record_is_dmarc_none() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@nodmarc.example.com",
            &message("nodmarc.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Pass);
    assert_eq!(v.dmarc.result, AuthResult::None);
    assert!(!v.reject);
    assert!(v.header.contains("dmarc=none"), "{}", v.header);
}

#[tokio::test]
async fn dkim_round_trip_passes_and_rescues_dmarc() {
    let w = world().await;
    let msg = message("signed.example.com", "Numbers attached.\r\n");
    let mut signed = w.signer.sign("signed.example.com", &msg).unwrap();
    signed.extend_from_slice(&msg);
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@signed.example.com",
            &signed,
            HOST,
        )
        .await;
    // SPF does not authorize us, but both signatures verify and align.
    assert_eq!(v.spf_mail_from, AuthResult::Fail);
    assert_eq!(v.dkim.len(), 2, "{:?}", v.dkim);
    let mut selectors: Vec<&str> = v.dkim.iter().map(|d| d.selector.as_str()).collect();
    selectors.sort();
    assert_eq!(selectors, ["wharf", "wharf-ed25519"]);
    for d in &v.dkim {
        assert_eq!(d.result, AuthResult::Pass, "{d:?}");
        assert_eq!(d.domain, "signed.example.com");
    }
    assert_eq!(v.dmarc.result, AuthResult::Pass);
    assert!(!v.reject);
    assert!(
        v.header
            .contains("dkim=pass header.d=signed.example.com header.s=wharf "),
        "{}",
        v.header
    );
    assert!(
        v.header
            .contains("dkim=pass header.d=signed.example.com header.s=wharf-ed25519"),
        "{}",
        v.header
    );
}

#[tokio::test]
async fn tampered_body_fails_dkim_and_dmarc_rejects() {
    let w = world().await;
    let msg = message("signed.example.com", "Pay invoice 1234.\r\n");
    let mut signed = w.signer.sign("signed.example.com", &msg).unwrap();
    signed.extend_from_slice(&message("signed.example.com", "Pay invoice 9999.\r\n"));
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@signed.example.com",
            &signed,
            HOST,
        )
        .await;
    // A body hash mismatch is reported `neutral (body hash did not verify)`, as OpenDKIM
    // and mail-auth do (RFC 6376 §6.1.3 leaves the wording to the verifier); what matters
    // is that no signature passes.
    assert_eq!(v.dkim.len(), 2);
    assert!(
        v.dkim.iter().all(|d| d.result == AuthResult::Neutral),
        "{:?}",
        v.dkim
    );
    assert!(v.header.contains("dkim=neutral"), "{}", v.header);
    assert_eq!(v.dmarc.result, AuthResult::Fail);
    assert!(v.reject);
}

#[tokio::test]
async fn tampered_signed_header_fails_dkim() {
    let w = world().await;
    let msg = message("signed.example.com", "Hi\r\n");
    let mut signed = w.signer.sign("signed.example.com", &msg).unwrap();
    let forged = String::from_utf8(msg)
        .unwrap()
        .replace("quarterly numbers", "urgent wire transfer");
    signed.extend_from_slice(forged.as_bytes());
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@signed.example.com",
            &signed,
            HOST,
        )
        .await;
    assert!(
        v.dkim.iter().all(|d| d.result == AuthResult::Fail),
        "{:?}",
        v.dkim
    );
    assert!(v.reject);
}

#[tokio::test]
async fn added_from_header_breaks_the_oversigned_signature() {
    // RFC 6376 §8.15: From is oversigned, so a second From: added on top fails.
    let w = world().await;
    let msg = message("signed.example.com", "Hi\r\n");
    let sig = w.signer.sign("signed.example.com", &msg).unwrap();
    let mut forged = sig.clone();
    forged.extend_from_slice(b"From: Mallory <ceo@signed.example.com>\r\n");
    forged.extend_from_slice(&msg);
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@signed.example.com",
            &forged,
            HOST,
        )
        .await;
    assert!(
        v.dkim.iter().all(|d| d.result != AuthResult::Pass),
        "{:?}",
        v.dkim
    );
}

#[tokio::test]
async fn null_sender_takes_the_helo_identity() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "",
            &message("nodmarc.example.com", "bounce\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_helo, AuthResult::Pass);
    assert_eq!(v.spf_mail_from, AuthResult::Pass);
    assert!(v.header.contains("smtp.mailfrom=<>"), "{}", v.header);

    // The same, written as in the MAIL FROM command.
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "<>",
            &message("nodmarc.example.com", "bounce\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Pass);
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "<alice@fail.example.com>",
            &message("fail.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Fail);
    assert!(
        v.header.contains("smtp.mailfrom=alice@fail.example.com"),
        "{}",
        v.header
    );
}

#[tokio::test]
async fn address_literal_helo_is_not_checked() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "[127.0.0.1]",
            "alice@pass.example.com",
            &message("pass.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_helo, AuthResult::None);
    assert_eq!(v.spf_mail_from, AuthResult::Pass);
    assert!(!v.header.contains("smtp.helo"), "{}", v.header);
}

#[tokio::test]
async fn domain_without_spf_record_is_spf_none() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@unknown.example.org",
            &message("unknown.example.org", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::None);
    assert_eq!(v.dmarc.result, AuthResult::None);
    assert!(!v.reject);
}

#[tokio::test]
async fn unsafe_receiving_host_is_not_written_into_the_header() {
    let w = world().await;
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@pass.example.com",
            &message("pass.example.com", "Hi\r\n"),
            "mx\r\nX-Injected: yes",
        )
        .await;
    assert!(!v.header.contains("X-Injected"), "{}", v.header);
    assert_eq!(
        v.header.matches("\r\n").count(),
        v.header.matches("\r\n\t").count() + 1
    );

    // Nor can the envelope: control characters are dropped from every value.
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com\r\nX-Injected: 1",
            "a\"\r\nX-Injected: 1@pass.example.com",
            &message("pass.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert!(!v.header.contains("\r\nX-Injected"), "{}", v.header);
    assert_eq!(
        v.header.matches("\r\n").count(),
        v.header.matches("\r\n\t").count() + 1
    );
}

#[tokio::test]
async fn unanswered_dns_is_temperror_and_never_rejects() {
    // A UDP socket that never answers, no TCP listener.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let verifier = Verifier::new(vec![silent.local_addr().unwrap()])
        .unwrap()
        .with_timeout(Duration::from_secs(1));
    let v = verifier
        .check(
            CLIENT,
            "helo.example.com",
            "alice@fail.example.com",
            &message("fail.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.dmarc.result, AuthResult::TempError);
    assert!(!v.reject);
    assert!(v.header.contains("dmarc=temperror"), "{}", v.header);
    let listed = verifier
        .dnsbl(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            &["bl.example.net".into()],
        )
        .await;
    assert_eq!(listed, None);
}

#[tokio::test]
async fn dnsbl_listed_unlisted_and_broken_zones() {
    let w = world().await;
    let verifier = w.verifier();
    let listed_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let zones = |z: &[&str]| z.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    assert_eq!(
        verifier
            .dnsbl(listed_ip, &zones(&["clean.example.net", "bl.example.net"]))
            .await,
        Some("bl.example.net".to_string())
    );
    // Config order decides when several zones list the client.
    assert_eq!(
        verifier
            .dnsbl(listed_ip, &zones(&["bl2.example.net", "bl.example.net"]))
            .await,
        Some("bl2.example.net".to_string())
    );
    // Not listed: NXDOMAIN.
    assert_eq!(
        verifier
            .dnsbl(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
                &zones(&["bl.example.net"])
            )
            .await,
        None
    );
    // Answers outside 127/8 and refusal codes are not listings.
    assert_eq!(
        verifier
            .dnsbl(
                listed_ip,
                &zones(&["broken.example.net", "refused.example.net"])
            )
            .await,
        None
    );
    assert_eq!(verifier.dnsbl(listed_ip, &[]).await, None);
}

#[tokio::test]
async fn forged_results_are_stripped_before_ours_is_added() {
    let w = world().await;
    let mut incoming =
        b"Authentication-Results: mx.wharf.test; dmarc=pass header.from=fail.example.com\r\n"
            .to_vec();
    incoming.extend_from_slice(&message("fail.example.com", "Hi\r\n"));
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@fail.example.com",
            &incoming,
            HOST,
        )
        .await;
    assert!(v.reject);
    let mut stored = v.header.clone().into_bytes();
    stored.extend_from_slice(&strip_forged_results(&incoming, HOST));
    let text = String::from_utf8(stored).unwrap();
    assert_eq!(text.matches("Authentication-Results:").count(), 1, "{text}");
    assert!(!text.contains("dmarc=pass"), "{text}");
}

#[tokio::test]
async fn signature_whose_key_is_not_published_does_not_pass() {
    // The domain signs, but never published its key records: RFC 6376 §6.1.2, no key ->
    // PERMFAIL; DMARC then has nothing aligned and the domain's p=reject applies.
    let w = world().await;
    let msg = message("fail.example.com", "Hi\r\n");
    let mut signed = w.signer.sign("fail.example.com", &msg).unwrap();
    signed.extend_from_slice(&msg);
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "alice@fail.example.com",
            &signed,
            HOST,
        )
        .await;
    assert_eq!(v.dkim.len(), 2);
    assert!(
        v.dkim.iter().all(|d| d.result == AuthResult::PermError),
        "{:?}",
        v.dkim
    );
    assert!(v.header.contains("dkim=permerror"), "{}", v.header);
    assert!(v.reject);
}

#[tokio::test]
async fn spf_mechanisms_resolved_through_dns() {
    let w = world().await;
    let verifier = w.verifier();
    let spf = |domain: &'static str| {
        let verifier = verifier.clone();
        async move {
            verifier
                .check(
                    CLIENT,
                    "helo.example.com",
                    &format!("alice@{domain}"),
                    &message(domain, "Hi\r\n"),
                    HOST,
                )
                .await
                .spf_mail_from
        }
    };
    assert_eq!(spf("inc.example.com").await, AuthResult::Pass);
    assert_eq!(spf("amech.example.com").await, AuthResult::Pass);
    assert_eq!(spf("broken.example.com").await, AuthResult::PermError);
    // RFC 7208 §4.6.4: a record that includes itself runs into the look-up limit.
    assert_eq!(spf("loop.example.com").await, AuthResult::PermError);
}

#[tokio::test]
async fn dmarc_spf_alignment_relaxed_and_strict() {
    let w = world().await;
    // Relaxed (default): MAIL FROM bounce.pass.example.com aligns with From pass.example.com.
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "bounces@bounce.pass.example.com",
            &message("pass.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Pass);
    assert_eq!(v.dmarc.result, AuthResult::Pass, "{}", v.header);
    // Strict (aspf=s): the same shape does not align, and p=reject applies.
    let v = w
        .verifier()
        .check(
            CLIENT,
            "helo.example.com",
            "bounces@bounce.strict.example.com",
            &message("strict.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Pass);
    assert_eq!(v.dmarc.result, AuthResult::Fail, "{}", v.header);
    assert!(v.reject);
}

#[tokio::test]
async fn ipv6_client_spf_and_dnsbl() {
    let w = world().await;
    let verifier = w.verifier();
    let v = verifier
        .check(
            V6_LISTED,
            "[IPv6:2001:db8::25]",
            "alice@v6.example.com",
            &message("v6.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Pass, "{}", v.header);
    let v = verifier
        .check(
            CLIENT,
            "helo.example.com",
            "alice@v6.example.com",
            &message("v6.example.com", "Hi\r\n"),
            HOST,
        )
        .await;
    assert_eq!(v.spf_mail_from, AuthResult::Fail);

    assert_eq!(
        verifier.dnsbl(V6_LISTED, &["bl.example.net".into()]).await,
        Some("bl.example.net".to_string())
    );
    let other: IpAddr = "2001:db8::26".parse().unwrap();
    assert_eq!(
        verifier.dnsbl(other, &["bl.example.net".into()]).await,
        None
    );
}
