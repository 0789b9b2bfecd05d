//! CATENATE (RFC 4469): APPEND builds a message from TEXT literals and IMAP URLs
//! (RFC 5092) naming messages, or sections of messages, of the same account.
//!
//! Implementation notes:
//! - URLs are taken in the forms RFC 4469's examples use: absolute paths
//!   `/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=x][/;PARTIAL=o[.l]]` and, relative to
//!   the mailbox appended to, `;UID=n[...]`. An `imap://` URL with a server part is
//!   refused with `[BADURL]` (Dovecot 2.3 refuses it too unless the host is its own);
//!   so are unknown parameters, a UIDVALIDITY that does not match, a missing mailbox or
//!   message, and a section that does not parse.
//! - A section is parsed by the FETCH grammar (`BODY[<section>]`) and cut by
//!   [`section::extract`], the code FETCH uses, so a URL part is what FETCH BODY.PEEK
//!   of that section returns.
//! - The assembled size is checked against APPENDLIMIT while it grows (`[TOOBIG]`),
//!   so a list of URLs can never build more than one over-limit message in memory.
//! - Messages are read as stored (no access rights beyond the account: the URL's
//!   mailbox is looked up in the logged-in account only).

use crate::proto::{AppendMessage, CatPart, CommandBody, FetchAtt, parse_command};
use crate::session::section;
use crate::session::{ImapError, Session};

/// What an IMAP URL of CATENATE names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRef {
    /// Mailbox name as written (percent-decoded); `None`: the mailbox appended to.
    pub mailbox: Option<String>,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    /// The section text as in `BODY[...]` (percent-decoded), if any.
    pub section: Option<String>,
    /// RFC 5092 `;PARTIAL=offset[.length]`.
    pub partial: Option<(u32, Option<u32>)>,
}

/// RFC 3986 percent-decoding; `None` for a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses the URL forms described in the module notes; `None` if it is not one of them.
pub fn parse_url(url: &str) -> Option<UrlRef> {
    let (mailbox, rest) = if let Some(path) = url.strip_prefix('/') {
        // `/mailbox[;UIDVALIDITY=n]/;UID=...`
        let slash = path.find("/;")?;
        let (mb, rest) = (&path[..slash], &path[slash + 1..]);
        let (name, uidvalidity) = match mb.find(';') {
            Some(i) => {
                let param = &mb[i + 1..];
                let (k, v) = param.split_once('=')?;
                if !k.eq_ignore_ascii_case("UIDVALIDITY") {
                    return None;
                }
                (&mb[..i], Some(v.parse::<u32>().ok().filter(|&n| n > 0)?))
            }
            None => (mb, None),
        };
        let name = percent_decode(name).filter(|n| !n.is_empty())?;
        (Some((name, uidvalidity)), rest)
    } else if url.starts_with(';') {
        (None, url)
    } else {
        return None;
    };
    let mut r = UrlRef {
        mailbox: mailbox.as_ref().map(|m| m.0.clone()),
        uidvalidity: mailbox.and_then(|m| m.1),
        uid: 0,
        section: None,
        partial: None,
    };
    for (i, seg) in rest.split('/').enumerate() {
        let (k, v) = seg.strip_prefix(';')?.split_once('=')?;
        let k = k.to_ascii_uppercase();
        match (i, k.as_str()) {
            (0, "UID") => r.uid = v.parse::<u32>().ok().filter(|&n| n > 0)?,
            (1, "SECTION") if r.section.is_none() => {
                r.section = Some(percent_decode(v).filter(|s| !s.is_empty())?)
            }
            (1 | 2, "PARTIAL") if r.partial.is_none() => {
                let (o, l) = match v.split_once('.') {
                    Some((o, l)) => (o, Some(l.parse::<u32>().ok().filter(|&n| n > 0)?)),
                    None => (v, None),
                };
                r.partial = Some((o.parse().ok()?, l));
            }
            _ => return None,
        }
    }
    (r.uid != 0).then_some(r)
}

fn bad_url(url: &str, text: &str) -> ImapError {
    // RFC 4469 §6: url-resp-text has no CR, LF or ']'.
    let shown: String = url
        .chars()
        .filter(|&c| c != ']' && c != '\r' && c != '\n' && c != '\0')
        .take(512)
        .collect();
    ImapError::no_code(&format!("BADURL {shown}"), text.to_string())
}

/// The octets one URL names.
async fn fetch_url(s: &Session, url: &str, target: &str) -> Result<Vec<u8>, ImapError> {
    let r = parse_url(url).ok_or_else(|| bad_url(url, "Unsupported IMAP URL"))?;
    let account = super::account(s)?;
    let name = match &r.mailbox {
        Some(m) => s
            .mailbox_name(m)
            .map_err(|_| bad_url(url, "Invalid mailbox name"))?,
        None => target.to_string(),
    };
    let store = &s.ctx.store;
    let mailbox = store
        .mailbox_get(account.id, &name)
        .await?
        .ok_or_else(|| bad_url(url, "No such mailbox"))?;
    if r.uidvalidity.is_some_and(|v| v != mailbox.uidvalidity) {
        return Err(bad_url(url, "UIDVALIDITY does not match"));
    }
    let snapshot = store.mailbox_snapshot(mailbox.id).await?;
    let meta = snapshot
        .messages
        .iter()
        .find(|m| m.uid == r.uid)
        .ok_or_else(|| bad_url(url, "No such message"))?;
    let raw = match store.read_body(meta.blob).await {
        Ok(raw) => raw,
        Err(e) => {
            return Err(crate::session::unreadable(&e, meta.uid)
                .unwrap_or_else(|| bad_url(url, "No such message")));
        }
    };
    let mut data = match &r.section {
        None => raw,
        Some(sec) => {
            let line = format!("x FETCH 1 BODY.PEEK[{sec}]");
            let section = match parse_command(line.as_bytes()).map(|c| c.body) {
                Ok(CommandBody::Fetch { items, .. }) => match items.into_iter().next() {
                    Some(FetchAtt::BodySection {
                        section,
                        partial: None,
                        ..
                    }) => section,
                    _ => return Err(bad_url(url, "Invalid section")),
                },
                _ => return Err(bad_url(url, "Invalid section")),
            };
            let summary = store.summary(meta.blob).await?;
            section::extract(&raw, &summary, &section)
        }
    };
    if let Some((offset, len)) = r.partial {
        let start = (offset as usize).min(data.len());
        let end = len.map_or(data.len(), |l| {
            start.saturating_add(l as usize).min(data.len())
        });
        data = data[start..end].to_vec();
    }
    Ok(data)
}

/// Builds every CATENATE message of an APPEND in place (`message` from its parts).
/// `target` is the mailbox appended to (the base of `;UID=` URLs).
pub async fn assemble(
    s: &Session,
    target: &str,
    messages: &mut [AppendMessage],
) -> Result<(), ImapError> {
    let limit = s.ctx.config.append_limit;
    for m in messages.iter_mut().filter(|m| !m.catenate.is_empty()) {
        let mut out = Vec::new();
        for part in std::mem::take(&mut m.catenate) {
            match part {
                CatPart::Text(t) => out.extend_from_slice(&t),
                CatPart::Url(u) => out.extend_from_slice(&fetch_url(s, &u, target).await?),
            }
            // RFC 4469 §5: a result over the server's limit is NO [TOOBIG].
            if out.len() as u64 > limit {
                return Err(ImapError::no_code("TOOBIG", "Message exceeds APPENDLIMIT"));
            }
        }
        m.message = out;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME"),
            Some(UrlRef {
                mailbox: Some("Drafts".into()),
                uidvalidity: Some(385759045),
                uid: 20,
                section: Some("1.MIME".into()),
                partial: None,
            })
        );
        assert_eq!(
            parse_url("/a%20b/c/;UID=3/;SECTION=HEADER.FIELDS%20(SUBJECT)/;PARTIAL=2.5"),
            Some(UrlRef {
                mailbox: Some("a b/c".into()),
                uidvalidity: None,
                uid: 3,
                section: Some("HEADER.FIELDS (SUBJECT)".into()),
                partial: Some((2, Some(5))),
            })
        );
        assert_eq!(
            parse_url(";uid=7").map(|r| (r.mailbox, r.uid)),
            Some((None, 7))
        );
        for bad in [
            "imap://alice@example.test/INBOX;UIDVALIDITY=1/;UID=1",
            "/INBOX;UIDVALIDITY=1",
            "/INBOX;UIDVALIDITY=0/;UID=1",
            "/INBOX/;UID=0",
            "/INBOX/;UID=1/;SECTION=",
            "/INBOX/;UID=1/;FOO=1",
            "/INBOX;X=1/;UID=1",
            "/%zz/;UID=1",
            "/INBOX/;UID=1/;SECTION=1/;SECTION=2",
            "INBOX/;UID=1",
        ] {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
    }
}
