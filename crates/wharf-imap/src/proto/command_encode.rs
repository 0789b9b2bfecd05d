//! Writing a [`Command`] back to its wire form: the inverse of [`parse_command`].
//!
//! The server never sends commands; this exists so that tests and the fuzz target
//! `imap_command` can check the parser the way imap-codec's targets do: parse, encode,
//! parse again, and compare the two values. What the encoder writes is always the
//! canonical form (one item list in parentheses, `CHARSET UTF-8`, dates in UTC), so the
//! invariant is `parse(encode(parse(x))) == parse(x)`, not byte equality with `x`.
//!
//! Everything a parsed value can hold is written so that it parses to the same value:
//! strings that cannot be atoms are quoted (the parser takes 8-bit octets in quoted
//! strings), and strings holding CR, LF or NUL become literals (`{n}` CRLF, octets
//! unchanged, unlike response literals, which replace NUL). Values the parser drops
//! (QRESYNC's seq-match-data, MODSEQ's entry name, LIST's REMOTE) are not written.
//!
//! [`parse_command`]: super::parse_command

use super::command::*;
use super::parse::is_astring_char;
use chrono::{Datelike, FixedOffset, TimeZone};
use wharf_store::{FlagOp, Flags};

/// The command as a client would send it, literals inline, ending with CRLF.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    let mut w = W(Vec::new());
    w.raw(cmd.tag.as_str());
    w.raw(" ");
    body(&mut w, &cmd.body);
    w.raw("\r\n");
    w.0
}

struct W(Vec<u8>);

impl W {
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn num(&mut self, n: impl std::fmt::Display) {
        self.raw(&n.to_string());
    }
    /// `{n}` CRLF octets, unchanged (NUL included: the parser takes it).
    fn literal(&mut self, b: &[u8]) {
        self.raw(&format!("{{{}}}\r\n", b.len()));
        self.bytes(b);
    }
    /// `string`: quoted unless it holds CR, LF or NUL (RFC 9051 §9 QUOTED-CHAR), which
    /// only a literal can carry.
    fn string(&mut self, b: &[u8]) {
        if b.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0)) {
            self.literal(b);
            return;
        }
        self.0.push(b'"');
        for &c in b {
            if c == b'"' || c == b'\\' {
                self.0.push(b'\\');
            }
            self.0.push(c);
        }
        self.0.push(b'"');
    }
    /// `astring`: an atom when every octet may stand in one (8-bit octets too, as the
    /// parser accepts them unquoted for RFC 6855 clients), else a string.
    fn astring(&mut self, b: &[u8]) {
        if !b.is_empty() && b.iter().all(|&c| is_astring_char(c) || c >= 0x80) {
            self.bytes(b);
        } else {
            self.string(b);
        }
    }
    /// `list-mailbox`: as `astring`, with the wildcards `%` and `*` allowed unquoted.
    fn list_mailbox(&mut self, b: &[u8]) {
        if !b.is_empty()
            && b.iter()
                .all(|&c| is_astring_char(c) || c >= 0x80 || c == b'%' || c == b'*')
        {
            self.bytes(b);
        } else {
            self.string(b);
        }
    }
    fn set(&mut self, set: &SequenceSet) {
        if set.is_saved() {
            self.raw("$");
            return;
        }
        for (i, &(a, b)) in set.0.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.seq_num(a);
            if a != b {
                self.raw(":");
                self.seq_num(b);
            }
        }
    }
    fn seq_num(&mut self, n: SeqNum) {
        match n {
            SeqNum::Num(n) => self.num(n),
            SeqNum::Star => self.raw("*"),
        }
    }
    fn flag(&mut self, f: &Flag) {
        match f {
            Flag::System(s) => {
                let name = s.names().next().unwrap_or("\\Seen");
                self.raw(name);
            }
            Flag::Recent => self.raw("\\Recent"),
            // keywords are atoms; an extension flag keeps its backslash
            Flag::Keyword(k) | Flag::Extension(k) => self.raw(k),
        }
    }
    fn flag_list(&mut self, flags: &[Flag]) {
        self.raw("(");
        for (i, f) in flags.iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.flag(f);
        }
        self.raw(")");
    }
    fn status_items(&mut self, items: &[StatusItem]) {
        self.raw("(");
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.raw(status_item_name(*it));
        }
        self.raw(")");
    }
}

fn status_item_name(it: StatusItem) -> &'static str {
    match it {
        StatusItem::Messages => "MESSAGES",
        StatusItem::Recent => "RECENT",
        StatusItem::UidNext => "UIDNEXT",
        StatusItem::UidValidity => "UIDVALIDITY",
        StatusItem::Unseen => "UNSEEN",
        StatusItem::Deleted => "DELETED",
        StatusItem::Size => "SIZE",
        StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        StatusItem::AppendLimit => "APPENDLIMIT",
    }
}

/// `date-time` for APPEND (RFC 9051 §9). UTC unless the UTC year has no four digits
/// (a date near 0000 or 9999 given with a far zone): then the same instant is written
/// with a ±23:59 zone that keeps the local year in 0000..=9999, so it parses back.
fn date_time(unix: i64) -> String {
    for off in [0, 86_340, -86_340] {
        let Some(tz) = FixedOffset::east_opt(off) else {
            continue;
        };
        let Some(dt) = tz.timestamp_opt(unix, 0).single() else {
            continue;
        };
        if (0..=9999).contains(&dt.year()) {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.abs();
            return format!(
                "{} {sign}{:02}{:02}",
                dt.format("%d-%b-%Y %H:%M:%S"),
                a / 3600,
                a % 3600 / 60
            );
        }
    }
    // Not reachable from a parsed value (its local year had four digits).
    "01-Jan-1970 00:00:00 +0000".to_string()
}

fn body(w: &mut W, b: &CommandBody) {
    match b {
        CommandBody::Capability => w.raw("CAPABILITY"),
        CommandBody::Noop => w.raw("NOOP"),
        CommandBody::Logout => w.raw("LOGOUT"),
        CommandBody::StartTls => w.raw("STARTTLS"),
        CommandBody::Idle => w.raw("IDLE"),
        CommandBody::Close => w.raw("CLOSE"),
        CommandBody::Unselect => w.raw("UNSELECT"),
        CommandBody::Namespace => w.raw("NAMESPACE"),
        CommandBody::SetQuota => w.raw("SETQUOTA"),
        CommandBody::Authenticate { mechanism, initial } => {
            w.raw("AUTHENTICATE ");
            w.raw(mechanism);
            if let Some(ir) = initial {
                w.raw(" ");
                w.bytes(ir);
            }
        }
        CommandBody::Login { user, password } => {
            w.raw("LOGIN ");
            w.astring(user.as_bytes());
            w.raw(" ");
            w.astring(password.expose().as_bytes());
        }
        CommandBody::Enable(caps) => {
            w.raw("ENABLE");
            for c in caps {
                w.raw(" ");
                w.raw(c);
            }
        }
        CommandBody::Select {
            mailbox,
            read_only,
            condstore,
            qresync,
        } => {
            w.raw(if *read_only { "EXAMINE " } else { "SELECT " });
            w.astring(mailbox.as_bytes());
            if *condstore || qresync.is_some() {
                w.raw(" (");
                if *condstore {
                    w.raw("CONDSTORE");
                }
                if let Some(q) = qresync {
                    if *condstore {
                        w.raw(" ");
                    }
                    w.raw("QRESYNC (");
                    w.num(q.uidvalidity);
                    w.raw(" ");
                    w.num(q.modseq);
                    if let Some(set) = &q.known_uids {
                        w.raw(" ");
                        w.set(set);
                    }
                    w.raw(")");
                }
                w.raw(")");
            }
        }
        CommandBody::Create {
            mailbox,
            special_use,
        } => {
            w.raw("CREATE ");
            w.astring(mailbox.as_bytes());
            if !special_use.is_empty() {
                // RFC 6154 §3
                w.raw(" (USE (");
                w.raw(&special_use.join(" "));
                w.raw("))");
            }
        }
        CommandBody::Delete(m) => {
            w.raw("DELETE ");
            w.astring(m.as_bytes());
        }
        CommandBody::Rename { from, to } => {
            w.raw("RENAME ");
            w.astring(from.as_bytes());
            w.raw(" ");
            w.astring(to.as_bytes());
        }
        CommandBody::Subscribe(m) => {
            w.raw("SUBSCRIBE ");
            w.astring(m.as_bytes());
        }
        CommandBody::Unsubscribe(m) => {
            w.raw("UNSUBSCRIBE ");
            w.astring(m.as_bytes());
        }
        CommandBody::List {
            reference,
            patterns,
            options,
        } => list(w, reference, patterns, options),
        CommandBody::Lsub { reference, pattern } => {
            w.raw("LSUB ");
            w.astring(reference.as_bytes());
            w.raw(" ");
            w.list_mailbox(pattern.as_bytes());
        }
        CommandBody::Status { mailbox, items } => {
            w.raw("STATUS ");
            w.astring(mailbox.as_bytes());
            w.raw(" ");
            w.status_items(items);
        }
        CommandBody::Append { mailbox, messages } => {
            w.raw("APPEND ");
            w.astring(mailbox.as_bytes());
            for m in messages {
                append_message(w, m);
            }
        }
        CommandBody::Expunge { uids: None } => w.raw("EXPUNGE"),
        CommandBody::Expunge { uids: Some(set) } => {
            w.raw("UID EXPUNGE ");
            w.set(set);
        }
        CommandBody::Search { uid, ret, key } => {
            w.raw(if *uid { "UID SEARCH " } else { "SEARCH " });
            search_return(w, ret);
            // Strings are written as UTF-8 whatever charset they came in.
            w.raw("CHARSET UTF-8 ");
            top_level_keys(w, key);
        }
        CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
            partial,
        } => {
            w.raw(if *uid { "UID FETCH " } else { "FETCH " });
            w.set(set);
            w.raw(" (");
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    w.raw(" ");
                }
                fetch_att(w, it);
            }
            w.raw(")");
            // RFC 7162 §3.1.4.1, §3.2.6; RFC 9394 §3.3
            let mut mods: Vec<String> = Vec::new();
            if let Some(m) = changed_since {
                mods.push(format!("CHANGEDSINCE {m}"));
            }
            if *vanished {
                mods.push("VANISHED".into());
            }
            if let Some(r) = partial {
                mods.push(format!("PARTIAL {r}"));
            }
            if !mods.is_empty() {
                w.raw(" (");
                w.raw(&mods.join(" "));
                w.raw(")");
            }
        }
        CommandBody::Store {
            uid,
            set,
            op,
            silent,
            flags,
            unchanged_since,
        } => {
            w.raw(if *uid { "UID STORE " } else { "STORE " });
            w.set(set);
            w.raw(" ");
            if let Some(m) = unchanged_since {
                // RFC 7162 §3.1.3
                w.raw("(UNCHANGEDSINCE ");
                w.num(m);
                w.raw(") ");
            }
            w.raw(match op {
                FlagOp::Add => "+FLAGS",
                FlagOp::Remove => "-FLAGS",
                FlagOp::Set => "FLAGS",
            });
            if *silent {
                w.raw(".SILENT");
            }
            w.raw(" ");
            w.flag_list(flags);
        }
        CommandBody::Copy { uid, set, mailbox } | CommandBody::Move { uid, set, mailbox } => {
            if *uid {
                w.raw("UID ");
            }
            w.raw(if matches!(b, CommandBody::Copy { .. }) {
                "COPY "
            } else {
                "MOVE "
            });
            w.set(set);
            w.raw(" ");
            w.astring(mailbox.as_bytes());
        }
        CommandBody::Sort {
            uid,
            ret,
            criteria,
            key,
        } => {
            w.raw(if *uid { "UID SORT " } else { "SORT " });
            search_return(w, ret);
            w.raw("(");
            for (i, (k, reverse)) in criteria.iter().enumerate() {
                if i > 0 {
                    w.raw(" ");
                }
                if *reverse {
                    w.raw("REVERSE ");
                }
                w.raw(sort_key_name(*k));
            }
            w.raw(") UTF-8 ");
            top_level_keys(w, key);
        }
        CommandBody::Thread {
            uid,
            algorithm,
            key,
        } => {
            w.raw(if *uid { "UID THREAD " } else { "THREAD " });
            w.raw(match algorithm {
                ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT",
                ThreadAlgorithm::References => "REFERENCES",
            });
            w.raw(" UTF-8 ");
            top_level_keys(w, key);
        }
        CommandBody::Id(params) => {
            w.raw("ID ");
            if params.is_empty() {
                w.raw("NIL");
                return;
            }
            w.raw("(");
            for (i, (k, v)) in params.iter().enumerate() {
                if i > 0 {
                    w.raw(" ");
                }
                w.string(k.as_bytes());
                w.raw(" ");
                match v {
                    Some(v) => w.string(v.as_bytes()),
                    None => w.raw("NIL"),
                }
            }
            w.raw(")");
        }
        CommandBody::GetQuota(root) => {
            w.raw("GETQUOTA ");
            w.astring(root.as_bytes());
        }
        CommandBody::GetQuotaRoot(m) => {
            w.raw("GETQUOTAROOT ");
            w.astring(m.as_bytes());
        }
    }
}

/// LIST with RFC 5258 options: written in the extended form (selection list, patterns in
/// parentheses) whenever the parsed command was extended, so `extended` survives.
fn list(w: &mut W, reference: &str, patterns: &[String], o: &ListOptions) {
    w.raw("LIST ");
    if o.extended {
        let mut sel = Vec::new();
        if o.select_subscribed {
            sel.push("SUBSCRIBED");
        }
        if o.select_special_use {
            sel.push("SPECIAL-USE");
        }
        if o.recursive_match {
            sel.push("RECURSIVEMATCH");
        }
        w.raw("(");
        w.raw(&sel.join(" "));
        w.raw(") ");
    }
    w.astring(reference.as_bytes());
    w.raw(" ");
    if o.extended {
        w.raw("(");
    }
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            w.raw(" ");
        }
        w.list_mailbox(p.as_bytes());
    }
    if o.extended {
        w.raw(")");
    }
    let any_return = o.return_subscribed
        || o.return_children
        || o.return_special_use
        || o.return_status.is_some();
    if any_return {
        let mut parts: Vec<String> = Vec::new();
        if o.return_subscribed {
            parts.push("SUBSCRIBED".into());
        }
        if o.return_children {
            parts.push("CHILDREN".into());
        }
        if o.return_special_use {
            parts.push("SPECIAL-USE".into());
        }
        w.raw(" RETURN (");
        w.raw(&parts.join(" "));
        if let Some(items) = &o.return_status {
            if !parts.is_empty() {
                w.raw(" ");
            }
            w.raw("STATUS ");
            w.status_items(items);
        }
        w.raw(")");
    }
}

fn append_message(w: &mut W, m: &AppendMessage) {
    w.raw(" ");
    if !m.flags.is_empty() {
        w.flag_list(&m.flags);
        w.raw(" ");
    }
    if let Some(d) = m.date {
        w.raw("\"");
        w.raw(&date_time(d));
        w.raw("\" ");
    }
    if !m.catenate.is_empty() {
        // RFC 4469 §5
        w.raw("CATENATE (");
        for (i, p) in m.catenate.iter().enumerate() {
            if i > 0 {
                w.raw(" ");
            }
            match p {
                CatPart::Text(t) => {
                    w.raw("TEXT ");
                    w.literal(t);
                }
                CatPart::Url(u) => {
                    w.raw("URL ");
                    w.astring(u.as_bytes());
                }
            }
        }
        w.raw(")");
        return;
    }
    if m.binary {
        // RFC 3516 §4.4: literal8
        w.raw("~");
    }
    w.literal(&m.message);
}

/// `RETURN (...) ` of SEARCH (RFC 4731) and SORT (RFC 5267), with its trailing space.
fn search_return(w: &mut W, ret: &Option<SearchReturn>) {
    let Some(r) = ret else { return };
    let mut parts: Vec<String> = Vec::new();
    for (on, name) in [
        (r.min, "MIN"),
        (r.max, "MAX"),
        (r.all, "ALL"),
        (r.count, "COUNT"),
        (r.save, "SAVE"),
    ] {
        if on {
            parts.push(name.into());
        }
    }
    if let Some(p) = r.partial {
        parts.push(format!("PARTIAL {p}"));
    }
    w.raw("RETURN (");
    w.raw(&parts.join(" "));
    w.raw(") ");
}

fn sort_key_name(k: SortKey) -> &'static str {
    match k {
        SortKey::Arrival => "ARRIVAL",
        SortKey::Cc => "CC",
        SortKey::Date => "DATE",
        SortKey::From => "FROM",
        SortKey::Size => "SIZE",
        SortKey::Subject => "SUBJECT",
        SortKey::To => "TO",
        SortKey::DisplayFrom => "DISPLAYFROM",
        SortKey::DisplayTo => "DISPLAYTO",
    }
}

/// The keys of a command: an `And` of several is written as a space-separated list, as
/// the parser builds it from one.
fn top_level_keys(w: &mut W, key: &SearchKey) {
    match key {
        SearchKey::And(v) if !v.is_empty() => {
            for (i, k) in v.iter().enumerate() {
                if i > 0 {
                    w.raw(" ");
                }
                search_key(w, k);
            }
        }
        k => search_key(w, k),
    }
}

fn search_key(w: &mut W, k: &SearchKey) {
    let date = |d: &Date| d.format("%-d-%b-%Y").to_string();
    match k {
        SearchKey::All => w.raw("ALL"),
        SearchKey::And(v) => {
            w.raw("(");
            if v.is_empty() {
                w.raw("ALL");
            }
            for (i, k) in v.iter().enumerate() {
                if i > 0 {
                    w.raw(" ");
                }
                search_key(w, k);
            }
            w.raw(")");
        }
        SearchKey::Or(a, b) => {
            w.raw("OR ");
            search_key(w, a);
            w.raw(" ");
            search_key(w, b);
        }
        SearchKey::Not(a) => {
            w.raw("NOT ");
            search_key(w, a);
        }
        SearchKey::SeqSet(s) => w.set(s),
        SearchKey::Uid(s) => {
            w.raw("UID ");
            w.set(s);
        }
        SearchKey::Flag(f, set) => {
            let name = match *f {
                Flags::ANSWERED => "ANSWERED",
                Flags::DELETED => "DELETED",
                Flags::DRAFT => "DRAFT",
                Flags::FLAGGED => "FLAGGED",
                _ => "SEEN",
            };
            if !*set {
                w.raw("UN");
            }
            w.raw(name);
        }
        SearchKey::Keyword(kw, set) => {
            w.raw(if *set { "KEYWORD " } else { "UNKEYWORD " });
            w.raw(kw);
        }
        SearchKey::Recent => w.raw("RECENT"),
        SearchKey::New => w.raw("NEW"),
        SearchKey::Old => w.raw("OLD"),
        SearchKey::Before(d) => w.raw(&format!("BEFORE {}", date(d))),
        SearchKey::On(d) => w.raw(&format!("ON {}", date(d))),
        SearchKey::Since(d) => w.raw(&format!("SINCE {}", date(d))),
        SearchKey::SentBefore(d) => w.raw(&format!("SENTBEFORE {}", date(d))),
        SearchKey::SentOn(d) => w.raw(&format!("SENTON {}", date(d))),
        SearchKey::SentSince(d) => w.raw(&format!("SENTSINCE {}", date(d))),
        SearchKey::Larger(n) => w.raw(&format!("LARGER {n}")),
        SearchKey::Smaller(n) => w.raw(&format!("SMALLER {n}")),
        SearchKey::Header(name, v) => {
            // SUBJECT x parses as Header("Subject", x): HEADER Subject x is the same value
            w.raw("HEADER ");
            w.astring(name.as_bytes());
            w.raw(" ");
            w.astring(v.as_bytes());
        }
        SearchKey::Address(field, v) => {
            w.raw(match field {
                AddressField::From => "FROM ",
                AddressField::To => "TO ",
                AddressField::Cc => "CC ",
                AddressField::Bcc => "BCC ",
            });
            w.astring(v.as_bytes());
        }
        SearchKey::Body(v) => {
            w.raw("BODY ");
            w.astring(v.as_bytes());
        }
        SearchKey::Text(v) => {
            w.raw("TEXT ");
            w.astring(v.as_bytes());
        }
        SearchKey::ModSeq(n) => w.raw(&format!("MODSEQ {n}")),
    }
}

fn part_path(w: &mut W, part: &[u32]) {
    for (i, p) in part.iter().enumerate() {
        if i > 0 {
            w.raw(".");
        }
        w.num(p);
    }
}

fn partial(w: &mut W, p: &Option<(u32, u32)>) {
    if let Some((off, len)) = p {
        w.raw(&format!("<{off}.{len}>"));
    }
}

fn fetch_att(w: &mut W, a: &FetchAtt) {
    match a {
        FetchAtt::Envelope => w.raw("ENVELOPE"),
        FetchAtt::Flags => w.raw("FLAGS"),
        FetchAtt::InternalDate => w.raw("INTERNALDATE"),
        FetchAtt::Rfc822Size => w.raw("RFC822.SIZE"),
        FetchAtt::Rfc822 => w.raw("RFC822"),
        FetchAtt::Rfc822Header => w.raw("RFC822.HEADER"),
        FetchAtt::Rfc822Text => w.raw("RFC822.TEXT"),
        FetchAtt::Body => w.raw("BODY"),
        FetchAtt::BodyStructure => w.raw("BODYSTRUCTURE"),
        FetchAtt::Uid => w.raw("UID"),
        FetchAtt::ModSeq => w.raw("MODSEQ"),
        FetchAtt::BodySection {
            peek,
            section,
            partial: p,
        } => {
            w.raw(if *peek { "BODY.PEEK[" } else { "BODY[" });
            part_path(w, &section.part);
            if let Some(t) = &section.text {
                if !section.part.is_empty() {
                    w.raw(".");
                }
                match t {
                    SectionText::Header => w.raw("HEADER"),
                    SectionText::Text => w.raw("TEXT"),
                    SectionText::Mime => w.raw("MIME"),
                    SectionText::HeaderFields { not, fields } => {
                        w.raw(if *not {
                            "HEADER.FIELDS.NOT ("
                        } else {
                            "HEADER.FIELDS ("
                        });
                        for (i, f) in fields.iter().enumerate() {
                            if i > 0 {
                                w.raw(" ");
                            }
                            w.astring(f.as_bytes());
                        }
                        w.raw(")");
                    }
                }
            }
            w.raw("]");
            partial(w, p);
        }
        FetchAtt::Binary {
            peek,
            part,
            partial: p,
        } => {
            w.raw(if *peek { "BINARY.PEEK[" } else { "BINARY[" });
            part_path(w, part);
            w.raw("]");
            partial(w, p);
        }
        FetchAtt::BinarySize { part } => {
            w.raw("BINARY.SIZE[");
            part_path(w, part);
            w.raw("]");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_command;
    use super::*;

    /// parse -> encode -> parse gives the same value, and encoding that value again
    /// gives the same bytes.
    fn round_trip(input: &[u8]) {
        let a = match parse_command(input) {
            Ok(c) => c,
            Err(e) => panic!("{:?} does not parse: {e:?}", String::from_utf8_lossy(input)),
        };
        let wire = encode_command(&a);
        let b = parse_command(&wire).unwrap_or_else(|e| {
            panic!(
                "{:?} encoded as {:?}, which does not parse: {e:?}",
                String::from_utf8_lossy(input),
                String::from_utf8_lossy(&wire)
            )
        });
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&wire));
        assert_eq!(wire, encode_command(&b));
    }

    #[test]
    fn encode_command_round_trips_every_verb() {
        let table: &[&[u8]] = &[
            b"a CAPABILITY",
            b"a NOOP",
            b"a CHECK",
            b"a LOGOUT",
            b"a STARTTLS",
            b"a IDLE",
            b"a CLOSE",
            b"a UNSELECT",
            b"a NAMESPACE",
            b"a EXPUNGE",
            b"a UID EXPUNGE 1:3,7,*",
            b"a AUTHENTICATE plain",
            b"a AUTHENTICATE PLAIN AGFsaWNlAHB3",
            b"a LOGIN alice@example.test \"pass word\\\"\"",
            b"a LOGIN {5}\r\nal\r\ne {3}\r\np\x00w",
            b"a ENABLE CONDSTORE qresync",
            b"a SELECT INBOX",
            b"a EXAMINE \"with space\" (CONDSTORE)",
            b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
            b"a SELECT INBOX (CONDSTORE QRESYNC (1 0 1:* (1:3 4:6)))",
            b"a CREATE ~notes",
            b"a CREATE Archive (USE (\\Archive \\Junk))",
            b"a CREATE \"\"",
            b"a DELETE \"quote\\\"d\"",
            b"a RENAME a b/c",
            b"a SUBSCRIBE Lists/rust",
            b"a UNSUBSCRIBE \"R&AOk-sum&AOk-\"",
            b"a LIST \"\" *",
            b"a LIST \"\" %/x*",
            b"a LIST () \"\" *",
            b"a LIST (SUBSCRIBED RECURSIVEMATCH REMOTE) \"\" (INBOX \"a b\" %)",
            b"a LIST \"\" * RETURN (SUBSCRIBED CHILDREN SPECIAL-USE STATUS (MESSAGES SIZE))",
            b"a LIST \"\" * RETURN (STATUS (UIDNEXT))",
            b"a LIST \"\" * RETURN ()",
            b"a LSUB \"\" \"*\"",
            b"a STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT)",
            b"a APPEND INBOX {3}\r\nabc",
            b"a APPEND INBOX (\\Seen $Label1 \\Recent \\X) \" 8-Feb-1994 10:00:00 +0100\" ~{3}\r\na\x00c",
            b"a APPEND INBOX () {1}\r\nx (\\Draft) {2}\r\nyz",
            b"a APPEND INBOX UTF8 (~{2}\r\n\xc3\xa9)",
            b"a APPEND INBOX \"01-Jan-0000 00:00:00 +2359\" {1}\r\nx",
            b"a APPEND INBOX \"31-Dec-9999 23:59:59 -2359\" {1}\r\nx",
            b"a APPEND INBOX CATENATE (TEXT {3}\r\nabc URL \"/INBOX;UID=1/;SECTION=TEXT\")",
            b"a SEARCH ALL",
            b"a SEARCH RETURN () ALL",
            b"a SEARCH RETURN (SAVE) 1:5",
            b"a UID SEARCH RETURN (MIN MAX COUNT PARTIAL -1:-100) CHARSET ISO-8859-1 BODY \xe9t\xe9",
            b"a SEARCH CHARSET UTF-8 OR (FROM \"the builder\" SUBJECT x) NOT $ UNSEEN FLAGGED",
            b"a SEARCH (SEEN ANSWERED) DELETED DRAFT UNANSWERED UNDELETED UNDRAFT UNFLAGGED NEW OLD RECENT",
            b"a SEARCH KEYWORD $Forwarded UNKEYWORD Project~X LARGER 10 SMALLER 99999999999",
            b"a SEARCH BEFORE 1-Feb-1994 ON 01-Mar-1999 SINCE \"2-Mar-1999\" SENTBEFORE 1-Jan-0001",
            b"a SEARCH SENTON 31-Dec-9999 SENTSINCE 29-Feb-2000 UID 3:5 2,4:*",
            b"a SEARCH HEADER Message-ID \"\" TO {4}\r\na\r\nb BCC Andr\xc3\xa9 CC x TEXT y",
            b"a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
            b"a FETCH 1 ALL",
            b"a FETCH 1:* FAST",
            b"a FETCH 1 FULL",
            b"a UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 12345 VANISHED)",
            b"a FETCH 1 (ENVELOPE INTERNALDATE RFC822.SIZE RFC822 RFC822.HEADER RFC822.TEXT BODY BODYSTRUCTURE MODSEQ)",
            b"a FETCH 1 (BODY[] BODY.PEEK[1.2.MIME] BODY[3.HEADER]<0.100> BODY[TEXT] BODY[4.1])",
            b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject \"From\" X-Y)] BODY[1.HEADER.FIELDS.NOT (A)])",
            b"a FETCH $ (BINARY[] BINARY.PEEK[1.2]<5.10> BINARY.SIZE[2])",
            b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1)",
            b"a UID FETCH 1:* (FLAGS) (PARTIAL -1:-30)",
            b"a FETCH 1:* (UID) (CHANGEDSINCE 4 PARTIAL 1:500)",
            b"a STORE 1 FLAGS ()",
            b"a STORE 1:2 +FLAGS.SILENT \\Seen \\Answered",
            b"a UID STORE 1 (UNCHANGEDSINCE 5) -FLAGS (\\Deleted $Junk)",
            b"a COPY 1:2 Archive",
            b"a UID MOVE 3 \"Sent Items\"",
            b"a MOVE $ INBOX",
            b"a SORT (SUBJECT) UTF-8 ALL",
            b"a UID SORT RETURN (MIN COUNT) (REVERSE DATE FROM DISPLAYFROM DISPLAYTO ARRIVAL CC SIZE TO) US-ASCII SUBJECT apple SEEN",
            b"a THREAD ORDEREDSUBJECT UTF-8 ALL",
            b"a UID THREAD REFERENCES ISO-8859-1 SUBJECT caf\xe9",
            b"a ID NIL",
            b"a ID ()",
            b"a ID (\"name\" \"imapdiff\" \"version\" NIL \"x\" {2}\r\n\r\n)",
            b"a GETQUOTA \"\"",
            b"a GETQUOTAROOT INBOX",
            b"a SETQUOTA \"\" (STORAGE 100)",
        ];
        for t in table {
            round_trip(t);
        }
    }

    /// A small deterministic mutation fuzzer over the table above (the `imap_command`
    /// fuzz target does this at scale): whatever mutant parses must round-trip.
    #[test]
    fn encode_command_round_trips_mutated_commands() {
        let seeds: &[&[u8]] = &[
            b"a SELECT INBOX (CONDSTORE QRESYNC (1 0 1:* (1:3 4:6)))",
            b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX %) RETURN (CHILDREN STATUS (SIZE))",
            b"a APPEND INBOX (\\Seen) \" 8-Feb-1994 10:00:00 +0100\" ~{3}\r\na\x00c {1}\r\nx",
            b"a UID SEARCH RETURN (MIN PARTIAL 1:5) CHARSET ISO-8859-1 OR BODY \xe9 NOT (SEEN 1:*)",
            b"a FETCH 1 (BODY.PEEK[1.HEADER.FIELDS (A \"b c\")]<0.5> BINARY[2]<1.2>) (CHANGEDSINCE 3)",
            b"a UID STORE 1 (UNCHANGEDSINCE 5) -FLAGS.SILENT (\\Deleted $Junk)",
            b"a SORT RETURN (COUNT) (REVERSE DATE) UTF-8 SUBJECT {2}\r\nx\ny",
            b"a ID (\"name\" NIL) ",
        ];
        let tokens: &[&[u8]] = &[
            b" ",
            b"(",
            b")",
            b"\"",
            b"\\",
            b"{1}\r\n",
            b"~{1}\r\n",
            b"*",
            b"%",
            b"$",
            b":",
            b",",
            b"NIL",
            b"1",
            b"0",
            b"\r\n",
            b"\x00",
            b"\xff",
            b"~",
            b"]",
            b"[",
            b"<",
            b">",
            b".",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut parsed = 0;
        for _ in 0..50_000 {
            let mut v = seeds[next(seeds.len())].to_vec();
            for _ in 0..=next(3) {
                let at = next(v.len() + 1);
                match next(3) {
                    0 => {
                        let t = tokens[next(tokens.len())];
                        v.splice(at..at, t.iter().copied());
                    }
                    1 if at < v.len() => {
                        v.remove(at);
                    }
                    _ if at < v.len() => v[at] = tokens[next(tokens.len())][0],
                    _ => {}
                }
            }
            if parse_command(&v).is_ok() {
                parsed += 1;
                round_trip(&v);
            }
        }
        assert!(parsed > 1_000, "only {parsed} mutants parsed");
    }

    #[test]
    fn encode_command_keeps_octets_that_only_a_literal_can_carry() {
        let wire = encode_command(&parse_command(b"t LOGIN {3}\r\na\r\n {1}\r\n\x00").unwrap());
        assert_eq!(wire, b"t LOGIN {3}\r\na\r\n {1}\r\n\x00\r\n".to_vec());
        let wire = encode_command(&parse_command(b"t SELECT \"a\\\\b\"").unwrap());
        assert_eq!(wire, b"t SELECT \"a\\\\b\"\r\n".to_vec());
    }
}
