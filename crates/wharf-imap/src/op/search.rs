//! SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH results (RFC 4731; always for
//! IMAP4rev2 sessions) and CONDSTORE's MODSEQ key (RFC 7162 §3.1.5).
//!
//! Header keys match case-insensitively against RFC 2047-decoded field values; BODY and
//! TEXT against the decoded text of every text part (transfer encoding and charset
//! undone, nested messages included): [`wharf_store::mime::SearchText`] is that text.
//! Expunges are not reported during SEARCH.
//!
//! How a key is evaluated:
//! - Every BODY / TEXT string in the key is first asked of the store's body index
//!   ([`wharf_store::Store::search_text`]), which answers with the matching UIDs and the
//!   UIDs it does not cover, or not at all (a TEXT string holding a line feed, a backend
//!   without an index).
//! - A message is then read and decoded only if the key needs its content and the index
//!   did not answer for it: HEADER and SENT* keys, a BODY / TEXT string the index could
//!   not take, or a message the index does not cover yet (not indexed so far). Everything else (flags, dates,
//!   sizes, indexed BODY / TEXT) is decided from the metadata and the index's answers,
//!   so OR / NOT / AND combine them as usual.
//! - FROM / TO / CC / BCC match the addresses of the stored envelope (the parse FETCH
//!   ENVELOPE shows), rendered `Display Name <local@domain>` with the name decoded, not
//!   the raw header: one address parser, so comments, quoting and folding inside an
//!   address (`<user (c)@ (c) example.org>`) never make SEARCH and ENVELOPE disagree.
//!   Those keys read the stored summary only, not the message.

use crate::proto::{AddressField, SearchKey, SearchReturn, Tag, date};
use crate::session::selected::ordered_set_string;
use crate::session::{Done, ImapError, OpResult, Output, Session, State};
use std::collections::HashSet;
use wharf_store::mime::{Envelope, SearchText, fold};
use wharf_store::{Flags, MessageMeta, TextScope, Uid};

/// What a key is checked against: the message's metadata and, when needed, its text.
struct Candidate<'a> {
    seq: u32,
    meta: &'a MessageMeta,
    recent: bool,
    content: Option<SearchText>,
    /// The stored envelope, for FROM / TO / CC / BCC.
    envelope: Option<Envelope>,
}

/// The index's answer for one BODY / TEXT string.
struct Indexed {
    scope: TextScope,
    needle: String,
    matched: HashSet<Uid>,
    unindexed: HashSet<Uid>,
}

/// Answers of the body index, looked up by (scope, string).
#[derive(Default)]
struct IndexAnswers(Vec<Indexed>);

impl IndexAnswers {
    /// `Some(contains)` when the index decided this string for this message.
    fn get(&self, scope: TextScope, needle: &str, uid: Uid) -> Option<bool> {
        let a = self
            .0
            .iter()
            .find(|a| a.scope == scope && a.needle == needle)?;
        if a.unindexed.contains(&uid) {
            return None;
        }
        Some(a.matched.contains(&uid))
    }
}

/// The BODY / TEXT strings of a key, each once.
fn text_keys(key: &SearchKey, out: &mut Vec<(TextScope, String)>) {
    let mut push = |scope, s: &String| {
        if !out.iter().any(|(sc, n)| *sc == scope && n == s) {
            out.push((scope, s.clone()));
        }
    };
    match key {
        SearchKey::And(v) => v.iter().for_each(|k| text_keys(k, out)),
        SearchKey::Or(a, b) => {
            text_keys(a, out);
            text_keys(b, out);
        }
        SearchKey::Not(a) => text_keys(a, out),
        SearchKey::Body(s) => push(TextScope::Body, s),
        SearchKey::Text(s) => push(TextScope::Text, s),
        _ => {}
    }
}

/// Whether the key has content keys the index never answers (HEADER, SENT*, addresses).
fn needs_headers(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(v) => v.iter().any(needs_headers),
        SearchKey::Or(a, b) => needs_headers(a) || needs_headers(b),
        SearchKey::Not(a) => needs_headers(a),
        SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Header(..)
        | SearchKey::Address(..) => true,
        _ => false,
    }
}

/// Whether the key needs the message itself (decoded headers or text), not just its
/// stored summary.
fn needs_message(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(v) => v.iter().any(needs_message),
        SearchKey::Or(a, b) => needs_message(a) || needs_message(b),
        SearchKey::Not(a) => needs_message(a),
        SearchKey::Address(..) => false,
        k => k.needs_content(),
    }
}

fn needs_envelope(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(v) => v.iter().any(needs_envelope),
        SearchKey::Or(a, b) => needs_envelope(a) || needs_envelope(b),
        SearchKey::Not(a) => needs_envelope(a),
        SearchKey::Address(..) => true,
        _ => false,
    }
}

/// The addresses of one envelope field as FROM / TO / CC / BCC search them, folded:
/// `Name <local@domain>` (or `local@domain`), comma-separated; a group shows its name.
pub fn address_text(env: &Envelope, field: AddressField) -> String {
    let list = match field {
        AddressField::From => &env.from,
        AddressField::To => &env.to,
        AddressField::Cc => &env.cc,
        AddressField::Bcc => &env.bcc,
    };
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let addr = match (&a.mailbox, &a.host) {
            (Some(m), Some(h)) => format!("{m}@{h}"),
            // A group's start marker: its name.
            (Some(m), None) => m.clone(),
            // A group's end marker.
            _ => continue,
        };
        let name = a
            .name
            .as_deref()
            .map(super::sort::decode_words)
            .filter(|n| !n.trim().is_empty());
        out.push(match name {
            Some(n) if a.host.is_some() => format!("{} <{addr}>", n.trim()),
            _ => addr,
        });
    }
    fold(&out.join(", "))
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

fn eval(key: &SearchKey, c: &Candidate<'_>, exists: u32, max_uid: u32, idx: &IndexAnswers) -> bool {
    let m = c.meta;
    let internal = || date::date_of(m.internal_date);
    let content = c.content.as_ref();
    let ev = |k: &SearchKey| eval(k, c, exists, max_uid, idx);
    match key {
        SearchKey::All => true,
        SearchKey::And(v) => v.iter().all(ev),
        SearchKey::Or(a, b) => ev(a) || ev(b),
        SearchKey::Not(a) => !ev(a),
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
            content.is_some_and(|x| x.header_contains(&name.to_ascii_lowercase(), &fold(value)))
        }
        SearchKey::Address(field, value) => c
            .envelope
            .as_ref()
            .is_some_and(|e| address_text(e, *field).contains(&fold(value))),
        SearchKey::Body(s) => idx
            .get(TextScope::Body, s, m.uid)
            .unwrap_or_else(|| content.is_some_and(|x| x.body_contains(&fold(s)))),
        SearchKey::Text(s) => idx
            .get(TextScope::Text, s, m.uid)
            .unwrap_or_else(|| content.is_some_and(|x| x.text_contains(&fold(s)))),
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
    let none = IndexAnswers::default();
    if !key.needs_content() {
        let mut hits = Vec::new();
        for (i, vm) in sel.messages.iter().enumerate() {
            let c = Candidate {
                seq: i as u32 + 1,
                meta: &vm.meta,
                recent: sel.recent.contains(&vm.meta.uid),
                content: None,
                envelope: None,
            };
            if eval(key, &c, exists, max_uid, &none) {
                hits.push(Hit {
                    seq: c.seq,
                    meta: vm.meta.clone(),
                });
            }
        }
        return Ok(hits);
    }
    // The body index first; a string it cannot take makes every message need reading.
    let mut answers = IndexAnswers::default();
    let mut read_all = needs_headers(key);
    let mut strings = Vec::new();
    text_keys(key, &mut strings);
    for (scope, needle) in strings {
        if read_all {
            break;
        }
        match store.search_text(sel.id, scope, &needle).await {
            Ok(Some(h)) => answers.0.push(Indexed {
                scope,
                needle,
                matched: h.matched.into_iter().collect(),
                unindexed: h.unindexed.into_iter().collect(),
            }),
            Ok(None) => read_all = true,
            Err(e) => {
                tracing::warn!("body index unavailable for SEARCH, decoding instead: {e}");
                read_all = true;
            }
        }
    }
    if read_all {
        answers.0.clear();
    }
    let answers = std::sync::Arc::new(answers);
    let body = needs_body(key);
    let mut hits = Vec::new();
    let mut to_read: Vec<(u32, MessageMeta, bool)> = Vec::new();
    for (i, vm) in sel.messages.iter().enumerate() {
        if vm.gone {
            continue;
        }
        let (seq, recent) = (i as u32 + 1, sel.recent.contains(&vm.meta.uid));
        let covered = !read_all
            && answers
                .0
                .iter()
                .all(|a| !a.unindexed.contains(&vm.meta.uid));
        if !covered {
            to_read.push((seq, vm.meta.clone(), recent));
            continue;
        }
        let c = Candidate {
            seq,
            meta: &vm.meta,
            recent,
            content: None,
            envelope: None,
        };
        if eval(key, &c, exists, max_uid, &answers) {
            hits.push(Hit {
                seq,
                meta: vm.meta.clone(),
            });
        }
    }
    let (want_message, want_envelope) = (needs_message(key), needs_envelope(key));
    let key = std::sync::Arc::new(key.clone());
    for chunk in to_read.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for (seq, meta, recent) in chunk {
            // Expunged meanwhile: it matches nothing. Any other failure is NO
            // [UNAVAILABLE] / [SERVERBUG], never an answer with it left out.
            let raw = if want_message {
                match store.read_body(meta.blob).await {
                    Ok(raw) => Some(raw),
                    Err(e) => match crate::session::unreadable(&e, meta.uid) {
                        Some(err) => return Err(err),
                        None => continue,
                    },
                }
            } else {
                None
            };
            let envelope = if want_envelope {
                match store.summary(meta.blob).await {
                    Ok(s) => Some(s.envelope.clone()),
                    Err(e) => match crate::session::unreadable(&e, meta.uid) {
                        Some(err) => return Err(err),
                        None => continue,
                    },
                }
            } else {
                None
            };
            batch.push((*seq, meta.clone(), *recent, raw, envelope));
        }
        let key = key.clone();
        let answers = answers.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            for (seq, meta, recent, raw, envelope) in batch {
                let c = Candidate {
                    seq,
                    meta: &meta,
                    recent,
                    content: raw.map(|r| SearchText::of(&r, body)),
                    envelope,
                };
                if eval(&key, &c, exists, max_uid, &answers) {
                    found.push(Hit { seq, meta });
                }
            }
            found
        })
        .await
        .map_err(|_| ImapError::no_code("SERVERBUG", "Search failed"))?;
        hits.extend(found);
    }
    hits.sort_unstable_by_key(|h| h.seq);
    Ok(hits)
}

/// SEARCHRES (RFC 5182 §2.4): keeps the result (UIDs, in any order) as `$`; with MIN
/// and/or MAX (and neither ALL nor COUNT) only those, as SEARCH and SORT pick them.
pub fn save_result(s: &mut Session, r: &SearchReturn, uids_in_order: &[u32]) {
    let saved: Vec<u32> = if (r.min || r.max) && !r.all && !r.count {
        let mut v = Vec::new();
        if r.min {
            v.extend(uids_in_order.first());
        }
        if r.max {
            v.extend(uids_in_order.last());
        }
        v
    } else {
        uids_in_order.to_vec()
    };
    if let State::Selected { mailbox, .. } = &mut s.state {
        mailbox.saved = saved;
    }
}

/// The ESEARCH response (without `* `) for results in their answer order: ascending for
/// SEARCH (RFC 4731 §3.1), the sort order for SORT (ESORT, RFC 5267 §3.1: MIN and MAX
/// are the first and the last sorted message). PARTIAL (RFC 9394 §3) picks positions in
/// that order; an empty pick is NIL. Empty MIN / MAX / ALL are left out.
pub fn esearch_line(tag: &Tag, uid: bool, r: &SearchReturn, ids: &[u32]) -> String {
    let mut line = format!("ESEARCH (TAG \"{}\")", tag.as_str());
    if uid {
        line.push_str(" UID");
    }
    if r.min
        && let Some(v) = ids.first()
    {
        line.push_str(&format!(" MIN {v}"));
    }
    if r.max
        && let Some(v) = ids.last()
    {
        line.push_str(&format!(" MAX {v}"));
    }
    if r.all && !ids.is_empty() {
        line.push_str(&format!(" ALL {}", ordered_set_string(ids)));
    }
    if r.count {
        line.push_str(&format!(" COUNT {}", ids.len()));
    }
    if let Some(range) = r.partial {
        let picked = &ids[range.indices(ids.len())];
        let set = if picked.is_empty() {
            "NIL".to_string()
        } else {
            ordered_set_string(picked)
        };
        line.push_str(&format!(" PARTIAL ({range} {set})"));
    }
    line
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
        s.enable_condstore();
    }
    let enabled = s.enabled;
    let hits: Vec<(u32, u32, u64)> = matching(s, key)
        .await?
        .into_iter()
        .map(|h| (h.seq, h.meta.uid, h.meta.modseq))
        .collect();
    let ids: Vec<u32> = hits.iter().map(|h| if uid { h.1 } else { h.0 }).collect();
    if let Some(r) = ret.filter(|r| r.save) {
        let uids: Vec<u32> = hits.iter().map(|h| h.1).collect();
        save_result(s, &r, &uids);
        if r.is_empty() {
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
        // Sequence order is ascending order: MIN and MAX are the first and the last.
        let mut line = esearch_line(tag, uid, &r, &ids);
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
        let c = SearchText::of(raw, true);
        assert!(c.header_contains("subject", "café menu"));
        assert!(c.header_contains("from", "bob@example.org"));
        assert!(c.body_contains("crème brûlée"));
        assert_eq!(c.sent, chrono::NaiveDate::from_ymd_opt(2024, 1, 2));
    }

    /// FROM / TO / CC / BCC search the envelope's parse of the address: a comment
    /// inside the address is not part of it, the display name is decoded.
    #[test]
    fn address_keys_use_the_envelope() {
        let raw = b"From: \"Fred (the) Foo\" <user-from (c)@ (c) domain.org>\r\n\
To: =?utf-8?q?J=C3=B6rg?= <j@example.org>, team: a@x.org, b@y.org;\r\n\r\nx\r\n";
        let env = wharf_store::mime::summarize(raw).envelope;
        let from = address_text(&env, AddressField::From);
        assert!(from.contains("user-from@domain.org"), "{from}");
        assert!(from.starts_with("fred (the) foo"), "{from}");
        let to = address_text(&env, AddressField::To);
        assert!(to.contains("jörg <j@example.org>"), "{to}");
        assert!(to.contains("team") && to.contains("b@y.org"), "{to}");
        assert_eq!(address_text(&env, AddressField::Bcc), "");
    }

    /// ESEARCH data for SEARCH (ascending) and SORT (sort order), with PARTIAL from
    /// either end (RFC 4731, RFC 5267 §3.1, RFC 9394 §3), as Dovecot 2.3 writes it.
    #[test]
    fn esearch_lines() {
        use crate::proto::PartialRange;
        let tag = Tag::parse(b"t").unwrap();
        let all = SearchReturn {
            min: true,
            max: true,
            all: true,
            count: true,
            ..Default::default()
        };
        assert_eq!(
            esearch_line(&tag, false, &all, &[2, 4, 3, 1, 5, 6]),
            "ESEARCH (TAG \"t\") MIN 2 MAX 6 ALL 2,4,3,1,5:6 COUNT 6"
        );
        assert_eq!(
            esearch_line(&tag, true, &all, &[]),
            "ESEARCH (TAG \"t\") UID COUNT 0"
        );
        assert_eq!(ordered_set_string(&[6, 5, 4]), "6,5,4");
        assert_eq!(ordered_set_string(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        let partial = |p| SearchReturn {
            partial: Some(p),
            ..Default::default()
        };
        let ids = [3, 1, 2, 5, 4, 6];
        assert_eq!(
            esearch_line(&tag, false, &partial(PartialRange::First(2, 3)), &ids),
            "ESEARCH (TAG \"t\") PARTIAL (2:3 1:2)"
        );
        assert_eq!(
            esearch_line(&tag, false, &partial(PartialRange::Last(1, 2)), &ids),
            "ESEARCH (TAG \"t\") PARTIAL (-1:-2 4,6)"
        );
        assert_eq!(
            esearch_line(&tag, false, &partial(PartialRange::First(5, 100)), &ids),
            "ESEARCH (TAG \"t\") PARTIAL (5:100 4,6)"
        );
        assert_eq!(
            esearch_line(&tag, false, &partial(PartialRange::First(7, 9)), &ids),
            "ESEARCH (TAG \"t\") PARTIAL (7:9 NIL)"
        );
        assert_eq!(
            esearch_line(&tag, false, &partial(PartialRange::Last(6, 9)), &ids),
            "ESEARCH (TAG \"t\") PARTIAL (-6:-9 3)"
        );
        assert_eq!(
            esearch_line(&tag, false, &partial(PartialRange::Last(7, 9)), &ids),
            "ESEARCH (TAG \"t\") PARTIAL (-7:-9 NIL)"
        );
    }

    #[test]
    fn text_keys_are_collected_once() {
        let key = SearchKey::Or(
            Box::new(SearchKey::Body("x".into())),
            Box::new(SearchKey::And(vec![
                SearchKey::Body("x".into()),
                SearchKey::Not(Box::new(SearchKey::Text("y".into()))),
            ])),
        );
        let mut v = Vec::new();
        text_keys(&key, &mut v);
        assert_eq!(
            v,
            vec![(TextScope::Body, "x".into()), (TextScope::Text, "y".into())]
        );
    }

    /// Index answers combined with other keys (OR / NOT / AND, flags, sizes) give what
    /// decoding every message gives. The "index" here is computed from the same
    /// `SearchText` (the store's tests check that the real index equals it).
    #[test]
    fn index_answers_combine_like_decoded_content() {
        use crate::proto::{CommandBody, parse_command};
        let raws: [&[u8]; 4] = [
            b"Subject: Zebrafish report\r\n\r\nThe river is cold.\r\n",
            b"Subject: lunch\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCr\xc3\xa8me br\xc3\xbbl\xc3\xa9e for ZEBRAFISH\r\n",
            b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nnothing here, 100% sure\r\n",
            b"Subject: ab\r\n\r\nab\r\n",
        ];
        let texts: Vec<SearchText> = raws.iter().map(|r| SearchText::of(r, true)).collect();
        let metas: Vec<MessageMeta> = (0..raws.len())
            .map(|i| MessageMeta {
                uid: i as u32 + 10,
                flags: if i % 2 == 0 {
                    Flags::FLAGGED
                } else {
                    Flags::default()
                },
                keywords: vec![],
                modseq: 1,
                size: raws[i].len() as u64,
                internal_date: 1_700_000_000,
                blob: wharf_store::BlobId(i as i64),
            })
            .collect();
        for cmd in [
            "SEARCH BODY zebrafish",
            "SEARCH TEXT zebrafish",
            "SEARCH NOT BODY zebrafish",
            "SEARCH OR BODY crème FLAGGED",
            "SEARCH FLAGGED TEXT café",
            "SEARCH NOT TEXT café UNFLAGGED",
            "SEARCH OR NOT BODY \"100%\" BODY river",
            "SEARCH (LARGER 60 BODY zebrafish) OR TEXT ab BODY brûlée",
            "SEARCH OR (BODY ab) (NOT BODY \"for ZEBRA\")",
        ] {
            let line = format!("t {cmd}\r\n");
            let CommandBody::Search { key, .. } = parse_command(line.as_bytes()).unwrap().body
            else {
                panic!("{cmd}")
            };
            let mut strings = Vec::new();
            text_keys(&key, &mut strings);
            // Message 10 plays "not indexed yet": it is decided from its content.
            let answers = IndexAnswers(
                strings
                    .into_iter()
                    .map(|(scope, needle)| {
                        let f = fold(&needle);
                        let matched = metas
                            .iter()
                            .zip(&texts)
                            .filter(|(_, t)| match scope {
                                TextScope::Body => t.body_contains(&f),
                                TextScope::Text => t.text_contains(&f),
                            })
                            .map(|(m, _)| m.uid)
                            .filter(|u| *u != 10)
                            .collect();
                        Indexed {
                            scope,
                            needle,
                            matched,
                            unindexed: [10].into(),
                        }
                    })
                    .collect(),
            );
            for (i, (meta, text)) in metas.iter().zip(&texts).enumerate() {
                let seq = i as u32 + 1;
                let decoded = Candidate {
                    seq,
                    meta,
                    recent: false,
                    content: Some(text.clone()),
                    envelope: None,
                };
                let want = eval(&key, &decoded, 4, 13, &IndexAnswers::default());
                let indexed = Candidate {
                    seq,
                    meta,
                    recent: false,
                    content: (meta.uid == 10).then(|| text.clone()),
                    envelope: None,
                };
                assert_eq!(
                    eval(&key, &indexed, 4, 13, &answers),
                    want,
                    "{cmd} uid {}",
                    meta.uid
                );
            }
        }
    }
}
