//! FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9), with CONDSTORE's CHANGEDSINCE and
//! MODSEQ (RFC 7162 §3.1.4), QRESYNC's VANISHED modifier (§3.2.6) and BINARY (RFC 3516).
//!
//! Structure (ENVELOPE, BODYSTRUCTURE, section offsets) comes from the summary stored at
//! delivery; bodies are read only when a body item is asked for. A non-PEEK body item
//! sets \Seen first (one store call for the whole set) and the new FLAGS are sent with
//! the data (RFC 9051 §6.4.5).
//!
//! Expunges are never reported during FETCH (RFC 9051 §7.5.1). A message that another
//! session expunged but this one has not been told of yet is still served (RFC 2180
//! §4.1.1): what the view holds (UID, FLAGS, sizes, dates, MODSEQ) always, and what
//! needs its body or summary as long as the body is still stored (another copy may hold
//! it). When it is not, the other messages' data is sent and the command ends
//! `NO [EXPUNGEISSUED]` (RFC 2180 §4.1.3, RFC 5530), never OK with a message left out. A
//! body that cannot be read for another reason (file removed or unreadable) ends it
//! `NO [UNAVAILABLE]` (`[SERVERBUG]` for unusable stored data), again after the data
//! that could be sent.

use crate::proto::{FetchAtt, Section, SectionText, SequenceSet, date, encode};
use crate::session::section::{self, BinaryError};
use crate::session::selected::uid_set_string;
use crate::session::{Done, ImapError, OpResult, Output, Session, State};
use wharf_store::mime::MessageSummary;
use wharf_store::{FlagOp, FlagUpdate, Flags, MessageMeta};

fn section_label(s: &Section) -> Vec<u8> {
    let mut out = Vec::new();
    let part: Vec<String> = s.part.iter().map(|n| n.to_string()).collect();
    out.extend_from_slice(part.join(".").as_bytes());
    if let Some(t) = &s.text {
        if !s.part.is_empty() {
            out.push(b'.');
        }
        match t {
            SectionText::Header => out.extend_from_slice(b"HEADER"),
            SectionText::Text => out.extend_from_slice(b"TEXT"),
            SectionText::Mime => out.extend_from_slice(b"MIME"),
            SectionText::HeaderFields { not, fields } => {
                out.extend_from_slice(if *not {
                    b"HEADER.FIELDS.NOT ("
                } else {
                    b"HEADER.FIELDS ("
                });
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    encode::astring(&mut out, f.as_bytes());
                }
                out.push(b')');
            }
        }
    }
    out
}

fn part_label(part: &[u32]) -> String {
    part.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// Literal, or literal8 when the data holds NUL (RFC 3516 §4.2).
fn binary_literal(out: &mut Vec<u8>, data: &[u8]) {
    encode::literal8(out, data);
}

/// Messages loaded at the same time by one FETCH.
const LOAD_WINDOW: usize = 16;
/// Body bytes a window may hold beyond its first message.
const LOAD_WINDOW_BYTES: u64 = 8 * 1024 * 1024;

struct Target {
    seq: usize,
    meta: MessageMeta,
    flags: String,
    seen_now: bool,
}

/// What a message's load gave: its summary and body (each only if asked for).
type Loaded = Result<(Option<std::sync::Arc<MessageSummary>>, Option<Vec<u8>>), wharf_store::Error>;

#[allow(clippy::too_many_arguments)]
/// The FETCH modifiers (RFC 4466 §2.4): CHANGEDSINCE and VANISHED (RFC 7162), PARTIAL
/// (RFC 9394 §3.3).
#[derive(Debug, Clone, Copy, Default)]
pub struct Modifiers {
    pub changed_since: Option<u64>,
    pub vanished: bool,
    pub partial: Option<crate::proto::PartialRange>,
}

pub async fn handle_fetch(
    s: &mut Session,
    uid: bool,
    set: &SequenceSet,
    items: &[FetchAtt],
    modifiers: Modifiers,
    io: &mut dyn Output,
) -> OpResult {
    let Modifiers {
        changed_since,
        vanished,
        partial,
    } = modifiers;
    if changed_since.is_some() || items.contains(&FetchAtt::ModSeq) {
        s.enable_condstore();
    }
    if vanished && !s.enabled.qresync {
        return Err(ImapError::bad("VANISHED needs QRESYNC enabled"));
    }
    let enabled = s.enabled;
    // message/global in BODYSTRUCTURE only for IMAP4rev2 / UTF8=ACCEPT (proto/encode.rs).
    let global_as_message = enabled.rev2 || enabled.utf8;
    let store = s.ctx.store.clone();
    let mut items = items.to_vec();
    // RFC 9051 §6.4.9: UID FETCH always returns UID.
    if uid && !items.contains(&FetchAtt::Uid) {
        items.insert(0, FetchAtt::Uid);
    }
    // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ; §3.1: the FETCH responses it
    // causes carry UID and MODSEQ.
    if changed_since.is_some() {
        if !items.contains(&FetchAtt::Uid) {
            items.insert(0, FetchAtt::Uid);
        }
        if !items.contains(&FetchAtt::ModSeq) {
            items.push(FetchAtt::ModSeq);
        }
    }
    // What a FETCH that sets \Seen adds for that change (RFC 9051 §6.4.5: FLAGS; RFC 7162
    // §3.1: MODSEQ once CONDSTORE is enabled, §3.2.4: UID under QRESYNC), if not asked.
    let mut implied = Vec::new();
    if enabled.qresync && !items.contains(&FetchAtt::Uid) {
        implied.push(FetchAtt::Uid);
    }
    if !items.contains(&FetchAtt::Flags) {
        implied.push(FetchAtt::Flags);
    }
    if enabled.condstore && !items.contains(&FetchAtt::ModSeq) {
        implied.push(FetchAtt::ModSeq);
    }

    let State::Selected { mailbox: sel, .. } = &mut s.state else {
        return Err(ImapError::bad("No mailbox selected"));
    };
    if !uid && !sel.seq_in_range(set) {
        return Err(ImapError::bad("Invalid message number"));
    }
    let mut idx = sel.resolve(set, uid);
    // RFC 9394 §3.3: PARTIAL keeps the messages at those positions of the ones the set
    // names, counted in mailbox order (`-1` is the last); CHANGEDSINCE then filters
    // within that window.
    if let Some(range) = partial {
        let window = range.indices(idx.len());
        idx = idx[window].to_vec();
    }
    let sets_seen = !sel.read_only
        && items.iter().any(|i| {
            matches!(
                i,
                FetchAtt::Rfc822
                    | FetchAtt::Rfc822Text
                    | FetchAtt::BodySection { peek: false, .. }
                    | FetchAtt::Binary { peek: false, .. }
            )
        });

    if vanished && let Some(cs) = changed_since {
        let max = sel.max_uid();
        let mut gone = store.expunged_since(sel.id, cs).await?;
        gone.retain(|&u| set.contains(u, max));
        if !gone.is_empty() {
            let line = format!("* VANISHED (EARLIER) {}\r\n", uid_set_string(&gone));
            s.out.extend_from_slice(line.as_bytes());
        }
    }

    let mut seen_now: Vec<u32> = Vec::new();
    if sets_seen {
        let unseen: Vec<u32> = idx
            .iter()
            .map(|&i| &sel.messages[i])
            .filter(|m| !m.gone && !m.meta.flags.contains(Flags::SEEN))
            .filter(|m| changed_since.is_none_or(|cs| m.meta.modseq > cs))
            .map(|m| m.meta.uid)
            .collect();
        if !unseen.is_empty() {
            let r = store
                .store_flags(
                    sel.id,
                    FlagUpdate {
                        uids: unseen,
                        op: FlagOp::Add,
                        flags: Flags::SEEN,
                        keywords: vec![],
                        unchanged_since: None,
                    },
                )
                .await?;
            for (u, f, k, m) in r.updated {
                if sel.update_flags(u, f, k, m) {
                    seen_now.push(u);
                }
            }
        }
    }

    let targets: Vec<Target> = idx
        .iter()
        .map(|&i| (i, &sel.messages[i]))
        .filter(|(_, m)| changed_since.is_none_or(|cs| m.meta.modseq > cs))
        .map(|(i, m)| Target {
            seq: i + 1,
            meta: m.meta.clone(),
            flags: sel.flags_string(&m.meta, enabled.rev2),
            seen_now: seen_now.contains(&m.meta.uid),
        })
        .collect();

    if !seen_now.is_empty() {
        let mailbox = sel.id;
        let account = super::account(s)?.id;
        s.expect_own(wharf_store::Change::FlagsChanged {
            account,
            mailbox,
            uids: seen_now,
        });
    }
    let needs_summary = items.iter().any(|i| {
        matches!(
            i,
            FetchAtt::Envelope
                | FetchAtt::Body
                | FetchAtt::BodyStructure
                | FetchAtt::BodySection { .. }
                | FetchAtt::Binary { .. }
                | FetchAtt::BinarySize { .. }
        )
    });
    let needs_raw = items.iter().any(|i| {
        matches!(
            i,
            FetchAtt::Rfc822
                | FetchAtt::Rfc822Header
                | FetchAtt::Rfc822Text
                | FetchAtt::BodySection { .. }
                | FetchAtt::Binary { .. }
                | FetchAtt::BinarySize { .. }
        )
    });

    // Messages are loaded a window at a time, concurrently (each load is a hop to the
    // blocking pool; one after the other they cost more than the work), and written in
    // order. A window holds at most LOAD_WINDOW messages and, past its first message,
    // LOAD_WINDOW_BYTES of bodies, so a FETCH of large messages stays bounded.
    let mut expunged = false;
    let mut failure: Option<ImapError> = None;
    let mut rest = targets.into_iter().peekable();
    while rest.peek().is_some() {
        let mut window = Vec::new();
        let mut bytes = 0u64;
        while let Some(t) = rest.peek() {
            let size = if needs_raw { t.meta.size } else { 0 };
            if !window.is_empty()
                && (window.len() >= LOAD_WINDOW || bytes + size > LOAD_WINDOW_BYTES)
            {
                break;
            }
            bytes += size;
            window.extend(rest.next());
        }
        let loads = window.into_iter().map(|t| {
            let store = store.clone();
            async move {
                let load = async {
                    let summary = match needs_summary {
                        true => Some(store.summary(t.meta.blob).await?),
                        false => None,
                    };
                    let raw = match needs_raw {
                        true => Some(store.read_body(t.meta.blob).await?),
                        false => None,
                    };
                    Ok((summary, raw))
                };
                let loaded: Loaded = load.await;
                (t, loaded)
            }
        });
        for (t, loaded) in futures::future::join_all(loads).await {
            let (summary, raw) = match loaded {
                Ok(x) => x,
                Err(e) => {
                    match crate::session::unreadable(&e, t.meta.uid) {
                        // Its body went with an expunge (by another session, before
                        // this one was told, or while this FETCH ran).
                        None => expunged = true,
                        Some(err) => {
                            failure.get_or_insert(err);
                        }
                    }
                    continue;
                }
            };
            let empty = MessageSummary::default();
            let sum = summary.as_deref().unwrap_or(&empty);
            let raw_ref = raw.as_deref().unwrap_or_default();
            let mark = s.out.len();
            if let Err(e) = write_message(
                &mut s.out,
                &t,
                &items,
                &implied,
                sum,
                raw_ref,
                global_as_message,
            ) {
                s.out.truncate(mark);
                return Err(e);
            }
            s.flush_if_large(io)
                .await
                .map_err(|_| ImapError::bye("Connection lost"))?;
        }
    }
    // Never OK with a message left out: say which kind of trouble it was.
    if let Some(e) = failure {
        return Err(e);
    }
    if expunged {
        // RFC 2180 §4.1.3, RFC 5530 EXPUNGEISSUED.
        return Err(ImapError::no_code(
            "EXPUNGEISSUED",
            "Some of the requested messages no longer exist",
        ));
    }
    Ok(Done::text("FETCH completed"))
}

/// Writes one message's FETCH response.
fn write_message(
    out: &mut Vec<u8>,
    t: &Target,
    items: &[FetchAtt],
    implied: &[FetchAtt],
    sum: &MessageSummary,
    raw_ref: &[u8],
    global_as_message: bool,
) -> Result<(), ImapError> {
    out.extend_from_slice(format!("* {} FETCH (", t.seq).as_bytes());
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b' ');
        }
        first = false;
    };
    for item in items {
        sep(out);
        match item {
            FetchAtt::Uid => out.extend_from_slice(format!("UID {}", t.meta.uid).as_bytes()),
            FetchAtt::Flags => out.extend_from_slice(format!("FLAGS {}", t.flags).as_bytes()),
            FetchAtt::InternalDate => out.extend_from_slice(
                format!(
                    "INTERNALDATE \"{}\"",
                    date::format_date_time(t.meta.internal_date)
                )
                .as_bytes(),
            ),
            FetchAtt::Rfc822Size => {
                out.extend_from_slice(format!("RFC822.SIZE {}", t.meta.size).as_bytes())
            }
            FetchAtt::ModSeq => {
                out.extend_from_slice(format!("MODSEQ ({})", t.meta.modseq).as_bytes())
            }
            FetchAtt::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                encode::envelope(out, &sum.envelope);
            }
            FetchAtt::Body => {
                out.extend_from_slice(b"BODY ");
                encode::message_structure(out, sum, false, global_as_message);
            }
            FetchAtt::BodyStructure => {
                out.extend_from_slice(b"BODYSTRUCTURE ");
                encode::message_structure(out, sum, true, global_as_message);
            }
            FetchAtt::Rfc822 => {
                out.extend_from_slice(b"RFC822 ");
                encode::literal(out, raw_ref);
            }
            FetchAtt::Rfc822Header => {
                let end = wharf_store::mime::header_end(raw_ref);
                out.extend_from_slice(b"RFC822.HEADER ");
                encode::literal(out, &raw_ref[..end]);
            }
            FetchAtt::Rfc822Text => {
                let end = wharf_store::mime::header_end(raw_ref);
                out.extend_from_slice(b"RFC822.TEXT ");
                encode::literal(out, &raw_ref[end..]);
            }
            FetchAtt::BodySection {
                section: sec,
                partial,
                ..
            } => {
                let data = section::extract(raw_ref, sum, sec);
                out.extend_from_slice(b"BODY[");
                out.extend_from_slice(&section_label(sec));
                out.push(b']');
                if let Some((off, _)) = partial {
                    out.extend_from_slice(format!("<{off}>").as_bytes());
                }
                out.push(b' ');
                encode::literal(out, section::partial(&data, *partial));
            }
            FetchAtt::Binary { part, partial, .. } => {
                out.extend_from_slice(format!("BINARY[{}]", part_label(part)).as_bytes());
                if let Some((off, _)) = partial {
                    out.extend_from_slice(format!("<{off}>").as_bytes());
                }
                out.push(b' ');
                match section::binary(raw_ref, sum, part) {
                    Ok(data) => binary_literal(out, section::partial(&data, *partial)),
                    Err(BinaryError::UnknownCte) => {
                        return Err(ImapError::no_code(
                            "UNKNOWN-CTE",
                            "Cannot decode this part's transfer encoding",
                        ));
                    }
                }
            }
            FetchAtt::BinarySize { part } => {
                let n = match section::binary(raw_ref, sum, part) {
                    Ok(d) => d.len(),
                    Err(BinaryError::UnknownCte) => {
                        return Err(ImapError::no_code(
                            "UNKNOWN-CTE",
                            "Cannot decode this part's transfer encoding",
                        ));
                    }
                };
                out.extend_from_slice(format!("BINARY.SIZE[{}] {n}", part_label(part)).as_bytes());
            }
        }
    }
    if t.seen_now {
        for item in implied {
            sep(out);
            match item {
                FetchAtt::Uid => out.extend_from_slice(format!("UID {}", t.meta.uid).as_bytes()),
                FetchAtt::ModSeq => {
                    out.extend_from_slice(format!("MODSEQ ({})", t.meta.modseq).as_bytes())
                }
                _ => out.extend_from_slice(format!("FLAGS {}", t.flags).as_bytes()),
            }
        }
    }
    out.extend_from_slice(b")\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(
            section_label(&Section {
                part: vec![1, 2],
                text: Some(SectionText::Mime)
            }),
            b"1.2.MIME"
        );
        assert_eq!(
            section_label(&Section {
                part: vec![],
                text: Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["From".into(), "X Y".into()]
                })
            }),
            b"HEADER.FIELDS.NOT (From \"X Y\")"
        );
        assert_eq!(section_label(&Section::default()), b"");
    }
}
