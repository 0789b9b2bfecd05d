//! The commands a client can send, as values the session acts on.
//!
//! Every type here holds only valid values: a [`Tag`] cannot contain `+` or a space, a
//! [`SequenceSet`] has at least one range and a bounded number of them.

use wharf_store::{FlagOp, Flags, Secret};

/// A command tag (RFC 9051 §2.2.1): 1 to [`Tag::MAX`] ASTRING-CHARs other than `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub const MAX: usize = 64;

    pub fn parse(s: &[u8]) -> Option<Tag> {
        if s.is_empty() || s.len() > Tag::MAX {
            return None;
        }
        if !s
            .iter()
            .all(|&b| super::parse::is_astring_char(b) && b != b'+')
        {
            return None;
        }
        String::from_utf8(s.to_vec()).ok().map(Tag)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One end of a sequence range: a number or `*` (the largest in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    Num(u32),
    Star,
}

impl SeqNum {
    fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Num(n) => n,
            SeqNum::Star => largest,
        }
    }
}

/// A sequence set (RFC 9051 §9 `sequence-set`), as message numbers or UIDs depending on
/// the command. `$` (SEARCHRES) is not supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    /// Most ranges accepted in one set; more is refused as BAD (bounds work per command).
    pub const MAX_RANGES: usize = 10_000;

    /// `$`, the saved search result (RFC 5182): an empty set until the session puts the
    /// saved messages in (a parsed set is never empty otherwise).
    pub fn saved() -> SequenceSet {
        SequenceSet(Vec::new())
    }

    pub fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

    /// A set naming exactly these numbers, compressed into ranges.
    pub fn from_numbers(nums: &[u32]) -> SequenceSet {
        let mut v = nums.to_vec();
        v.sort_unstable();
        v.dedup();
        let mut ranges: Vec<(SeqNum, SeqNum)> = Vec::new();
        for n in v {
            match ranges.last_mut() {
                Some((_, SeqNum::Num(hi))) if *hi + 1 == n => *hi = n,
                _ => ranges.push((SeqNum::Num(n), SeqNum::Num(n))),
            }
        }
        SequenceSet(ranges)
    }

    /// Whether `n` is in the set, given the largest number in use (for `*`).
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let (a, b) = (a.resolve(largest), b.resolve(largest));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            lo <= n && n <= hi
        })
    }

    /// Ranges resolved against `largest` and put low-high.
    pub fn ranges(&self, largest: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.0.iter().map(move |&(a, b)| {
            let (a, b) = (a.resolve(largest), b.resolve(largest));
            if a <= b { (a, b) } else { (b, a) }
        })
    }
}

/// A flag in a STORE, APPEND or SEARCH: a system flag, or a keyword atom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    System(Flags),
    /// `\Recent` can't be set by clients but may appear in lists; it is ignored.
    Recent,
    Keyword(String),
    /// Another `\Xxx` flag extension: refused in STORE/APPEND.
    Extension(String),
}

/// Splits flags into the store's representation.
pub fn split_flags(flags: &[Flag]) -> (Flags, Vec<String>) {
    let mut sys = Flags::default();
    let mut kw: Vec<String> = Vec::new();
    for f in flags {
        match f {
            Flag::System(s) => sys = sys.union(*s),
            Flag::Keyword(k) => {
                if !kw.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    kw.push(k.clone())
                }
            }
            Flag::Recent | Flag::Extension(_) => {}
        }
    }
    (sys, kw)
}

/// A section text specifier (RFC 9051 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

/// `section` of BODY[...] / BINARY[...]: a part path and an optional text specifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

/// One FETCH data item (RFC 9051 §6.4.5, RFC 7162 MODSEQ, RFC 3516 BINARY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAtt {
    Envelope,
    Flags,
    InternalDate,
    Rfc822Size,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// BODY without a section: the non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    Uid,
    ModSeq,
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    BinarySize {
        part: Vec<u32>,
    },
}

/// A STATUS data item (RFC 9051 §6.3.11, RFC 7162, RFC 8438).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModSeq,
    AppendLimit,
}

/// A date without time, as SEARCH takes it (`1-Feb-1994`).
pub type Date = chrono::NaiveDate;

/// A SEARCH key (RFC 9051 §6.4.4; RFC 7162 MODSEQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    SeqSet(SequenceSet),
    Uid(SequenceSet),
    /// A system flag set (or, with `false`, unset).
    Flag(Flags, bool),
    Keyword(String, bool),
    /// \Recent (rev1): messages that arrived while this session had the mailbox.
    Recent,
    New,
    Old,
    Before(Date),
    On(Date),
    Since(Date),
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Larger(u64),
    Smaller(u64),
    /// A header field contains a string (SUBJECT, HEADER).
    Header(String, String),
    /// FROM / TO / CC / BCC: an address of that field, as the envelope parsed it
    /// (`Display Name <local@domain>`, comments and quoting gone), contains a string.
    Address(AddressField, String),
    Body(String),
    Text(String),
    ModSeq(u64),
}

impl SearchKey {
    /// Whether evaluating the key needs the message's header or body.
    pub fn needs_content(&self) -> bool {
        match self {
            SearchKey::And(v) => v.iter().any(SearchKey::needs_content),
            SearchKey::Or(a, b) => a.needs_content() || b.needs_content(),
            SearchKey::Not(a) => a.needs_content(),
            SearchKey::SentBefore(_)
            | SearchKey::SentOn(_)
            | SearchKey::SentSince(_)
            | SearchKey::Header(..)
            | SearchKey::Address(..)
            | SearchKey::Body(_)
            | SearchKey::Text(_) => true,
            _ => false,
        }
    }
}

/// The address fields SEARCH has keys for (RFC 9051 §6.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressField {
    From,
    To,
    Cc,
    Bcc,
}

/// A SORT criterion (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// A THREAD algorithm (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

/// ESEARCH (RFC 4731) RETURN options, for SEARCH and (ESORT, RFC 5267 §3) SORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// SEARCHRES (RFC 5182): keep the result as `$`.
    pub save: bool,
    /// PARTIAL (RFC 9394 §3, RFC 5267 §4.4): only the results at these positions.
    pub partial: Option<PartialRange>,
}

impl SearchReturn {
    /// No option that produces result data (SAVE alone produces none).
    pub fn is_empty(&self) -> bool {
        !(self.min || self.max || self.all || self.count || self.partial.is_some())
    }
}

/// A PARTIAL range of result positions (RFC 9394 §3): `First(a, b)` is positions a..=b
/// counted from the first result (1), `Last(a, b)` from the last (`-1`). `a <= b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialRange {
    First(u32, u32),
    Last(u32, u32),
}

impl PartialRange {
    /// The zero-based index range it selects out of `len` results (empty if none).
    pub fn indices(&self, len: usize) -> std::ops::Range<usize> {
        let (a, b) = match *self {
            PartialRange::First(a, b) => (a as usize - 1, b as usize),
            PartialRange::Last(a, b) => (
                len.saturating_sub(b as usize),
                len.saturating_sub(a as usize - 1),
            ),
        };
        a.min(len)..b.min(len).max(a.min(len))
    }
}

impl std::fmt::Display for PartialRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartialRange::First(a, b) => write!(f, "{a}:{b}"),
            PartialRange::Last(a, b) => write!(f, "-{a}:-{b}"),
        }
    }
}

/// LIST-EXTENDED (RFC 5258) selection options and RETURN options (RFC 5819, 6154).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub select_subscribed: bool,
    pub select_special_use: bool,
    pub recursive_match: bool,
    pub return_subscribed: bool,
    pub return_children: bool,
    pub return_special_use: bool,
    pub return_status: Option<Vec<StatusItem>>,
    /// Whether any extended syntax was used (then the reply follows RFC 5258 rules).
    pub extended: bool,
}

/// QRESYNC parameters of SELECT/EXAMINE (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    /// INTERNALDATE as Unix seconds, if given.
    pub date: Option<i64>,
    pub message: Vec<u8>,
    /// Sent as a `literal8` (`~{n}`, RFC 3516 §4.3): binary content, stored unchanged
    /// except that parts with `Content-Transfer-Encoding: binary` become base64
    /// (`op::append::binary_parts_to_base64`).
    pub binary: bool,
    /// CATENATE (RFC 4469 §5): the parts the message is made of (then `message` is
    /// empty until `op/catenate.rs` assembles it). Empty for a plain APPEND.
    pub catenate: Vec<CatPart>,
}

/// One part of a CATENATE list (RFC 4469 §5: `cat-part = text-literal / url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: octets as given.
    Text(Vec<u8>),
    /// `URL astring`: an IMAP URL (RFC 5092) naming a message or a section of one.
    Url(String),
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub tag: Tag,
    pub body: CommandBody,
}

/// The verb and its arguments. Mailbox names are as sent (mUTF-7 or, after
/// `ENABLE UTF8=ACCEPT`, UTF-8); the session decodes them.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    Authenticate {
        mechanism: String,
        /// SASL-IR initial response, still base64 (`=` is an empty one).
        initial: Option<Vec<u8>>,
    },
    Login {
        user: String,
        password: Secret,
    },
    Enable(Vec<String>),
    Select {
        mailbox: String,
        read_only: bool,
        condstore: bool,
        qresync: Option<QResync>,
    },
    Create {
        mailbox: String,
        special_use: Vec<String>,
    },
    Delete(String),
    Rename {
        from: String,
        to: String,
    },
    Subscribe(String),
    Unsubscribe(String),
    List {
        reference: String,
        patterns: Vec<String>,
        options: ListOptions,
    },
    Lsub {
        reference: String,
        pattern: String,
    },
    Namespace,
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// One message, or several with MULTIAPPEND (RFC 3502).
    Append {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    Idle,
    Close,
    Unselect,
    Expunge {
        uids: Option<SequenceSet>,
    },
    Search {
        uid: bool,
        ret: Option<SearchReturn>,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchAtt>,
        changed_since: Option<u64>,
        vanished: bool,
        /// RFC 9394 §3.3 PARTIAL fetch modifier: only the messages at these positions
        /// among those the set names (in mailbox order).
        partial: Option<PartialRange>,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        op: FlagOp,
        silent: bool,
        flags: Vec<Flag>,
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    Sort {
        uid: bool,
        /// ESORT (RFC 5267 §3): answer with ESEARCH.
        ret: Option<SearchReturn>,
        /// (key, reversed)
        criteria: Vec<(SortKey, bool)>,
        key: SearchKey,
    },
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        key: SearchKey,
    },
    Id(Vec<(String, Option<String>)>),
    GetQuota(String),
    GetQuotaRoot(String),
    SetQuota,
}

impl CommandBody {
    /// The verb's name, for logs and for the state check.
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::Select {
                read_only: false, ..
            } => "SELECT",
            CommandBody::Select { .. } => "EXAMINE",
            CommandBody::Create { .. } => "CREATE",
            CommandBody::Delete(_) => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Subscribe(_) => "SUBSCRIBE",
            CommandBody::Unsubscribe(_) => "UNSUBSCRIBE",
            CommandBody::List { .. } => "LIST",
            CommandBody::Lsub { .. } => "LSUB",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Idle => "IDLE",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge { .. } => "EXPUNGE",
            CommandBody::Search { .. } => "SEARCH",
            CommandBody::Fetch { .. } => "FETCH",
            CommandBody::Store { .. } => "STORE",
            CommandBody::Copy { .. } => "COPY",
            CommandBody::Move { .. } => "MOVE",
            CommandBody::Id(_) => "ID",
            CommandBody::Sort { .. } => "SORT",
            CommandBody::Thread { .. } => "THREAD",
            CommandBody::GetQuota(_) => "GETQUOTA",
            CommandBody::GetQuotaRoot(_) => "GETQUOTAROOT",
            CommandBody::SetQuota => "SETQUOTA",
        }
    }
}
