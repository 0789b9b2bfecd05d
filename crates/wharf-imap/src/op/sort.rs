//! SORT and UID SORT (RFC 5256 §3), with DISPLAYFROM/DISPLAYTO (RFC 5957), over the
//! stored envelopes (no message is re-parsed to sort it). Also the base-subject and
//! sent-date rules THREAD shares.

use crate::proto::{SearchKey, SearchReturn, SortKey, Tag};
use crate::session::{Done, ImapError, OpResult, Session};
use mail_parser::{HeaderValue, MessageParser};
use std::cmp::Ordering;
use wharf_store::mime::{Envelope, EnvelopeAddress};

/// Decodes RFC 2047 encoded-words in a header value (via mail-parser's unstructured
/// parser).
pub fn decode_words(value: &str) -> String {
    if !value.contains("=?") {
        return value.to_string();
    }
    let raw = format!("Subject: {value}\r\n\r\n");
    MessageParser::new()
        .parse_headers(raw.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| value.to_string())
}

/// The comparison form of a string under i;ascii-casemap (RFC 4790 §9.2, the collation
/// RFC 5256 §2.1 sorts by): a-z mapped to A-Z. Non-ASCII letters are upper-cased too,
/// approximating i;unicode-casemap (RFC 5051, titlecase) as Dovecot does; what matters
/// for the order is that `[`, `\`, `]`, `^`, `_` and `` ` `` sort after the letters.
pub fn casemap(s: &str) -> String {
    s.to_uppercase()
}

/// RFC 5256 §2.1 base subject: decoded, whitespace collapsed, "Re:", "Fwd:", "[blob]"
/// leaders and "(fwd)" trailers removed, "[Fwd: ...]" unwrapped; in [`casemap`] form.
pub fn base_subject(subject: &str) -> String {
    let mut s = decode_words(subject)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    loop {
        let before = s.clone();
        // (2) subj-trailer: "(fwd)" / WSP at the end.
        loop {
            let t = s.trim_end().to_string();
            let lower = t.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s = t[..t.len() - 5].to_string();
            } else {
                s = t;
                break;
            }
        }
        // (3) subj-leader and (4) subj-blob, repeatedly.
        loop {
            let t = s.trim_start();
            if let Some(rest) = strip_refwd(t) {
                s = rest.to_string();
                continue;
            }
            if let Some(rest) = strip_blob(t)
                && !rest.trim().is_empty()
            {
                s = rest.to_string();
                continue;
            }
            s = t.to_string();
            break;
        }
        // (5) subj-fwd: "[fwd:" ... "]".
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            continue;
        }
        if s == before {
            break;
        }
    }
    casemap(s.trim())
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`
fn strip_refwd(t: &str) -> Option<&str> {
    let lower = t.to_ascii_lowercase();
    let n = if lower.starts_with("fwd") {
        3
    } else if lower.starts_with("re") || lower.starts_with("fw") {
        2
    } else {
        return None;
    };
    let mut rest = t[n..].trim_start();
    if let Some(r) = strip_blob(rest) {
        rest = r;
    }
    rest.strip_prefix(':')
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`
fn strip_blob(t: &str) -> Option<&str> {
    let rest = t.strip_prefix('[')?;
    let end = rest.find(']')?;
    if rest[..end].contains('[') {
        return None;
    }
    Some(rest[end + 1..].trim_start())
}

/// The sent date (Date header) as Unix seconds, if it parses.
pub fn sent_date(env: &Envelope) -> Option<i64> {
    let d = env.date.as_deref()?;
    let raw = format!("Date: {d}\r\n\r\n");
    let m = MessageParser::new().parse_headers(raw.as_bytes())?;
    match m.header("Date")? {
        HeaderValue::DateTime(dt) => Some(dt.to_timestamp()),
        _ => None,
    }
}

/// RFC 5256 §3 FROM / TO / CC: the mailbox of the first address. The first entry of a
/// group is its start marker, whose mailbox is the group's name: a group sorts by its
/// name, as Dovecot does.
fn first_mailbox(list: &[EnvelopeAddress]) -> String {
    let m = list
        .first()
        .and_then(|a| a.mailbox.clone())
        .unwrap_or_default();
    casemap(&m)
}

/// RFC 5957: the display name, else the address; a group (first entry a group start
/// marker) by its display name, as Dovecot does. An address without a domain shows
/// its mailbox.
fn display(list: &[EnvelopeAddress]) -> String {
    let Some(a) = list.first() else {
        return String::new();
    };
    if a.host.is_none() || a.host.as_deref() == Some(wharf_store::mime::MISSING_DOMAIN) {
        return casemap(&decode_words(a.mailbox.as_deref().unwrap_or("")));
    }
    match a
        .name
        .as_deref()
        .map(decode_words)
        .filter(|n| !n.is_empty())
    {
        Some(n) => casemap(&n),
        None => casemap(&format!(
            "{}@{}",
            a.mailbox.as_deref().unwrap_or(""),
            a.host.as_deref().unwrap_or("")
        )),
    }
}

/// What one message sorts by.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Value {
    Num(i64),
    Text(String),
}

pub async fn handle_sort(
    s: &mut Session,
    tag: &Tag,
    uid: bool,
    ret: Option<SearchReturn>,
    criteria: &[(SortKey, bool)],
    key: &SearchKey,
) -> OpResult {
    let hits = super::search::matching(s, key).await?;
    let store = s.ctx.store.clone();
    let mut rows: Vec<(Vec<Value>, u32, u32)> = Vec::with_capacity(hits.len());
    for h in hits {
        let summary = store.summary(h.meta.blob).await.map_err(ImapError::from)?;
        let env = &summary.envelope;
        let values = criteria
            .iter()
            .map(|(k, _)| match k {
                SortKey::Arrival => Value::Num(h.meta.internal_date),
                SortKey::Size => Value::Num(h.meta.size as i64),
                // RFC 5256 §3: a missing or unparsable Date sorts by INTERNALDATE.
                SortKey::Date => Value::Num(sent_date(env).unwrap_or(h.meta.internal_date)),
                SortKey::From => Value::Text(first_mailbox(&env.from)),
                SortKey::To => Value::Text(first_mailbox(&env.to)),
                SortKey::Cc => Value::Text(first_mailbox(&env.cc)),
                SortKey::Subject => Value::Text(base_subject(env.subject.as_deref().unwrap_or(""))),
                SortKey::DisplayFrom => Value::Text(display(&env.from)),
                SortKey::DisplayTo => Value::Text(display(&env.to)),
            })
            .collect();
        rows.push((values, h.seq, h.meta.uid));
    }
    rows.sort_by(|a, b| {
        for (i, (_, reverse)) in criteria.iter().enumerate() {
            let o = a.0[i].partial_cmp(&b.0[i]).unwrap_or(Ordering::Equal);
            let o = if *reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        // Ties keep sequence order (RFC 5256 §3).
        a.1.cmp(&b.1)
    });
    let ids: Vec<u32> = rows.iter().map(|r| if uid { r.2 } else { r.1 }).collect();
    if let Some(r) = ret {
        // ESORT (RFC 5267 §3): ESEARCH in the sort order; SAVE as SEARCHRES (RFC 5182).
        if r.save {
            let uids: Vec<u32> = rows.iter().map(|r| r.2).collect();
            super::search::save_result(s, &r, &uids);
        }
        if !r.is_empty() {
            s.untagged(&super::search::esearch_line(tag, uid, &r, &ids));
        }
        return Ok(Done::text("SORT completed"));
    }
    let mut line = String::from("SORT");
    for id in &ids {
        line.push_str(&format!(" {id}"));
    }
    s.untagged(&line);
    Ok(Done::text("SORT completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        assert_eq!(base_subject("Re: hello"), "HELLO");
        assert_eq!(base_subject("RE: Re[2]: FWD: hello (fwd)"), "HELLO");
        assert_eq!(
            base_subject("[list] Re: [other] hello  world"),
            "HELLO WORLD"
        );
        assert_eq!(base_subject("[Fwd: Re: hello]"), "HELLO");
        assert_eq!(base_subject("=?utf-8?q?R=C3=A9union?="), "RÉUNION");
        assert_eq!(base_subject("[only a blob]"), "[ONLY A BLOB]");
        assert_eq!(base_subject("Reply needed"), "REPLY NEEDED");
    }

    /// RFC 5256 §2.1 step by step, including the cases where nothing would remain.
    #[test]
    fn base_subject_algorithm() {
        let cases = [
            // (4): a subj-blob goes only if something remains.
            ("[xyz]", "[XYZ]"),
            ("_", "_"),
            ("[xyz] _", "_"),
            ("Re: [xyz]", "[XYZ]"),
            ("[a][b]", "[B]"),
            ("[a] [b] Re: c", "C"),
            // (3): subj-leader = (*subj-blob subj-refwd) / WSP, repeatedly.
            ("Re: Fwd: Fw: re[2]: fwd [x] : c", "C"),
            ("Re:", ""),
            // (2): subj-trailer "(fwd)" and WSP, repeatedly, before the leaders.
            ("c (fwd) (FWD)", "C"),
            ("Re: c(fwd)", "C"),
            // (6): subj-fwd, then again from (2).
            ("[Fwd: Re: c (fwd)]", "C"),
            ("Re: [fwd: [fwd: c]]", "C"),
            ("[fwd: c", "[FWD: C"),
            // Not leaders: no colon, or a longer word.
            ("Reply needed", "REPLY NEEDED"),
            ("Fwdx: c", "FWDX: C"),
            ("Re c", "RE C"),
            // (1): whitespace collapsed, encoded-words decoded.
            ("  a \t  b  ", "A B"),
        ];
        for (raw, want) in cases {
            assert_eq!(base_subject(raw), want, "{raw:?}");
        }
    }

    /// RFC 5256 §2.1 compares base subjects with i;ascii-casemap, which maps a-z to
    /// A-Z: `_` and `[` (0x5B-0x5F) sort after the letters, not before them.
    #[test]
    fn subjects_compare_in_upper_case() {
        let mut v = vec!["_", "[xyz]", "apple", "Zebra"];
        v.sort_by_key(|s| base_subject(s));
        assert_eq!(v, vec!["apple", "Zebra", "[xyz]", "_"]);
    }

    #[test]
    fn sent_dates() {
        let env = Envelope {
            date: Some("Mon, 7 Feb 1994 21:52:25 -0800".into()),
            ..Envelope::default()
        };
        assert_eq!(sent_date(&env), Some(760686745));
        assert_eq!(sent_date(&Envelope::default()), None);
    }
}
