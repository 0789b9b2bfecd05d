//! The FTP command grammar, sans I/O: [`Framer`] cuts the control stream into lines
//! (bounded, Telnet-aware) and [`parse`] turns one line into a [`Command`].
//!
//! Both are pure: they never read a socket, never panic on input and report what is
//! missing or wrong as values, so they are table-tested at every chunk size and fuzzed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use wharf_store::Secret;

/// Longest command line accepted, terminator excluded (vsftpd uses the same bound).
pub const MAX_LINE: usize = 4096;

/// RFC 959 §3.1.1.5.2 representation types. `TYPE L 8` is binary too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    Ascii,
    Image,
}

/// The argument of EPSV (RFC 2428 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: the control connection's protocol.
    Any,
    /// `EPSV 1` / `EPSV 2`.
    Proto(u8),
    /// `EPSV ALL`: from now on only EPSV may set up data connections.
    All,
}

/// One parsed command. Path arguments are kept verbatim (spaces included) and resolved
/// by the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(Secret),
    Acct,
    Cwd(String),
    Cdup,
    Pwd,
    Mkd(String),
    Rmd(String),
    Dele(String),
    Rnfr(String),
    Rnto(String),
    /// LIST with its path (ls-style options such as `-la` removed).
    List(Option<String>),
    Nlst(Option<String>),
    Mlsd(Option<String>),
    Mlst(Option<String>),
    Retr(String),
    Stor(String),
    Stou,
    Appe(String),
    Rest(u64),
    Allo,
    Type(TransferType),
    Mode,
    Stru,
    Port(SocketAddrV4),
    Pasv,
    Epsv(EpsvArg),
    Eprt(SocketAddr),
    Abor,
    Syst,
    Stat(Option<String>),
    Help(Option<String>),
    Noop,
    Quit,
    Site(String),
    Feat,
    Opts(String),
    Size(String),
    Mdtm(String),
    /// MFMT: new modification time (Unix seconds, UTC) and path.
    Mfmt(i64, String),
    Auth(String),
    Pbsz(u64),
    Prot(char),
}

/// Why a line is not a command we can run; each maps to one reply code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a verb we know: 500.
    Unknown,
    /// A verb we know but do not implement: 502.
    NotImplemented,
    /// Bad or missing argument: 501.
    Syntax(&'static str),
    /// A parameter value we do not implement (e.g. `TYPE E`, `MODE B`): 504.
    ParamNotImplemented(&'static str),
    /// EPRT with a network protocol we do not speak: 522 (RFC 2428 §2).
    NetworkProtocol,
}

/// What the framer found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line (terminator and Telnet commands removed).
    Line(Vec<u8>),
    /// A line over the framer's limit was skipped up to its end.
    TooLong,
}

/// Cuts the control stream into lines. A line ends at LF, CRLF or a bare CR (the LF of
/// a CRLF right after a CR is skipped, even in the next chunk): an ABOR sent as urgent
/// data arrives without its LF. It remembers only that and whether it is skipping an
/// over-long line, so it never needs more than [`MAX_LINE`] + 1 buffered octets.
#[derive(Debug)]
pub struct Framer {
    skipping: bool,
    skip_lf: bool,
    /// Longest line accepted (`[ftp] max_line_length`, default [`MAX_LINE`]).
    max: usize,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer::new(MAX_LINE)
    }
}

impl Framer {
    /// A framer for lines of at most `max` octets (terminator not counted).
    pub fn new(max: usize) -> Framer {
        Framer {
            skipping: false,
            skip_lf: false,
            max: max.max(1),
        }
    }

    /// Looks at `buf` and returns how many octets to consume and the frame found, if
    /// any. `(0, None)` means: read more; `(n, None)` with n > 0: consume and call again.
    pub fn next(&mut self, buf: &[u8]) -> (usize, Option<Frame>) {
        let mut start = 0;
        if self.skip_lf && !buf.is_empty() {
            self.skip_lf = false;
            if buf[0] == b'\n' {
                start = 1;
            }
        }
        let rest = &buf[start..];
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(end) => {
                // RFC 959 §4.1.3 wants CRLF; bare LF and bare CR are accepted too.
                self.skip_lf = rest[end] == b'\r';
                if self.skipping {
                    self.skipping = false;
                    return (start + end + 1, Some(Frame::TooLong));
                }
                let mut line = strip_telnet(&rest[..end]);
                // A Telnet DM left over once the urgent IAC before it was taken out of
                // band (BSD ftp's "IAC IP IAC DM ABOR").
                let dm = line.iter().take_while(|&&b| b == 0xF2).count();
                line.drain(..dm);
                if line.len() > self.max {
                    return (start + end + 1, Some(Frame::TooLong));
                }
                (start + end + 1, Some(Frame::Line(line)))
            }
            None if rest.len() > self.max || (self.skipping && !rest.is_empty()) => {
                // Drop what we have of an over-long line; keep skipping to its end.
                self.skipping = true;
                (buf.len(), None)
            }
            None => (start, None),
        }
    }
}

/// Removes Telnet commands (RFC 854) from a control line: `IAC IAC` is a literal 0xFF,
/// `IAC WILL/WONT/DO/DONT x` and `IAC x` (IP, DM... as sent before ABOR, RFC 959 §4.1.3)
/// are dropped.
fn strip_telnet(line: &[u8]) -> Vec<u8> {
    const IAC: u8 = 255;
    if !line.contains(&IAC) {
        return line.to_vec();
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] != IAC {
            out.push(line[i]);
            i += 1;
            continue;
        }
        match line.get(i + 1) {
            Some(&IAC) => {
                out.push(IAC);
                i += 2;
            }
            Some(251..=254) => i += 3,
            Some(_) => i += 2,
            None => i += 1,
        }
    }
    out
}

/// Parses one command line (without its terminator).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    if verb.is_empty() || verb.len() > 4 || !verb.iter().all(u8::is_ascii_alphabetic) {
        return Err(ParseError::Unknown);
    }
    let mut v = [0u8; 4];
    v[..verb.len()].copy_from_slice(verb);
    v.make_ascii_uppercase();
    let verb = &v[..verb.len()];

    // RFC 2640 §2.2: path names are UTF-8.
    let text = |arg: Option<&[u8]>| -> Result<Option<String>, ParseError> {
        match arg {
            None => Ok(None),
            Some(a) => std::str::from_utf8(a)
                .map(|s| Some(s.to_string()))
                .map_err(|_| ParseError::Syntax("argument is not valid UTF-8")),
        }
    };
    let required = |arg: Option<&[u8]>| -> Result<String, ParseError> {
        match text(arg)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ParseError::Syntax("argument required")),
        }
    };
    let optional = |arg: Option<&[u8]>| -> Result<Option<String>, ParseError> {
        Ok(text(arg)?.filter(|s| !s.is_empty()))
    };
    let none = |arg: Option<&[u8]>, c: Command| -> Result<Command, ParseError> {
        match arg {
            Some(a) if !a.iter().all(|&b| b == b' ') => {
                Err(ParseError::Syntax("no argument allowed"))
            }
            _ => Ok(c),
        }
    };

    Ok(match verb {
        b"USER" => Command::User(required(arg)?),
        // The password may be empty (anonymous clients) and may contain spaces.
        b"PASS" => Command::Pass(Secret::new(text(arg)?.unwrap_or_default())),
        b"ACCT" => Command::Acct,
        // RFC 775 X-commands: Windows ftp.exe still sends them.
        b"CWD" | b"XCWD" => Command::Cwd(required(arg)?),
        b"CDUP" | b"XCUP" => none(arg, Command::Cdup)?,
        b"PWD" | b"XPWD" => none(arg, Command::Pwd)?,
        b"MKD" | b"XMKD" => Command::Mkd(required(arg)?),
        b"RMD" | b"XRMD" => Command::Rmd(required(arg)?),
        b"DELE" => Command::Dele(required(arg)?),
        b"RNFR" => Command::Rnfr(required(arg)?),
        b"RNTO" => Command::Rnto(required(arg)?),
        b"LIST" => Command::List(strip_ls_options(optional(arg)?)),
        b"NLST" => Command::Nlst(strip_ls_options(optional(arg)?)),
        b"MLSD" => Command::Mlsd(optional(arg)?),
        b"MLST" => Command::Mlst(optional(arg)?),
        b"RETR" => Command::Retr(required(arg)?),
        b"STOR" => Command::Stor(required(arg)?),
        b"STOU" => Command::Stou,
        b"APPE" => Command::Appe(required(arg)?),
        b"REST" => {
            let s = required(arg)?;
            Command::Rest(
                s.trim()
                    .parse()
                    .map_err(|_| ParseError::Syntax("REST needs a byte offset"))?,
            )
        }
        b"ALLO" => Command::Allo,
        b"TYPE" => Command::Type(parse_type(&required(arg)?)?),
        b"MODE" => match required(arg)?.trim().to_ascii_uppercase().as_str() {
            "S" => Command::Mode,
            "B" | "C" => return Err(ParseError::ParamNotImplemented("only MODE S is supported")),
            _ => return Err(ParseError::Syntax("unknown mode")),
        },
        b"STRU" => match required(arg)?.trim().to_ascii_uppercase().as_str() {
            "F" => Command::Stru,
            "R" | "P" => return Err(ParseError::ParamNotImplemented("only STRU F is supported")),
            _ => return Err(ParseError::Syntax("unknown structure")),
        },
        b"PORT" => Command::Port(parse_port(&required(arg)?)?),
        b"PASV" => none(arg, Command::Pasv)?,
        b"EPSV" => Command::Epsv(match optional(arg)?.as_deref().map(str::trim) {
            None | Some("") => EpsvArg::Any,
            Some(a) if a.eq_ignore_ascii_case("ALL") => EpsvArg::All,
            Some("1") => EpsvArg::Proto(1),
            Some("2") => EpsvArg::Proto(2),
            Some(_) => return Err(ParseError::NetworkProtocol),
        }),
        b"EPRT" => Command::Eprt(parse_eprt(&required(arg)?)?),
        b"ABOR" => none(arg, Command::Abor)?,
        b"SYST" => none(arg, Command::Syst)?,
        b"STAT" => Command::Stat(strip_ls_options(optional(arg)?)),
        b"HELP" => Command::Help(optional(arg)?),
        b"NOOP" => none(arg, Command::Noop)?,
        b"QUIT" => none(arg, Command::Quit)?,
        b"SITE" => Command::Site(required(arg)?),
        b"FEAT" => none(arg, Command::Feat)?,
        b"OPTS" => Command::Opts(required(arg)?),
        b"SIZE" => Command::Size(required(arg)?),
        b"MDTM" => Command::Mdtm(required(arg)?),
        b"MFMT" => {
            let s = required(arg)?;
            let (time, path) = s
                .split_once(' ')
                .ok_or(ParseError::Syntax("MFMT needs a time and a path"))?;
            let t = parse_time_val(time).ok_or(ParseError::Syntax("bad time-val"))?;
            if path.is_empty() {
                return Err(ParseError::Syntax("MFMT needs a path"));
            }
            Command::Mfmt(t, path.to_string())
        }
        b"AUTH" => Command::Auth(required(arg)?.trim().to_ascii_uppercase()),
        b"PBSZ" => {
            let s = required(arg)?;
            Command::Pbsz(
                s.trim()
                    .parse()
                    .map_err(|_| ParseError::Syntax("PBSZ needs a number"))?,
            )
        }
        b"PROT" => {
            let s = required(arg)?.trim().to_ascii_uppercase();
            match s.as_str() {
                "C" | "S" | "E" | "P" => Command::Prot(s.chars().next().unwrap_or('C')),
                _ => return Err(ParseError::ParamNotImplemented("unknown protection level")),
            }
        }
        b"REIN" | b"SMNT" | b"CCC" | b"ADAT" | b"MIC" | b"CONF" | b"ENC" | b"LANG" | b"HOST"
        | b"LPRT" | b"LPSV" | b"CLNT" | b"MODZ" | b"XRCP" | b"XSEN" | b"XSEM" | b"XRSQ"
        | b"XMAS" | b"XMSA" | b"XMCP" | b"MLFL" | b"MAIL" | b"MSND" | b"MSOM" | b"MSAM"
        | b"MRSQ" | b"MRCP" | b"AVBL" | b"CSID" | b"DSIZ" | b"RMDA" | b"THMB" => {
            return Err(ParseError::NotImplemented);
        }
        _ => return Err(ParseError::Unknown),
    })
}

/// Drops `ls`-style options (`-la`, `-a -l`) that clients put before the path of LIST,
/// NLST and STAT, as vsftpd does.
fn strip_ls_options(arg: Option<String>) -> Option<String> {
    let mut rest = arg?.trim_start().to_string();
    while rest.starts_with('-') {
        match rest.find(' ') {
            Some(i) => rest = rest[i + 1..].trim_start().to_string(),
            None => return None,
        }
    }
    if rest.is_empty() { None } else { Some(rest) }
}

fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let up = arg.trim().to_ascii_uppercase();
    let mut words = up.split_ascii_whitespace();
    match (words.next(), words.next(), words.next()) {
        // RFC 959 §3.1.1.5: only the non-print format is supported with ASCII.
        (Some("A"), None | Some("N"), None) => Ok(TransferType::Ascii),
        (Some("I"), None, None) | (Some("L"), Some("8"), None) => Ok(TransferType::Image),
        (Some("A"), Some("T" | "C"), None) | (Some("E"), _, None) | (Some("L"), Some(_), None) => {
            Err(ParseError::ParamNotImplemented("type not supported"))
        }
        _ => Err(ParseError::Syntax("unknown type")),
    }
}

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2).
fn parse_port(arg: &str) -> Result<SocketAddrV4, ParseError> {
    let mut n = [0u8; 6];
    let mut it = arg.trim().split(',');
    for slot in n.iter_mut() {
        *slot = it
            .next()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(ParseError::Syntax("PORT needs h1,h2,h3,h4,p1,p2"))?;
    }
    if it.next().is_some() {
        return Err(ParseError::Syntax("PORT needs h1,h2,h3,h4,p1,p2"));
    }
    Ok(SocketAddrV4::new(
        Ipv4Addr::new(n[0], n[1], n[2], n[3]),
        u16::from(n[4]) << 8 | u16::from(n[5]),
    ))
}

/// `EPRT |proto|addr|port|` with any delimiter in 33..=126 (RFC 2428 §2).
fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
    let arg = arg.trim();
    let d = arg
        .chars()
        .next()
        .ok_or(ParseError::Syntax("EPRT needs |proto|addr|port|"))?;
    if !('!'..='~').contains(&d) {
        return Err(ParseError::Syntax("bad EPRT delimiter"));
    }
    let parts: Vec<&str> = arg.split(d).collect();
    if parts.len() != 5 || !parts[0].is_empty() || !parts[4].is_empty() {
        return Err(ParseError::Syntax("EPRT needs |proto|addr|port|"));
    }
    let port: u16 = parts[3]
        .parse()
        .map_err(|_| ParseError::Syntax("bad EPRT port"))?;
    let ip: IpAddr = match parts[1] {
        "1" => IpAddr::V4(
            parts[2]
                .parse()
                .map_err(|_| ParseError::Syntax("bad IPv4 address"))?,
        ),
        "2" => IpAddr::V6(
            parts[2]
                .parse()
                .map_err(|_| ParseError::Syntax("bad IPv6 address"))?,
        ),
        _ => return Err(ParseError::NetworkProtocol),
    };
    Ok(SocketAddr::new(ip, port))
}

/// RFC 3659 §2.3 time-val `YYYYMMDDHHMMSS[.sss]`, UTC, to Unix seconds.
pub fn parse_time_val(s: &str) -> Option<i64> {
    let main = s.split('.').next()?;
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let dt = chrono::NaiveDateTime::parse_from_str(main, "%Y%m%d%H%M%S").ok()?;
    Some(dt.and_utc().timestamp())
}

/// Unix seconds to an RFC 3659 time-val.
pub fn format_time_val(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_else(|| "19700101000000".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        parse(s.as_bytes())
    }

    #[test]
    fn parses_the_rfc959_verbs() {
        use Command::*;
        let table: &[(&str, Command)] = &[
            ("USER bob@example.test", User("bob@example.test".into())),
            ("user bob", User("bob".into())),
            ("PASS se cret", Pass(Secret::new("se cret"))),
            ("PASS", Pass(Secret::new(""))),
            ("CWD dir with  spaces ", Cwd("dir with  spaces ".into())),
            ("XPWD", Pwd),
            ("CDUP", Cdup),
            ("LIST -la", List(None)),
            ("LIST -a -l sub dir", List(Some("sub dir".into()))),
            ("LIST", List(None)),
            ("NLST /", Nlst(Some("/".into()))),
            ("MLSD", Mlsd(None)),
            ("RETR a.txt", Retr("a.txt".into())),
            ("REST 12345", Rest(12345)),
            ("TYPE I", Type(TransferType::Image)),
            ("TYPE a n", Type(TransferType::Ascii)),
            ("TYPE L 8", Type(TransferType::Image)),
            ("MODE S", Mode),
            ("STRU F", Stru),
            (
                "PORT 127,0,0,1,4,1",
                Port("127.0.0.1:1025".parse().unwrap()),
            ),
            (
                "EPRT |1|132.235.1.2|6275|",
                Eprt("132.235.1.2:6275".parse().unwrap()),
            ),
            ("EPRT |2|::1|5282|", Eprt("[::1]:5282".parse().unwrap())),
            ("EPSV", Epsv(EpsvArg::Any)),
            ("EPSV ALL", Epsv(EpsvArg::All)),
            ("EPSV 2", Epsv(EpsvArg::Proto(2))),
            ("PBSZ 0", Pbsz(0)),
            ("PROT P", Prot('P')),
            ("AUTH tls", Auth("TLS".into())),
            ("MFMT 20020717210715 a b", Mfmt(1026940035, "a b".into())),
            ("OPTS UTF8 ON", Opts("UTF8 ON".into())),
            ("FEAT", Feat),
            ("STAT", Stat(None)),
            ("ABOR", Abor),
        ];
        for (line, want) in table {
            assert_eq!(p(line).as_ref(), Ok(want), "{line}");
        }
    }

    #[test]
    fn bad_lines_are_values_not_panics() {
        for (line, want) in [
            ("FOO", ParseError::Unknown),
            ("", ParseError::Unknown),
            ("LONGVERB x", ParseError::Unknown),
            ("RETR", ParseError::Syntax("argument required")),
            ("REST -1", ParseError::Syntax("REST needs a byte offset")),
            (
                "TYPE E",
                ParseError::ParamNotImplemented("type not supported"),
            ),
            ("TYPE Q", ParseError::Syntax("unknown type")),
            (
                "MODE B",
                ParseError::ParamNotImplemented("only MODE S is supported"),
            ),
            (
                "PORT 1,2,3,4,5",
                ParseError::Syntax("PORT needs h1,h2,h3,h4,p1,p2"),
            ),
            (
                "PORT 1,2,3,4,5,256",
                ParseError::Syntax("PORT needs h1,h2,h3,h4,p1,p2"),
            ),
            ("EPRT |3|x|1|", ParseError::NetworkProtocol),
            ("EPRT |1|::1|1|", ParseError::Syntax("bad IPv4 address")),
            ("EPSV 9", ParseError::NetworkProtocol),
            ("REIN", ParseError::NotImplemented),
            ("NOOP x", ParseError::Syntax("no argument allowed")),
            (
                "PROT X",
                ParseError::ParamNotImplemented("unknown protection level"),
            ),
        ] {
            assert_eq!(p(line), Err(want), "{line}");
        }
        assert_eq!(
            parse(b"RETR \xc0\xae"),
            Err(ParseError::Syntax("argument is not valid UTF-8"))
        );
    }

    /// Feeds `input` to a framer `chunk` octets at a time, the way the driver does.
    fn frames(input: &[u8], chunk: usize) -> Vec<Frame> {
        let mut framer = Framer::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                let (n, frame) = framer.next(&buf);
                buf.drain(..n);
                match frame {
                    Some(f) => out.push(f),
                    None if n == 0 || buf.is_empty() => break,
                    None => {}
                }
            }
            assert!(
                buf.len() <= MAX_LINE + 2,
                "framer let {} octets pile up",
                buf.len()
            );
        }
        out
    }

    #[test]
    fn framing_is_the_same_at_every_chunk_size() {
        let mut input = Vec::new();
        input.extend_from_slice(b"USER a\r\nNOOP\n");
        input.extend_from_slice(&vec![b'x'; MAX_LINE + 10]);
        input.extend_from_slice(b"\r\n\xff\xf4\xff\xf2ABOR\r\nRETR a\xff\xffb\r\n");
        input.extend_from_slice(&vec![b'y'; MAX_LINE]);
        // ABOR whose urgent LF went out of band, then BSD ftp's IAC IP (IAC) DM ABOR.
        input.extend_from_slice(b"\r\nQUIT\r\nABOR\rNOOP\r\n\xff\xf4\xf2ABOR\r\n\r\npartial");
        let want = vec![
            Frame::Line(b"USER a".to_vec()),
            Frame::Line(b"NOOP".to_vec()),
            Frame::TooLong,
            Frame::Line(b"ABOR".to_vec()),
            Frame::Line(b"RETR a\xffb".to_vec()),
            Frame::Line(vec![b'y'; MAX_LINE]),
            Frame::Line(b"QUIT".to_vec()),
            Frame::Line(b"ABOR".to_vec()),
            Frame::Line(b"NOOP".to_vec()),
            Frame::Line(b"ABOR".to_vec()),
            Frame::Line(Vec::new()),
        ];
        let mut size = 1;
        while size <= 512 {
            assert_eq!(frames(&input, size), want, "chunk size {size}");
            size *= 2;
        }
        assert_eq!(frames(&input, input.len()), want);
    }

    #[test]
    fn random_input_frames_the_same_at_any_chunking_and_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(959);
        let alphabet = b"\r\n\xff\xf4\xf2 USERPASRETRSTOR|,.0123456789/\x00";
        for _ in 0..2000 {
            let len = rng.gen_range(0..600);
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.gen_bool(0.1) {
                        rng.r#gen()
                    } else {
                        alphabet[rng.gen_range(0..alphabet.len())]
                    }
                })
                .collect();
            let whole = frames(&input, input.len().max(1));
            let chunk = rng.gen_range(1..64);
            assert_eq!(frames(&input, chunk), whole, "{input:?} at {chunk}");
            for f in whole {
                if let Frame::Line(line) = f {
                    let _ = parse(&line);
                }
            }
        }
    }

    #[test]
    fn time_vals_round_trip() {
        assert_eq!(parse_time_val("19700101000000"), Some(0));
        assert_eq!(parse_time_val("20020717210715.123"), Some(1026940035));
        assert_eq!(parse_time_val("2002071721071"), None);
        assert_eq!(parse_time_val("20021317210715"), None);
        assert_eq!(format_time_val(1026940035), "20020717210715");
    }
}
