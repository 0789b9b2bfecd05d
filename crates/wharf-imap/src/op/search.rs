//! SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH results (RFC 4731; always for
//! IMAP4rev2 sessions) and CONDSTORE's MODSEQ key (RFC 7162 §3.1.5).
//!
//! Header keys match case-insensitively against RFC 2047-decoded field values; BODY and
//! TEXT against the decoded text of every text part (transfer encoding and charset
//! undone, nested messages included). Only messages the key needs content for are read.
//! Expunges are not reported during SEARCH.

use crate::proto::{SearchKey, SearchReturn, Tag, date};
use crate::session::selected::uid_set_string;
use crate::session::{Done, ImapError, OpResult, Output, Session, State};
use chrono::NaiveDate;
use mail_parser::{HeaderValue, MessageParser, PartType};
use wharf_store::{Flags, MessageMeta};

/// What a key is checked against: the message's metadata and, when needed, its text.
struct Candidate<'a> {
    seq: u32,
    meta: &'a MessageMeta,
    recent: bool,
    content: Option<Content>,
}

/// Decoded text of a message, lower-cased for case-insensitive matching.
#[derive(Default)]
struct Content {
    /// (lower-case field name, lower-case decoded value)
    headers: Vec<(String, String)>,
    body: String,
    sent: Option<NaiveDate>,
}

fn collect_text(msg: &mail_parser::Message<'_>, out: &mut String, depth: usize) {
    for part in &msg.parts {
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => {
                out.push_str(&t.to_lowercase());
                out.push('\n');
            }
            PartType::Message(m) if depth < 8 => collect_text(m, out, depth + 1),
            _ => {}
        }
    }
}

fn content_of(raw: &[u8], need_body: bool) -> Content {
    let parser = MessageParser::new()
        .with_mime_headers()
        .with_date_headers()
        .default_header_text();
    let parsed = if need_body {
        parser.parse(raw)
    } else {
        parser.parse_headers(raw)
    };
    let mut c = Content::default();
    let Some(msg) = parsed else {
        if need_body {
            c.body = String::from_utf8_lossy(raw).to_lowercase();
        }
        return c;
    };
    if let Some(first) = msg.parts.first() {
        for h in &first.headers {
            let value = match &h.value {
                HeaderValue::Text(t) => t.to_string(),
                _ => String::from_utf8_lossy(
                    raw.get(h.offset_start as usize..h.offset_end as usize)
                        .unwrap_or_default(),
                )
                .replace("\r\n", ""),
            };
            if let HeaderValue::DateTime(d) = &h.value
                && c.sent.is_none()
                && h.name.as_str().eq_ignore_ascii_case("date")
            {
                c.sent = NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32);
            }
            c.headers.push((
                h.name.as_str().to_ascii_lowercase(),
                value.trim().to_lowercase(),
            ));
        }
    }
    if need_body {
        collect_text(&msg, &mut c.body, 0);
    }
    c
}

fn needs_body(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(v) => v.iter().any(needs_body),
        SearchKey::Or(a, b) => needs_body(a) || needs_body(b),
        SearchKey::Not(a) => needs_body(a),
        SearchKey::Body(_) | SearchKey::Text(_) => true,
        _ => false,
    }
}

fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(v) => v.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(a) => uses_modseq(a),
        SearchKey::ModSeq(_) => true,
        _ => false,
    }
}

fn eval(key: &SearchKey, c: &Candidate<'_>, exists: u32, max_uid: u32) -> bool {
    let m = c.meta;
    let internal = || date::date_of(m.internal_date);
    let content = c.content.as_ref();
    match key {
        SearchKey::All => true,
        SearchKey::And(v) => v.iter().all(|k| eval(k, c, exists, max_uid)),
        SearchKey::Or(a, b) => eval(a, c, exists, max_uid) || eval(b, c, exists, max_uid),
        SearchKey::Not(a) => !eval(a, c, exists, max_uid),
        SearchKey::SeqSet(set) => set.contains(c.seq, exists),
        SearchKey::Uid(set) => set.contains(m.uid, max_uid),
        SearchKey::Flag(f, set) => m.flags.contains(*f) == *set,
        SearchKey::Keyword(k, set) => m.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) == *set,
        SearchKey::Recent => c.recent,
        SearchKey::New => c.recent && !m.flags.contains(Flags::SEEN),
        SearchKey::Old => !c.recent,
        SearchKey::Before(d) => internal() < *d,
        SearchKey::On(d) => internal() == *d,
        SearchKey::Since(d) => internal() >= *d,
        SearchKey::SentBefore(d) => content.and_then(|x| x.sent).is_some_and(|s| s < *d),
        SearchKey::SentOn(d) => content.and_then(|x| x.sent).is_some_and(|s| s == *d),
        SearchKey::SentSince(d) => content.and_then(|x| x.sent).is_some_and(|s| s >= *d),
        SearchKey::Larger(n) => m.size > *n,
        SearchKey::Smaller(n) => m.size < *n,
        SearchKey::Header(name, value) => {
            let (name, value) = (name.to_ascii_lowercase(), value.to_lowercase());
            content.is_some_and(|x| {
                x.headers
                    .iter()
                    .any(|(n, v)| *n == name && v.contains(value.as_str()))
            })
        }
        SearchKey::Body(s) => {
            let s = s.to_lowercase();
            content.is_some_and(|x| x.body.contains(s.as_str()))
        }
        SearchKey::Text(s) => {
            let s = s.to_lowercase();
            content.is_some_and(|x| {
                x.body.contains(s.as_str()) || x.headers.iter().any(|(_, v)| v.contains(s.as_str()))
            })
        }
        SearchKey::ModSeq(n) => m.modseq >= *n,
    }
}

/// A message that matched.
pub struct Hit {
    pub seq: u32,
    pub meta: MessageMeta,
}

/// Messages decoded per batch when a key needs their content. The decoding (MIME
/// parsing, charset conversion) runs on the blocking pool, so a SEARCH BODY over a large
/// mailbox does not stall the other connections served by the same async worker.
const BATCH: usize = 64;

/// The messages of the selected mailbox that match `key`, in sequence order. Messages
/// already expunged elsewhere (not yet reported) match only keys that need no content.
pub async fn matching(s: &Session, key: &SearchKey) -> Result<Vec<Hit>, ImapError> {
    let store = s.ctx.store.clone();
    let State::Selected { mailbox: sel, .. } = &s.state else {
        return Err(ImapError::bad("No mailbox selected"));
    };
    let exists = sel.exists();
    let max_uid = sel.max_uid();
    let body = needs_body(key);
    if !key.needs_content() {
        let mut hits = Vec::new();
        for (i, vm) in sel.messages.iter().enumerate() {
            let c = Candidate {
                seq: i as u32 + 1,
                meta: &vm.meta,
                recent: sel.recent.contains(&vm.meta.uid),
                content: None,
            };
            if eval(key, &c, exists, max_uid) {
                hits.push(Hit {
                    seq: c.seq,
                    meta: vm.meta.clone(),
                });
            }
        }
        return Ok(hits);
    }
    let candidates: Vec<(u32, MessageMeta, bool)> = sel
        .messages
        .iter()
        .enumerate()
        .filter(|(_, vm)| !vm.gone)
        .map(|(i, vm)| {
            (
                i as u32 + 1,
                vm.meta.clone(),
                sel.recent.contains(&vm.meta.uid),
            )
        })
        .collect();
    let key = std::sync::Arc::new(key.clone());
    let mut hits = Vec::new();
    for chunk in candidates.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for (seq, meta, recent) in chunk {
            match store.read_body(meta.blob).await {
                Ok(raw) => batch.push((*seq, meta.clone(), *recent, raw)),
                Err(e) => tracing::warn!(uid = meta.uid, "body unavailable for SEARCH: {e}"),
            }
        }
        let key = key.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            for (seq, meta, recent, raw) in batch {
                let c = Candidate {
                    seq,
                    meta: &meta,
                    recent,
                    content: Some(content_of(&raw, body)),
                };
                if eval(&key, &c, exists, max_uid) {
                    found.push(Hit { seq, meta });
                }
            }
            found
        })
        .await
        .map_err(|_| ImapError::no_code("SERVERBUG", "Search failed"))?;
        hits.extend(found);
    }
    Ok(hits)
}

pub async fn handle_search(
    s: &mut Session,
    tag: &Tag,
    uid: bool,
    ret: Option<SearchReturn>,
    key: &SearchKey,
    io: &mut dyn Output,
) -> OpResult {
    if uses_modseq(key) {
        s.enabled.condstore = true;
    }
    let enabled = s.enabled;
    let hits: Vec<(u32, u32, u64)> = matching(s, key)
        .await?
        .into_iter()
        .map(|h| (h.seq, h.meta.uid, h.meta.modseq))
        .collect();
    let ids: Vec<u32> = hits.iter().map(|h| if uid { h.1 } else { h.0 }).collect();
    if let Some(r) = ret.filter(|r| r.save) {
        // RFC 5182 §2.4: with MIN and/or MAX (and neither ALL nor COUNT) only those
        // are saved.
        let uids: Vec<u32> = hits.iter().map(|h| h.1).collect();
        let saved: Vec<u32> = if (r.min || r.max) && !r.all && !r.count {
            let mut v = Vec::new();
            if r.min {
                v.extend(uids.iter().min());
            }
            if r.max {
                v.extend(uids.iter().max());
            }
            v
        } else {
            uids
        };
        if let State::Selected { mailbox, .. } = &mut s.state {
            mailbox.saved = saved;
        }
        if !(r.min || r.max || r.all || r.count) {
            // SAVE alone: no ESEARCH response.
            return Ok(Done::text("SEARCH completed, result saved"));
        }
    }
    let top_modseq = hits.iter().map(|h| h.2).max();
    let modseq_suffix = |out: &mut String| {
        if let (true, Some(m)) = (uses_modseq(key), top_modseq) {
            out.push_str(&format!(" MODSEQ {m}"));
        }
    };
    if ret.is_some() || enabled.rev2 {
        // RFC 4731 §3.1 / RFC 9051 §7.3.4: ESEARCH, ALL by default.
        let r = ret.unwrap_or(SearchReturn {
            all: true,
            ..Default::default()
        });
        let mut line = format!("ESEARCH (TAG \"{}\")", tag.as_str());
        if uid {
            line.push_str(" UID");
        }
        if r.min
            && let Some(v) = ids.iter().min()
        {
            line.push_str(&format!(" MIN {v}"));
        }
        if r.max
            && let Some(v) = ids.iter().max()
        {
            line.push_str(&format!(" MAX {v}"));
        }
        if r.all && !ids.is_empty() {
            line.push_str(&format!(" ALL {}", uid_set_string(&ids)));
        }
        if r.count {
            line.push_str(&format!(" COUNT {}", ids.len()));
        }
        modseq_suffix(&mut line);
        s.untagged(&line);
    } else {
        let mut line = String::from("SEARCH");
        for id in &ids {
            line.push_str(&format!(" {id}"));
        }
        if let (true, Some(m)) = (uses_modseq(key), top_modseq) {
            line.push_str(&format!(" (MODSEQ {m})"));
        }
        s.untagged(&line);
    }
    s.flush_if_large(io)
        .await
        .map_err(|_| ImapError::bye("Connection lost"))?;
    Ok(Done::text("SEARCH completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_decoded() {
        let raw = b"Subject: =?utf-8?q?Caf=C3=A9_menu?=\r\nFrom: \"Bob\" <bob@example.org>\r\n\
Date: Tue, 2 Jan 2024 10:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nCr=C3=A8me br=C3=BBl=C3=A9e\r\n";
        let c = content_of(raw, true);
        assert!(
            c.headers
                .iter()
                .any(|(n, v)| n == "subject" && v == "café menu")
        );
        assert!(
            c.headers
                .iter()
                .any(|(n, v)| n == "from" && v.contains("bob@example.org"))
        );
        assert!(c.body.contains("crème brûlée"));
        assert_eq!(c.sent, NaiveDate::from_ymd_opt(2024, 1, 2));
    }
}
