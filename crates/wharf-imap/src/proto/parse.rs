//! The command grammar (RFC 9051 §9, plus the extensions' ABNF), over one complete
//! command as the [framer](super::frame) delivers it: every line and every literal, in
//! order, literals inline after their `{n}` CRLF announcement.
//!
//! Pure and bounded: no allocation grows past the input, search keys nest at most
//! [`MAX_NESTING`] deep, sequence sets hold at most [`SequenceSet::MAX_RANGES`] ranges. A
//! syntax error is a [`ParseError`] value that carries the tag when one could be read, so
//! the session can answer `tag BAD ...` and go on.

use super::command::*;
use wharf_store::{FlagOp, Flags, Secret};

/// Deepest parenthesis nesting accepted in SEARCH keys and FETCH lists.
pub const MAX_NESTING: usize = 32;
/// Most search keys in one SEARCH.
pub const MAX_SEARCH_KEYS: usize = 1_000;
/// Most parts in one CATENATE list.
pub const MAX_CATENATE_PARTS: usize = 1_000;

/// A command that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The tag, if the command got that far (else the reply is untagged `* BAD`).
    pub tag: Option<Tag>,
    pub message: String,
}

type PResult<T> = Result<T, String>;

/// RFC 9051 §9 ATOM-CHAR: any CHAR except atom-specials.
pub fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// ASTRING-CHAR = ATOM-CHAR / resp-specials.
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// Cursor over one command.
struct P<'a> {
    s: &'a [u8],
    i: usize,
    search_keys: usize,
    /// The SEARCH charset is ISO-8859-1: search strings are decoded from it.
    latin1: bool,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else if b == b' ' {
            Err("Expected a space".into())
        } else {
            Err(format!("Expected '{}'", b as char))
        }
    }
    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
    }
    fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err("Unexpected extra arguments".into())
        }
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.i < self.s.len() && f(self.s[self.i]) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    /// Case-insensitive keyword followed by a non-atom char.
    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.i + kw.len();
        if end <= self.s.len()
            && self.s[self.i..end].eq_ignore_ascii_case(kw.as_bytes())
            && self
                .s
                .get(end)
                .is_none_or(|&b| !is_atom_char(b) || b == b'.')
        {
            self.i = end;
            true
        } else {
            false
        }
    }
    fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err("Expected an atom".into())
        } else {
            Ok(a)
        }
    }
    fn atom_upper(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }
    fn number(&mut self) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 10 {
            return Err("Expected a number".into());
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| "Number out of range".into())
    }
    fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 20 {
            return Err("Expected a number".into());
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&n| n < (1 << 63))
            .ok_or_else(|| "Number out of range".into())
    }
    fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err("Zero is not a valid number here".into()),
            n => Ok(n),
        }
    }

    /// quoted / literal, as raw bytes.
    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ if self.at_literal8() => self.literal(),
            _ => Err("Expected a string".into()),
        }
    }
    /// `~{`: a literal8 (RFC 3516). A `~` before anything else is an ATOM-CHAR (RFC 9051
    /// §9), as in `SELECT ~foo`.
    fn at_literal8(&self) -> bool {
        self.peek() == Some(b'~') && self.s.get(self.i + 1) == Some(&b'{')
    }
    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return Err("Unterminated quoted string".into());
                }
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.i += 1;
                        }
                        _ => return Err("Invalid escape in quoted string".into()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
    /// `{n}` CRLF octets, `{n+}` (LITERAL+), `~{n}` (literal8, RFC 3516).
    fn literal(&mut self) -> PResult<Vec<u8>> {
        self.eat(b'~');
        self.expect(b'{')?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        self.eat(b'\r');
        self.expect(b'\n')?;
        if self.s.len() - self.i < n {
            return Err("Literal shorter than announced".into());
        }
        let v = self.s[self.i..self.i + n].to_vec();
        self.i += n;
        Ok(v)
    }
    fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ if self.at_literal8() => self.string(),
            _ => {
                // 8-bit octets are accepted in atoms too: UTF-8 clients (RFC 6855)
                // send them unquoted more often than the grammar allows.
                let a = self.take_while(|b| is_astring_char(b) || b >= 0x80);
                if a.is_empty() {
                    Err("Expected a string".into())
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }
    fn astring_utf8(&mut self) -> PResult<String> {
        String::from_utf8(self.astring()?).map_err(|_| "String is not valid UTF-8".to_string())
    }
    fn nstring(&mut self) -> PResult<Option<String>> {
        if self.keyword("NIL") {
            return Ok(None);
        }
        let s = self.string()?;
        Ok(Some(String::from_utf8_lossy(&s).into_owned()))
    }
    fn mailbox(&mut self) -> PResult<String> {
        self.astring_utf8()
    }
    fn list_mailbox(&mut self) -> PResult<String> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.astring_utf8(),
            _ => {
                // 8-bit octets as in `astring` (RFC 6855 clients send them unquoted).
                let a = self.take_while(|b| is_list_char(b) || b >= 0x80);
                if a.is_empty() {
                    return Err("Expected a mailbox pattern".into());
                }
                Ok(String::from_utf8_lossy(a).into_owned())
            }
        }
    }

    fn seq_num(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            Ok(SeqNum::Num(self.nz_number()?))
        }
    }
    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let mut v = Vec::new();
        loop {
            let a = self.seq_num()?;
            let b = if self.eat(b':') { self.seq_num()? } else { a };
            v.push((a, b));
            if v.len() > SequenceSet::MAX_RANGES {
                return Err("Sequence set too long".into());
            }
            if !self.eat(b',') {
                break;
            }
        }
        Ok(SequenceSet(v))
    }

    fn flag(&mut self) -> PResult<Flag> {
        if self.eat(b'\\') {
            let name = self.atom()?;
            let name = String::from_utf8_lossy(name);
            let full = format!("\\{name}");
            if let Some(f) = Flags::parse_system(&full) {
                return Ok(Flag::System(f));
            }
            if full.eq_ignore_ascii_case("\\Recent") {
                return Ok(Flag::Recent);
            }
            return Ok(Flag::Extension(full));
        }
        let a = self.atom()?;
        Ok(Flag::Keyword(String::from_utf8_lossy(a).into_owned()))
    }
    fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.expect(b'(')?;
        let mut v = Vec::new();
        if self.eat(b')') {
            return Ok(v);
        }
        loop {
            v.push(self.flag()?);
            if v.len() > 1000 {
                return Err("Too many flags".into());
            }
            if self.eat(b')') {
                return Ok(v);
            }
            self.sp()?;
        }
    }

    /// `date` = date-text / DQUOTE date-text DQUOTE, date-text = d-Mon-yyyy.
    fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let t = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
        if quoted {
            self.expect(b'"')?;
        }
        let s = std::str::from_utf8(t).map_err(|_| "Invalid date")?;
        super::date::parse_date(s).ok_or_else(|| "Invalid date".into())
    }
}

/// Parses one complete command (lines and literals as framed, final CRLF included or not).
pub fn parse_command(input: &[u8]) -> Result<Command, ParseError> {
    let mut s = input;
    if let Some(x) = s.strip_suffix(b"\n") {
        s = x.strip_suffix(b"\r").unwrap_or(x);
    }
    let mut p = P {
        s,
        i: 0,
        search_keys: 0,
        latin1: false,
    };
    let tag_bytes = p.take_while(|b| b != b' ');
    let Some(tag) = Tag::parse(tag_bytes) else {
        return Err(ParseError {
            tag: None,
            message: "Invalid tag".into(),
        });
    };
    let result = (|| {
        p.sp()?;
        let body = command_body(&mut p)?;
        p.end()?;
        Ok(body)
    })();
    match result {
        Ok(body) => Ok(Command { tag, body }),
        Err(message) => Err(ParseError {
            tag: Some(tag),
            message,
        }),
    }
}

fn command_body(p: &mut P<'_>) -> PResult<CommandBody> {
    let verb = p.atom_upper()?;
    let body = match verb.as_str() {
        "CAPABILITY" => CommandBody::Capability,
        "NOOP" => CommandBody::Noop,
        "LOGOUT" => CommandBody::Logout,
        "STARTTLS" => CommandBody::StartTls,
        "IDLE" => CommandBody::Idle,
        "CLOSE" => CommandBody::Close,
        "UNSELECT" => CommandBody::Unselect,
        "NAMESPACE" => CommandBody::Namespace,
        "CHECK" => CommandBody::Noop,
        "EXPUNGE" => CommandBody::Expunge { uids: None },
        "AUTHENTICATE" => {
            p.sp()?;
            let mechanism = p.atom_upper()?;
            let initial = if p.eat(b' ') {
                let v =
                    p.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                if v.is_empty() {
                    return Err("Invalid initial response".into());
                }
                Some(v.to_vec())
            } else {
                None
            };
            CommandBody::Authenticate { mechanism, initial }
        }
        "LOGIN" => {
            p.sp()?;
            let user = p.astring_utf8()?;
            p.sp()?;
            let password = p.astring_utf8()?;
            CommandBody::Login {
                user,
                password: Secret::new(password),
            }
        }
        "ENABLE" => {
            let mut caps = Vec::new();
            while p.eat(b' ') {
                caps.push(p.atom_upper()?);
                if caps.len() > 100 {
                    return Err("Too many capabilities".into());
                }
            }
            if caps.is_empty() {
                return Err("ENABLE needs a capability".into());
            }
            CommandBody::Enable(caps)
        }
        "SELECT" | "EXAMINE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let (mut condstore, mut qresync) = (false, None);
            if p.eat(b' ') {
                p.expect(b'(')?;
                loop {
                    let name = p.atom_upper()?;
                    match name.as_str() {
                        "CONDSTORE" => condstore = true,
                        "QRESYNC" => {
                            p.sp()?;
                            p.expect(b'(')?;
                            let uidvalidity = p.nz_number()?;
                            p.sp()?;
                            let modseq = p.number64()?;
                            let mut known_uids = None;
                            if p.eat(b' ') {
                                if p.peek() == Some(b'(') {
                                    skip_parens(p)?;
                                } else {
                                    known_uids = Some(p.sequence_set()?);
                                    if p.eat(b' ') {
                                        skip_parens(p)?;
                                    }
                                }
                            }
                            p.expect(b')')?;
                            qresync = Some(QResync {
                                uidvalidity,
                                modseq,
                                known_uids,
                            });
                        }
                        _ => return Err(format!("Unknown SELECT parameter {name}")),
                    }
                    if p.eat(b')') {
                        break;
                    }
                    p.sp()?;
                }
            }
            CommandBody::Select {
                mailbox,
                read_only: verb == "EXAMINE",
                condstore,
                qresync,
            }
        }
        "CREATE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let mut special_use = Vec::new();
            if p.eat(b' ') {
                // RFC 6154 §3: CREATE name (USE (\Drafts ...))
                p.expect(b'(')?;
                if !p.keyword("USE") {
                    return Err("Unknown CREATE parameter".into());
                }
                p.sp()?;
                p.expect(b'(')?;
                loop {
                    p.expect(b'\\')?;
                    let a = p.atom()?;
                    special_use.push(format!("\\{}", String::from_utf8_lossy(a)));
                    if p.eat(b')') {
                        break;
                    }
                    p.sp()?;
                }
                p.expect(b')')?;
            }
            CommandBody::Create {
                mailbox,
                special_use,
            }
        }
        "DELETE" => {
            p.sp()?;
            CommandBody::Delete(p.mailbox()?)
        }
        "RENAME" => {
            p.sp()?;
            let from = p.mailbox()?;
            p.sp()?;
            let to = p.mailbox()?;
            CommandBody::Rename { from, to }
        }
        "SUBSCRIBE" => {
            p.sp()?;
            CommandBody::Subscribe(p.mailbox()?)
        }
        "UNSUBSCRIBE" => {
            p.sp()?;
            CommandBody::Unsubscribe(p.mailbox()?)
        }
        "LIST" => list(p)?,
        "LSUB" => {
            p.sp()?;
            let reference = p.mailbox()?;
            p.sp()?;
            let pattern = p.list_mailbox()?;
            CommandBody::Lsub { reference, pattern }
        }
        "STATUS" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            p.sp()?;
            let items = status_items(p)?;
            CommandBody::Status { mailbox, items }
        }
        "APPEND" => append(p)?,
        "SEARCH" => search(p, false)?,
        "FETCH" => fetch(p, false)?,
        "STORE" => store(p, false)?,
        "COPY" | "MOVE" => copy(p, false, verb == "MOVE")?,
        "UID" => {
            p.sp()?;
            let sub = p.atom_upper()?;
            match sub.as_str() {
                "FETCH" => fetch(p, true)?,
                "STORE" => store(p, true)?,
                "SEARCH" => search(p, true)?,
                "COPY" => copy(p, true, false)?,
                "MOVE" => copy(p, true, true)?,
                "SORT" => sort(p, true)?,
                "THREAD" => thread(p, true)?,
                "EXPUNGE" => {
                    p.sp()?;
                    CommandBody::Expunge {
                        uids: Some(p.sequence_set()?),
                    }
                }
                _ => return Err(format!("Unknown UID command {sub}")),
            }
        }
        "ID" => {
            p.sp()?;
            let mut params = Vec::new();
            if !p.keyword("NIL") {
                p.expect(b'(')?;
                if !p.eat(b')') {
                    loop {
                        let k = String::from_utf8_lossy(&p.string()?).into_owned();
                        p.sp()?;
                        let v = p.nstring()?;
                        params.push((k, v));
                        if params.len() > 30 {
                            return Err("Too many ID parameters".into());
                        }
                        if p.eat(b')') {
                            break;
                        }
                        p.sp()?;
                    }
                }
            }
            CommandBody::Id(params)
        }
        "SORT" => sort(p, false)?,
        "THREAD" => thread(p, false)?,
        "GETQUOTA" => {
            p.sp()?;
            CommandBody::GetQuota(p.astring_utf8()?)
        }
        "GETQUOTAROOT" => {
            p.sp()?;
            CommandBody::GetQuotaRoot(p.mailbox()?)
        }
        "SETQUOTA" => {
            // Parsed loosely: always refused, the quota is the operator's.
            p.i = p.s.len();
            CommandBody::SetQuota
        }
        _ => return Err(format!("Unknown command {verb}")),
    };
    Ok(body)
}

/// Skips one parenthesized list (QRESYNC's seq-match-data, which we do not use).
fn skip_parens(p: &mut P<'_>) -> PResult<()> {
    p.expect(b'(')?;
    let mut depth = 1;
    while depth > 0 {
        match p.peek() {
            None => return Err("Unbalanced parentheses".into()),
            Some(b'(') => depth += 1,
            Some(b')') => depth -= 1,
            _ => {}
        }
        p.i += 1;
    }
    Ok(())
}

fn status_item(name: &str) -> PResult<StatusItem> {
    Ok(match name {
        "MESSAGES" => StatusItem::Messages,
        "RECENT" => StatusItem::Recent,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "DELETED" => StatusItem::Deleted,
        "SIZE" => StatusItem::Size,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        "APPENDLIMIT" => StatusItem::AppendLimit,
        _ => return Err(format!("Unknown STATUS item {name}")),
    })
}

fn status_items(p: &mut P<'_>) -> PResult<Vec<StatusItem>> {
    p.expect(b'(')?;
    let mut items = Vec::new();
    loop {
        let name = p.atom_upper()?;
        items.push(status_item(&name)?);
        if items.len() > 20 {
            return Err("Too many STATUS items".into());
        }
        if p.eat(b')') {
            return Ok(items);
        }
        p.sp()?;
    }
}

/// LIST, with RFC 5258 selection and return options.
fn list(p: &mut P<'_>) -> PResult<CommandBody> {
    let mut options = ListOptions::default();
    p.sp()?;
    if p.eat(b'(') {
        options.extended = true;
        if !p.eat(b')') {
            loop {
                let o = p.atom_upper()?;
                match o.as_str() {
                    "SUBSCRIBED" => options.select_subscribed = true,
                    "REMOTE" => {}
                    "RECURSIVEMATCH" => options.recursive_match = true,
                    "SPECIAL-USE" => options.select_special_use = true,
                    _ => return Err(format!("Unknown LIST selection option {o}")),
                }
                if p.eat(b')') {
                    break;
                }
                p.sp()?;
            }
        }
        // RFC 5258 §3: RECURSIVEMATCH needs another selection option.
        if options.recursive_match && !options.select_subscribed && !options.select_special_use {
            return Err("RECURSIVEMATCH needs another selection option".into());
        }
        p.sp()?;
    }
    let reference = p.mailbox()?;
    p.sp()?;
    let mut patterns = Vec::new();
    if p.eat(b'(') {
        options.extended = true;
        loop {
            patterns.push(p.list_mailbox()?);
            if patterns.len() > 100 {
                return Err("Too many patterns".into());
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    } else {
        patterns.push(p.list_mailbox()?);
    }
    if p.eat(b' ') {
        if !p.keyword("RETURN") {
            return Err("Expected RETURN".into());
        }
        options.extended = true;
        p.sp()?;
        p.expect(b'(')?;
        if !p.eat(b')') {
            loop {
                let o = p.atom_upper()?;
                match o.as_str() {
                    "SUBSCRIBED" => options.return_subscribed = true,
                    "CHILDREN" => options.return_children = true,
                    "SPECIAL-USE" => options.return_special_use = true,
                    "STATUS" => {
                        p.sp()?;
                        options.return_status = Some(status_items(p)?);
                    }
                    _ => return Err(format!("Unknown LIST return option {o}")),
                }
                if p.eat(b')') {
                    break;
                }
                p.sp()?;
            }
        }
    }
    Ok(CommandBody::List {
        reference,
        patterns,
        options,
    })
}

fn append(p: &mut P<'_>) -> PResult<CommandBody> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    let mut messages = Vec::new();
    // RFC 3502 MULTIAPPEND: append-message *(SP append-message).
    while p.eat(b' ') {
        let mut flags = Vec::new();
        if p.peek() == Some(b'(') {
            flags = p.flag_list()?;
            p.sp()?;
        }
        let mut date = None;
        if p.peek() == Some(b'"') {
            let raw = p.quoted()?;
            let s = std::str::from_utf8(&raw).map_err(|_| "Invalid date-time")?;
            date = Some(super::date::parse_date_time(s).ok_or("Invalid date-time")?);
            p.sp()?;
        }
        // RFC 4469 §5: CATENATE (cat-part *(SP cat-part)).
        if p.keyword("CATENATE") {
            p.sp()?;
            p.expect(b'(')?;
            let mut parts = Vec::new();
            loop {
                if p.keyword("TEXT") {
                    p.sp()?;
                    parts.push(CatPart::Text(p.literal()?));
                } else if p.keyword("URL") {
                    p.sp()?;
                    parts.push(CatPart::Url(p.astring_utf8()?));
                } else {
                    return Err("Expected TEXT or URL".into());
                }
                if parts.len() > MAX_CATENATE_PARTS {
                    return Err("Too many CATENATE parts".into());
                }
                if p.eat(b')') {
                    break;
                }
                p.sp()?;
            }
            messages.push(AppendMessage {
                flags,
                date,
                message: Vec::new(),
                binary: false,
                catenate: parts,
            });
            if messages.len() > 1000 {
                return Err("Too many messages in one APPEND".into());
            }
            continue;
        }
        // RFC 6855 §4: UTF8 (literal8) carries an internationalized message.
        let utf8 = p.keyword("UTF8");
        if utf8 {
            p.sp()?;
            p.expect(b'(')?;
        }
        let binary = p.peek() == Some(b'~');
        let message = p.literal()?;
        if utf8 {
            p.expect(b')')?;
        }
        messages.push(AppendMessage {
            flags,
            date,
            message,
            binary,
            catenate: Vec::new(),
        });
        if messages.len() > 1000 {
            return Err("Too many messages in one APPEND".into());
        }
    }
    if messages.is_empty() {
        return Err("APPEND needs a message".into());
    }
    Ok(CommandBody::Append { mailbox, messages })
}

fn copy(p: &mut P<'_>, uid: bool, is_move: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mailbox = p.mailbox()?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}

fn store(p: &mut P<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mut unchanged_since = None;
    if p.eat(b'(') {
        // RFC 7162 §3.1.3 store-modifiers
        loop {
            let m = p.atom_upper()?;
            if m != "UNCHANGEDSINCE" {
                return Err(format!("Unknown STORE modifier {m}"));
            }
            p.sp()?;
            unchanged_since = Some(p.number64()?);
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
        p.sp()?;
    }
    let op = if p.eat(b'+') {
        FlagOp::Add
    } else if p.eat(b'-') {
        FlagOp::Remove
    } else {
        FlagOp::Set
    };
    let item = p.atom_upper()?;
    let silent = match item.as_str() {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err("Expected FLAGS or FLAGS.SILENT".into()),
    };
    p.sp()?;
    let flags = if p.peek() == Some(b'(') {
        p.flag_list()?
    } else {
        let mut v = vec![p.flag()?];
        while p.eat(b' ') {
            v.push(p.flag()?);
            if v.len() > 1000 {
                return Err("Too many flags".into());
            }
        }
        v
    };
    Ok(CommandBody::Store {
        uid,
        set,
        op,
        silent,
        flags,
        unchanged_since,
    })
}

fn fetch(p: &mut P<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mut items = Vec::new();
    if p.eat(b'(') {
        loop {
            items.push(fetch_att(p)?);
            if items.len() > 100 {
                return Err("Too many FETCH items".into());
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    } else if p.keyword("ALL") {
        items = vec![
            FetchAtt::Flags,
            FetchAtt::InternalDate,
            FetchAtt::Rfc822Size,
            FetchAtt::Envelope,
        ];
    } else if p.keyword("FAST") {
        items = vec![
            FetchAtt::Flags,
            FetchAtt::InternalDate,
            FetchAtt::Rfc822Size,
        ];
    } else if p.keyword("FULL") {
        items = vec![
            FetchAtt::Flags,
            FetchAtt::InternalDate,
            FetchAtt::Rfc822Size,
            FetchAtt::Envelope,
            FetchAtt::Body,
        ];
    } else {
        items.push(fetch_att(p)?);
    }
    let (mut changed_since, mut vanished, mut partial) = (None, false, None);
    if p.eat(b' ') {
        // RFC 7162 §3.1.4.1 / §3.2.6 fetch-modifiers
        p.expect(b'(')?;
        loop {
            let m = p.atom_upper()?;
            match m.as_str() {
                "CHANGEDSINCE" => {
                    p.sp()?;
                    changed_since = Some(p.number64()?);
                }
                "VANISHED" => vanished = true,
                // RFC 9394 §3.3: fetch-modifier =/ "PARTIAL" SP partial-range (for FETCH
                // and UID FETCH), at most once.
                "PARTIAL" if partial.is_none() => {
                    p.sp()?;
                    partial = Some(partial_range(p)?);
                }
                _ => return Err(format!("Unknown FETCH modifier {m}")),
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
        if vanished && (!uid || changed_since.is_none()) {
            return Err("VANISHED needs UID FETCH with CHANGEDSINCE".into());
        }
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
        partial,
    })
}

fn fetch_att(p: &mut P<'_>) -> PResult<FetchAtt> {
    let start = p.i;
    let name = p
        .take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        .to_ascii_uppercase();
    let name = String::from_utf8_lossy(&name).into_owned();
    Ok(match name.as_str() {
        "ENVELOPE" => FetchAtt::Envelope,
        "FLAGS" => FetchAtt::Flags,
        "INTERNALDATE" => FetchAtt::InternalDate,
        "RFC822.SIZE" => FetchAtt::Rfc822Size,
        "RFC822" => FetchAtt::Rfc822,
        "RFC822.HEADER" => FetchAtt::Rfc822Header,
        "RFC822.TEXT" => FetchAtt::Rfc822Text,
        "BODYSTRUCTURE" => FetchAtt::BodyStructure,
        "UID" => FetchAtt::Uid,
        "MODSEQ" => FetchAtt::ModSeq,
        "BODY" | "BODY.PEEK" if p.peek() == Some(b'[') => {
            let section = section(p)?;
            let partial = partial(p)?;
            FetchAtt::BodySection {
                peek: name == "BODY.PEEK",
                section,
                partial,
            }
        }
        "BODY" => FetchAtt::Body,
        "BINARY" | "BINARY.PEEK" | "BINARY.SIZE" => {
            p.expect(b'[')?;
            let part = section_part(p)?;
            p.expect(b']')?;
            if name == "BINARY.SIZE" {
                FetchAtt::BinarySize { part }
            } else {
                FetchAtt::Binary {
                    peek: name == "BINARY.PEEK",
                    part,
                    partial: partial(p)?,
                }
            }
        }
        _ => {
            p.i = start;
            return Err(format!("Unknown FETCH item {name}"));
        }
    })
}

fn section_part(p: &mut P<'_>) -> PResult<Vec<u32>> {
    let mut part = Vec::new();
    while p.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(p.nz_number()?);
        if part.len() > 100 {
            return Err("Section too deep".into());
        }
        if !p.eat(b'.') {
            break;
        }
    }
    Ok(part)
}

fn section(p: &mut P<'_>) -> PResult<Section> {
    p.expect(b'[')?;
    let part = section_part(p)?;
    let ends_with_dot = p.i > 0 && p.s[p.i - 1] == b'.';
    let mut text = None;
    if p.peek() != Some(b']') {
        if !part.is_empty() && !ends_with_dot {
            return Err("Invalid section".into());
        }
        let t = p.atom_upper()?;
        text = Some(match t.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !part.is_empty() => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                p.sp()?;
                p.expect(b'(')?;
                let mut fields = Vec::new();
                loop {
                    fields.push(p.astring_utf8()?);
                    if fields.len() > 1000 {
                        return Err("Too many header fields".into());
                    }
                    if p.eat(b')') {
                        break;
                    }
                    p.sp()?;
                }
                SectionText::HeaderFields {
                    not: t == "HEADER.FIELDS.NOT",
                    fields,
                }
            }
            _ => return Err(format!("Invalid section text {t}")),
        });
    } else if ends_with_dot {
        return Err("Invalid section".into());
    }
    p.expect(b']')?;
    Ok(Section { part, text })
}

fn partial(p: &mut P<'_>) -> PResult<Option<(u32, u32)>> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let offset = p.number()?;
    p.expect(b'.')?;
    let len = p.nz_number()?;
    p.expect(b'>')?;
    Ok(Some((offset, len)))
}

/// `RETURN (...)` of SEARCH (RFC 4731 §3) and SORT (RFC 5267 §3), with a space after
/// it, if there is one.
fn search_return(p: &mut P<'_>) -> PResult<Option<SearchReturn>> {
    if !p.keyword("RETURN") {
        return Ok(None);
    }
    p.sp()?;
    p.expect(b'(')?;
    let mut r = SearchReturn::default();
    if !p.eat(b')') {
        loop {
            match p.atom_upper()?.as_str() {
                "MIN" => r.min = true,
                "MAX" => r.max = true,
                "ALL" => r.all = true,
                "COUNT" => r.count = true,
                "SAVE" => r.save = true,
                "PARTIAL" => {
                    p.sp()?;
                    r.partial = Some(partial_range(p)?);
                }
                o => return Err(format!("Unknown RETURN option {o}")),
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    // RFC 4731 §3.1: an empty list means ALL (RFC 5182: SAVE alone does not).
    if r.is_empty() && !r.save {
        r.all = true;
    }
    p.sp()?;
    Ok(Some(r))
}

/// RFC 9394 §3: `partial-range = nz-number ":" nz-number / "-" nz-number ":" "-" nz-number`;
/// `500:400` is the same as `400:500`.
fn partial_range(p: &mut P<'_>) -> PResult<PartialRange> {
    let last = p.eat(b'-');
    let a = p.nz_number()?;
    p.expect(b':')?;
    if last {
        p.expect(b'-')?;
    }
    let b = p.nz_number()?;
    let (a, b) = (a.min(b), a.max(b));
    Ok(if last {
        PartialRange::Last(a, b)
    } else {
        PartialRange::First(a, b)
    })
}

fn search(p: &mut P<'_>, uid: bool) -> PResult<CommandBody> {
    let mut keys = Vec::new();
    p.sp()?;
    let ret = search_return(p)?;
    if p.keyword("CHARSET") {
        p.sp()?;
        let cs = String::from_utf8_lossy(&p.astring()?).to_ascii_uppercase();
        set_charset(p, &cs)?;
        p.sp()?;
    }
    loop {
        keys.push(search_key(p, 0)?);
        if !p.eat(b' ') {
            break;
        }
    }
    let key = if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    };
    Ok(CommandBody::Search { uid, ret, key })
}

/// `charset SP search-key *(SP search-key)` as SORT and THREAD take it (RFC 5256 §3).
fn charset_and_keys(p: &mut P<'_>) -> PResult<SearchKey> {
    let cs = String::from_utf8_lossy(&p.astring()?).to_ascii_uppercase();
    set_charset(p, &cs)?;
    let mut keys = Vec::new();
    while p.eat(b' ') {
        keys.push(search_key(p, 0)?);
    }
    Ok(match keys.len() {
        0 => return Err("Expected a search key".into()),
        1 => keys.remove(0),
        _ => SearchKey::And(keys),
    })
}

fn sort(p: &mut P<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let ret = search_return(p)?;
    p.expect(b'(')?;
    let mut criteria = Vec::new();
    let mut reverse = false;
    loop {
        let k = p.atom_upper()?;
        let key = match k.as_str() {
            "REVERSE" => {
                reverse = true;
                p.sp()?;
                continue;
            }
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return Err(format!("Unknown sort criterion {k}")),
        };
        criteria.push((key, reverse));
        reverse = false;
        if criteria.len() > 20 {
            return Err("Too many sort criteria".into());
        }
        if p.eat(b')') {
            break;
        }
        p.sp()?;
    }
    p.sp()?;
    let key = charset_and_keys(p)?;
    Ok(CommandBody::Sort {
        uid,
        ret,
        criteria,
        key,
    })
}

fn thread(p: &mut P<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let a = p.atom_upper()?;
    let algorithm = match a.as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        _ => return Err(format!("Unknown thread algorithm {a}")),
    };
    p.sp()?;
    let key = charset_and_keys(p)?;
    Ok(CommandBody::Thread {
        uid,
        algorithm,
        key,
    })
}

/// RFC 9051 §6.4.4: US-ASCII and UTF-8 are required; ISO-8859-1 is accepted too (some
/// clients still send it). Others are refused with BADCHARSET (the session turns this
/// message prefix into the response code of a tagged NO).
fn set_charset(p: &mut P<'_>, cs: &str) -> PResult<()> {
    match cs {
        "UTF-8" | "US-ASCII" => Ok(()),
        "ISO-8859-1" | "LATIN1" => {
            p.latin1 = true;
            Ok(())
        }
        _ => Err(format!(
            "[BADCHARSET (UTF-8 US-ASCII ISO-8859-1)] Unsupported charset {cs}"
        )),
    }
}

/// A search string in the command's charset. RFC 9051 §6.4.4: the strings must be
/// valid in that charset, so invalid UTF-8 (UTF-8, US-ASCII and no CHARSET, whose
/// 8-bit strings are taken as UTF-8) is a syntax error: decoding it lossily would
/// match messages whose own bad octets became U+FFFD.
fn search_string(p: &mut P<'_>) -> PResult<String> {
    p.sp()?;
    let bytes = p.astring()?;
    if p.latin1 {
        return Ok(bytes.iter().map(|&b| b as char).collect());
    }
    String::from_utf8(bytes).map_err(|_| "Search string is not valid UTF-8".to_string())
}

fn search_key(p: &mut P<'_>, depth: usize) -> PResult<SearchKey> {
    if depth > MAX_NESTING {
        return Err("Search keys nested too deeply".into());
    }
    p.search_keys += 1;
    if p.search_keys > MAX_SEARCH_KEYS {
        return Err("Too many search keys".into());
    }
    if p.eat(b'(') {
        let mut v = Vec::new();
        loop {
            v.push(search_key(p, depth + 1)?);
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
        return Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            SearchKey::And(v)
        });
    }
    if matches!(p.peek(), Some(b'0'..=b'9') | Some(b'*') | Some(b'$')) {
        return Ok(SearchKey::SeqSet(p.sequence_set()?));
    }
    let k = p.atom_upper()?;
    Ok(match k.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Flag(Flags::ANSWERED, true),
        "DELETED" => SearchKey::Flag(Flags::DELETED, true),
        "DRAFT" => SearchKey::Flag(Flags::DRAFT, true),
        "FLAGGED" => SearchKey::Flag(Flags::FLAGGED, true),
        "SEEN" => SearchKey::Flag(Flags::SEEN, true),
        "UNANSWERED" => SearchKey::Flag(Flags::ANSWERED, false),
        "UNDELETED" => SearchKey::Flag(Flags::DELETED, false),
        "UNDRAFT" => SearchKey::Flag(Flags::DRAFT, false),
        "UNFLAGGED" => SearchKey::Flag(Flags::FLAGGED, false),
        "UNSEEN" => SearchKey::Flag(Flags::SEEN, false),
        "RECENT" => SearchKey::Recent,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "KEYWORD" | "UNKEYWORD" => {
            p.sp()?;
            let a = String::from_utf8_lossy(p.atom()?).into_owned();
            SearchKey::Keyword(a, k == "KEYWORD")
        }
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
            p.sp()?;
            let d = p.date()?;
            match k.as_str() {
                "BEFORE" => SearchKey::Before(d),
                "ON" => SearchKey::On(d),
                "SINCE" => SearchKey::Since(d),
                "SENTBEFORE" => SearchKey::SentBefore(d),
                "SENTON" => SearchKey::SentOn(d),
                _ => SearchKey::SentSince(d),
            }
        }
        "LARGER" | "SMALLER" => {
            p.sp()?;
            let n = p.number64()?;
            if k == "LARGER" {
                SearchKey::Larger(n)
            } else {
                SearchKey::Smaller(n)
            }
        }
        "FROM" | "TO" | "CC" | "BCC" => {
            let v = search_string(p)?;
            let field = match k.as_str() {
                "FROM" => AddressField::From,
                "TO" => AddressField::To,
                "CC" => AddressField::Cc,
                _ => AddressField::Bcc,
            };
            SearchKey::Address(field, v)
        }
        "SUBJECT" => SearchKey::Header("Subject".into(), search_string(p)?),
        "HEADER" => {
            p.sp()?;
            let name = p.astring_utf8()?;
            let v = search_string(p)?;
            SearchKey::Header(name, v)
        }
        "BODY" => SearchKey::Body(search_string(p)?),
        "TEXT" => SearchKey::Text(search_string(p)?),
        "UID" => {
            p.sp()?;
            SearchKey::Uid(p.sequence_set()?)
        }
        "NOT" => {
            p.sp()?;
            SearchKey::Not(Box::new(search_key(p, depth + 1)?))
        }
        "OR" => {
            p.sp()?;
            let a = search_key(p, depth + 1)?;
            p.sp()?;
            let b = search_key(p, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        "MODSEQ" => {
            // RFC 7162 §3.1.5: MODSEQ [entry-name entry-type] mod-sequence-valzer
            p.sp()?;
            if p.peek() == Some(b'"') {
                p.quoted()?;
                p.sp()?;
                p.atom()?;
                p.sp()?;
            }
            SearchKey::ModSeq(p.number64()?)
        }
        _ => return Err(format!("Unknown search key {k}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> CommandBody {
        match parse_command(s.as_bytes()) {
            Ok(c) => c.body,
            Err(e) => panic!("{s:?}: {e:?}"),
        }
    }
    fn bad(s: &str) -> ParseError {
        parse_command(s.as_bytes()).expect_err(s)
    }

    #[test]
    fn simple_commands() {
        assert_eq!(ok("a1 CAPABILITY\r\n"), CommandBody::Capability);
        assert_eq!(ok("a1 noop"), CommandBody::Noop);
        assert_eq!(
            ok("x LOGIN \"us\\\"er\" {3}\r\np w\r\n"),
            CommandBody::Login {
                user: "us\"er".into(),
                password: Secret::new("p w")
            }
        );
        assert_eq!(
            ok("a RENAME INBOX \"Old mail\""),
            CommandBody::Rename {
                from: "INBOX".into(),
                to: "Old mail".into()
            }
        );
    }

    #[test]
    fn bad_syntax_keeps_the_tag() {
        let e = bad("t7 FROB\r\n");
        assert_eq!(e.tag.as_ref().map(Tag::as_str), Some("t7"));
        assert_eq!(bad("t7 LOGIN onlyone").tag.unwrap().as_str(), "t7");
        assert_eq!(bad("+ NOOP").tag, None);
        assert_eq!(bad("").tag, None);
        assert!(bad("a NOOP extra").message.contains("extra"));
        assert!(bad("a FETCH 0 FLAGS").message.contains("Zero"));
    }

    #[test]
    fn fetch_items() {
        let CommandBody::Fetch { set, items, .. } = ok(
            "a FETCH 1:*,7 (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100> BODY[1.2.MIME] BODY[])",
        ) else {
            panic!()
        };
        assert_eq!(
            set,
            SequenceSet(vec![
                (SeqNum::Num(1), SeqNum::Star),
                (SeqNum::Num(7), SeqNum::Num(7))
            ])
        );
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[1],
            FetchAtt::BodySection {
                peek: true,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFields {
                        not: false,
                        fields: vec!["From".into(), "Subject".into()]
                    })
                },
                partial: Some((0, 100))
            }
        );
        assert_eq!(
            items[2],
            FetchAtt::BodySection {
                peek: false,
                section: Section {
                    part: vec![1, 2],
                    text: Some(SectionText::Mime)
                },
                partial: None
            }
        );
        let CommandBody::Fetch { items, uid, .. } = ok("a UID FETCH 1 ALL") else {
            panic!()
        };
        assert!(uid);
        assert_eq!(items.len(), 4);
        assert!(bad("a FETCH 1 BODY[MIME]").message.contains("section"));
        assert!(bad("a FETCH 1 BODY[1.]").message.contains("section"));
    }

    #[test]
    fn search_keys() {
        let CommandBody::Search { key, ret, .. } = ok(
            "a UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FROM \"bob\" (UNSEEN SINCE 1-Feb-2024) NOT 1:3",
        ) else {
            panic!()
        };
        assert_eq!(
            ret,
            Some(SearchReturn {
                min: true,
                count: true,
                ..Default::default()
            })
        );
        let SearchKey::And(v) = key else { panic!() };
        assert_eq!(v.len(), 2);
        assert!(matches!(&v[0], SearchKey::Or(..)));
        assert!(matches!(&v[1], SearchKey::Not(..)));
        assert!(
            bad("a SEARCH CHARSET KOI8-R ALL")
                .message
                .starts_with("[BADCHARSET")
        );
    }

    #[test]
    fn nesting_and_set_sizes_are_bounded() {
        let deep = format!("a SEARCH {}ALL{}", "(".repeat(100), ")".repeat(100));
        assert!(bad(&deep).message.contains("nested"));
        let nots = format!("a SEARCH {}ALL", "NOT ".repeat(100));
        assert!(bad(&nots).message.contains("nested"));
        let set: Vec<String> = (1..=SequenceSet::MAX_RANGES + 1)
            .map(|n| n.to_string())
            .collect();
        assert!(
            bad(&format!("a FETCH {} FLAGS", set.join(",")))
                .message
                .contains("too long")
        );
    }

    #[test]
    fn store_and_append() {
        assert_eq!(
            ok("a UID STORE 1:5 (UNCHANGEDSINCE 12) +FLAGS.SILENT (\\Seen $Junk)"),
            CommandBody::Store {
                uid: true,
                set: SequenceSet(vec![(SeqNum::Num(1), SeqNum::Num(5))]),
                op: FlagOp::Add,
                silent: true,
                flags: vec![Flag::System(Flags::SEEN), Flag::Keyword("$Junk".into())],
                unchanged_since: Some(12)
            }
        );
        let CommandBody::Append { mailbox, messages } = ok(
            "a APPEND Sent (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {5+}\r\nhello {2}\r\nhi UTF8 (~{1}\r\nx)",
        ) else {
            panic!()
        };
        assert_eq!(mailbox, "Sent");
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].flags, vec![Flag::System(Flags::SEEN)]);
        assert_eq!(messages[0].date, Some(760686745));
        assert_eq!(messages[0].message, b"hello");
        assert_eq!(messages[1].flags, vec![]);
        assert_eq!(messages[1].message, b"hi");
        assert_eq!(messages[2].message, b"x");
        assert!(bad("a APPEND x {10}\r\nshort").message.contains("shorter"));
    }

    #[test]
    fn list_extended() {
        let CommandBody::List {
            patterns, options, ..
        } = ok("a LIST (SUBSCRIBED) \"\" (INBOX \"%\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))")
        else {
            panic!()
        };
        assert_eq!(patterns, vec!["INBOX".to_string(), "%".to_string()]);
        assert!(options.select_subscribed && options.return_children && options.extended);
        assert_eq!(
            options.return_status,
            Some(vec![StatusItem::Messages, StatusItem::Unseen])
        );
        let CommandBody::List {
            patterns, options, ..
        } = ok("a LIST \"\" *")
        else {
            panic!()
        };
        assert_eq!(patterns, vec!["*".to_string()]);
        assert!(!options.extended);
    }

    #[test]
    fn select_qresync() {
        assert_eq!(
            ok("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211))"),
            CommandBody::Select {
                mailbox: "INBOX".into(),
                read_only: false,
                condstore: false,
                qresync: Some(QResync {
                    uidvalidity: 67890007,
                    modseq: 20050715194045000,
                    known_uids: Some(SequenceSet(vec![
                        (SeqNum::Num(41), SeqNum::Num(41)),
                        (SeqNum::Num(43), SeqNum::Num(211))
                    ]))
                })
            }
        );
    }

    /// Framing then parsing gives the same commands whatever the read sizes.
    #[test]
    fn table_at_every_chunk_size() {
        use crate::proto::frame::{Frame, Framer, Limits};
        let stream: &[u8] = b"a1 LOGIN {5}\r\nalice {2+}\r\npw\r\n\
a2 SELECT \"INBOX\" (CONDSTORE)\r\n\
a3 APPEND Sent (\\Seen) {12}\r\nSubject: x\r\n\r\n\
a4 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From)]<0.10>)\r\n\
a5 SEARCH OR (FROM {3}\r\nbob) TEXT \"x y\"\r\n";
        let whole: Vec<CommandBody> = [
            &b"a1 LOGIN {5}\r\nalice {2+}\r\npw\r\n"[..],
            b"a2 SELECT \"INBOX\" (CONDSTORE)\r\n",
            b"a3 APPEND Sent (\\Seen) {12}\r\nSubject: x\r\n\r\n",
            b"a4 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From)]<0.10>)\r\n",
            b"a5 SEARCH OR (FROM {3}\r\nbob) TEXT \"x y\"\r\n",
        ]
        .iter()
        .map(|c| parse_command(c).unwrap().body)
        .collect();
        for chunk in (0..10).map(|i| 1usize << i) {
            let mut f = Framer::new(Limits::default());
            let mut buf = Vec::new();
            let mut fed = 0;
            let mut got = Vec::new();
            loop {
                match f.poll(&buf) {
                    Frame::Incomplete if fed < stream.len() => {
                        let n = chunk.min(stream.len() - fed);
                        buf.extend_from_slice(&stream[fed..fed + n]);
                        fed += n;
                    }
                    Frame::Incomplete => break,
                    Frame::Continue => {}
                    Frame::Command(n) => {
                        let c: Vec<u8> = buf.drain(..n).collect();
                        got.push(parse_command(&c).unwrap().body);
                    }
                    other => panic!("chunk {chunk}: {other:?}"),
                }
            }
            assert_eq!(got, whole, "chunk {chunk}");
        }
    }

    #[test]
    fn latin1_search_strings_are_decoded() {
        let CommandBody::Search { key, .. } =
            parse_command(b"a SEARCH CHARSET ISO-8859-1 SUBJECT \"caf\xe9\"")
                .unwrap()
                .body
        else {
            panic!()
        };
        assert_eq!(key, SearchKey::Header("Subject".into(), "caf\u{e9}".into()));
    }

    #[test]
    fn sort_and_thread() {
        assert_eq!(
            ok("a UID SORT (REVERSE DATE SUBJECT) UTF-8 UNSEEN"),
            CommandBody::Sort {
                uid: true,
                ret: None,
                criteria: vec![(SortKey::Date, true), (SortKey::Subject, false)],
                key: SearchKey::Flag(Flags::SEEN, false)
            }
        );
        // ESORT (RFC 5267 §3) and PARTIAL (RFC 9394).
        let CommandBody::Sort { ret, .. } =
            ok("a SORT RETURN (MIN COUNT PARTIAL -10:-1) (ARRIVAL) UTF-8 ALL")
        else {
            panic!()
        };
        assert_eq!(
            ret,
            Some(SearchReturn {
                min: true,
                count: true,
                partial: Some(PartialRange::Last(1, 10)),
                ..Default::default()
            })
        );
        let CommandBody::Sort { ret, .. } = ok("a UID SORT RETURN () (DATE) UTF-8 ALL") else {
            panic!()
        };
        assert_eq!(
            ret,
            Some(SearchReturn {
                all: true,
                ..Default::default()
            })
        );
        let CommandBody::Search { ret, .. } = ok("a SEARCH RETURN (PARTIAL 500:400) ALL") else {
            panic!()
        };
        assert_eq!(ret.unwrap().partial, Some(PartialRange::First(400, 500)));
        assert!(bad("a SEARCH RETURN (PARTIAL 0:5) ALL").tag.is_some());
        assert!(bad("a SEARCH RETURN (PARTIAL -1:5) ALL").tag.is_some());
        assert!(bad("a SORT RETURN (MIN) UTF-8 ALL").tag.is_some());
        assert_eq!(
            ok("a THREAD REFERENCES US-ASCII ALL"),
            CommandBody::Thread {
                uid: false,
                algorithm: ThreadAlgorithm::References,
                key: SearchKey::All
            }
        );
        assert!(bad("a SORT (REVERSE) UTF-8 ALL").tag.is_some());
        assert!(bad("a SORT (NAME) UTF-8 ALL").message.contains("criterion"));
        assert!(bad("a SORT (DATE) UTF-8").message.contains("search key"));
    }

    /// RFC 9051 §9: `~` is an ATOM-CHAR (only `~{` starts a literal8), so `~foo` is an
    /// astring; 8-bit octets are taken in list patterns as in astrings.
    #[test]
    fn atoms_starting_with_tilde() {
        assert_eq!(
            ok("a SELECT ~foo"),
            CommandBody::Select {
                mailbox: "~foo".into(),
                read_only: false,
                condstore: false,
                qresync: None
            }
        );
        assert_eq!(ok("a DELETE ~"), CommandBody::Delete("~".into()));
        assert_eq!(
            ok("a RENAME ~a/b ~c"),
            CommandBody::Rename {
                from: "~a/b".into(),
                to: "~c".into()
            }
        );
        assert_eq!(
            ok("a LOGIN ~u p~"),
            CommandBody::Login {
                user: "~u".into(),
                password: Secret::new("p~")
            }
        );
        let CommandBody::List { patterns, .. } = ok("a LIST ~ ~x/%") else {
            panic!()
        };
        assert_eq!(patterns, vec!["~x/%".to_string()]);
        let CommandBody::List { patterns, .. } = ok("a LIST \"\" Café*") else {
            panic!()
        };
        assert_eq!(patterns, vec!["Caf\u{e9}*".to_string()]);
        let CommandBody::Search { key, .. } = ok("a SEARCH SUBJECT ~x") else {
            panic!()
        };
        assert_eq!(key, SearchKey::Header("Subject".into(), "~x".into()));
        // A literal8 still parses where the grammar has one.
        let CommandBody::Append { messages, .. } = ok("a APPEND ~box ~{1}\r\nx") else {
            panic!()
        };
        assert_eq!(messages[0].message, b"x");
    }

    /// RFC 9051 §6.4.4: a search string must be valid in the charset given; invalid
    /// UTF-8 is a syntax error, not a string whose bad octets became U+FFFD.
    #[test]
    fn search_strings_must_be_valid_utf8() {
        for cmd in [
            &b"a SEARCH CHARSET UTF-8 SUBJECT \"caf\xe9\""[..],
            b"a SEARCH CHARSET UTF-8 BODY {4}\r\ncaf\xe9",
            b"a SEARCH SUBJECT \"\xff\xfe\"",
            b"a SORT (SUBJECT) UTF-8 TEXT \"\xc3\"",
            b"a THREAD REFERENCES UTF-8 HEADER X-Y \"\x80\"",
        ] {
            let e = parse_command(cmd).expect_err(&String::from_utf8_lossy(cmd));
            assert!(e.tag.is_some() && e.message.contains("UTF-8"), "{e:?}");
        }
        let CommandBody::Search { key, .. } =
            parse_command(b"a SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\"")
                .unwrap()
                .body
        else {
            panic!()
        };
        assert_eq!(key, SearchKey::Header("Subject".into(), "caf\u{e9}".into()));
    }

    /// RFC 4469 §5: APPEND with CATENATE, beside plain messages (MULTIAPPEND).
    #[test]
    fn append_catenate() {
        let CommandBody::Append { messages, .. } = ok(
            "a APPEND Drafts (\\Seen) CATENATE (URL \"/Drafts;UIDVALIDITY=3/;UID=20/;section=HEADER\" TEXT {4}\r\nab\r\n url ;UID=2) {1+}\r\nx",
        ) else {
            panic!()
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].flags, vec![Flag::System(Flags::SEEN)]);
        assert_eq!(
            messages[0].catenate,
            vec![
                CatPart::Url("/Drafts;UIDVALIDITY=3/;UID=20/;section=HEADER".into()),
                CatPart::Text(b"ab\r\n".to_vec()),
                CatPart::Url(";UID=2".into()),
            ]
        );
        assert!(messages[0].message.is_empty());
        assert_eq!(messages[1].message, b"x");
        assert!(messages[1].catenate.is_empty());
        assert!(bad("a APPEND x CATENATE ()").tag.is_some());
        assert!(bad("a APPEND x CATENATE (FILE \"y\")").tag.is_some());
        assert!(bad("a APPEND x CATENATE (TEXT \"y\")").tag.is_some());
    }

    #[test]
    fn authenticate_with_initial_response() {
        assert_eq!(
            ok("a AUTHENTICATE plain AGZvbwBiYXI="),
            CommandBody::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(b"AGZvbwBiYXI=".to_vec())
            }
        );
    }
}
