//! The SMTP command grammar (RFC 5321 §4.1.1) with the parameters of the extensions we
//! offer: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), DSN's RET,
//! ENVID, NOTIFY and ORCPT (RFC 3461), and BDAT (RFC 3030).
//!
//! [`parse_command`] takes one line without its terminator and returns a [`Command`] or
//! the reply that the line deserves. It is pure and never panics; framing (finding the
//! line) is [`super::line`]'s job.

use super::path::{self, ForwardPath, ReversePath};
use super::reply::Reply;
use wharf_store::Secret;

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Helo(String),
    Ehlo(String),
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt {
        to: ForwardPath,
        params: RcptParams,
    },
    Data,
    /// RFC 3030: `BDAT size [LAST]`; `size` octets follow the line.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help(Option<String>),
    StartTls,
    /// RFC 4954 §4: `AUTH mechanism [initial-response]` (the mechanism upper-cased; the
    /// response still base64, `=` for an empty one). Only submission offers it.
    Auth {
        mechanism: String,
        initial: Option<Secret>,
    },
    /// Commands we know of and do not offer: SEND, SOML, SAML, TURN (RFC 5321 §4.1.1:
    /// obsolete), ETRN, ATRN. Answered 502.
    NotImplemented(&'static str),
}

/// A line that is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub reply: Reply,
    /// The connection cannot continue safely (a BDAT whose size we could not read: its
    /// chunk would otherwise be executed as commands).
    pub fatal: bool,
}

impl From<Reply> for ParseError {
    fn from(reply: Reply) -> Self {
        ParseError {
            reply,
            fatal: false,
        }
    }
}

/// RFC 6152 / RFC 3030 BODY= values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// RFC 3461 §4.3 RET=.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// RFC 1870 SIZE= (declared size; `u64::MAX` if the number did not fit).
    pub size: Option<u64>,
    pub body: Option<Body>,
    /// RFC 6531 SMTPUTF8.
    pub smtputf8: bool,
    /// RFC 3461 RET=.
    pub ret: Option<Ret>,
    /// RFC 3461 ENVID=, still xtext-encoded as received (the outbound side relays it so).
    pub envid: Option<String>,
}

/// RFC 3461 §4.1 NOTIFY=.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Never,
    On {
        success: bool,
        failure: bool,
        delay: bool,
    },
}

/// Parameters of RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    pub notify: Option<Notify>,
    /// RFC 3461 §4.2 ORCPT=addr-type;xtext, kept encoded: (addr-type, xtext).
    pub orcpt: Option<(String, String)>,
}

/// Longest SIZE or BDAT number we read (RFC 1870: 1*20DIGIT).
const MAX_DIGITS: usize = 20;

/// Parses one command line (without CRLF).
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    // Commands are ASCII; only path and parameter values may be UTF-8 (RFC 6531 §3.3).
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(Reply::syntax("Invalid UTF-8 in command").into());
    };
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Reply::syntax("Control character in command").into());
    }
    let line = line.trim_end_matches([' ', '\t']);
    let (verb, args) = match line.find(' ') {
        Some(i) => (&line[..i], line[i + 1..].trim_start_matches(' ')),
        None => (line, ""),
    };
    if verb.is_empty() || verb.len() > 10 || !verb.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Reply::unrecognized().into());
    }
    let verb = verb.to_ascii_uppercase();
    let no_args = |cmd: Command| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(ParseError::from(Reply::syntax(
                "Syntax error, no parameters allowed",
            )))
        }
    };
    match verb.as_str() {
        "HELO" => parse_hello(args, "HELO").map(Command::Helo),
        "EHLO" => parse_hello(args, "EHLO").map(Command::Ehlo),
        "MAIL" => parse_mail(args),
        "RCPT" => parse_rcpt(args),
        "DATA" => no_args(Command::Data),
        "BDAT" => parse_bdat(args),
        "RSET" => no_args(Command::Rset),
        // RFC 5321 §4.1.1.9: NOOP may have a string argument, which is ignored.
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" if !args.is_empty() => Ok(Command::Vrfy(args.to_string())),
        "EXPN" if !args.is_empty() => Ok(Command::Expn(args.to_string())),
        "VRFY" | "EXPN" => Err(Reply::syntax(format!("Syntax: {verb} <address>")).into()),
        "HELP" => Ok(Command::Help((!args.is_empty()).then(|| args.to_string()))),
        "STARTTLS" => no_args(Command::StartTls),
        "SEND" => Ok(Command::NotImplemented("SEND")),
        "SOML" => Ok(Command::NotImplemented("SOML")),
        "SAML" => Ok(Command::NotImplemented("SAML")),
        "TURN" => Ok(Command::NotImplemented("TURN")),
        "ETRN" => Ok(Command::NotImplemented("ETRN")),
        "ATRN" => Ok(Command::NotImplemented("ATRN")),
        "AUTH" => parse_auth(args),
        _ => Err(Reply::unrecognized().into()),
    }
}

/// RFC 5321 §4.1.1.1: `EHLO SP ( Domain / address-literal )`. Like Postfix, any
/// printable token is taken (clients send odd names); an empty one is refused.
fn parse_hello(args: &str, verb: &str) -> Result<String, ParseError> {
    match args.split([' ', '\t']).next() {
        Some(name) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(Reply::syntax(format!("Syntax: {verb} hostname")).into()),
    }
}

/// Strips a case-insensitive `FROM:`/`TO:` prefix; spaces after the colon are tolerated.
fn strip_keyword<'a>(args: &'a str, keyword: &str) -> Option<&'a str> {
    let head = args.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| args[keyword.len()..].trim_start_matches(' '))
}

/// Splits the path off and returns it with the parameter list.
fn path_and_params(rest: &str) -> Option<(&str, Vec<&str>)> {
    let (inner, after) = path::split_path(rest)?;
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((inner, after.split(' ').filter(|p| !p.is_empty()).collect()))
}

/// RFC 5321 §4.1.1.2: `MAIL FROM:<reverse-path> [SP mail-parameters]`.
fn parse_mail(args: &str) -> Result<Command, ParseError> {
    let rest =
        strip_keyword(args, "FROM:").ok_or_else(|| Reply::syntax("Syntax: MAIL FROM:<address>"))?;
    let (inner, raw_params) = path_and_params(rest).ok_or_else(Reply::bad_sender_syntax)?;
    let from = if inner.is_empty() {
        ReversePath::Null
    } else {
        ReversePath::Mailbox(
            path::parse_mailbox_path(inner).map_err(|_| Reply::bad_sender_syntax())?,
        )
    };
    let mut params = MailParams::default();
    for raw in raw_params {
        let (key, value) = split_param(raw)?;
        let dup = || ParseError::from(Reply::syntax(format!("Duplicate parameter {key}")));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => {
                if params.size.is_some() {
                    return Err(dup());
                }
                params.size =
                    Some(parse_number(value).ok_or_else(|| Reply::syntax("Bad SIZE value"))?);
            }
            "BODY" => {
                if params.body.is_some() {
                    return Err(dup());
                }
                let v = value.ok_or_else(|| Reply::syntax("Bad BODY value"))?;
                params.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => return Err(Reply::syntax("Bad BODY value").into()),
                });
            }
            "SMTPUTF8" => {
                if value.is_some() {
                    return Err(Reply::syntax("SMTPUTF8 takes no value").into());
                }
                if params.smtputf8 {
                    return Err(dup());
                }
                params.smtputf8 = true;
            }
            "RET" => {
                if params.ret.is_some() {
                    return Err(dup());
                }
                params.ret = Some(match value.map(str::to_ascii_uppercase).as_deref() {
                    Some("FULL") => Ret::Full,
                    Some("HDRS") => Ret::Hdrs,
                    _ => return Err(Reply::syntax("Bad RET value").into()),
                });
            }
            "ENVID" => {
                if params.envid.is_some() {
                    return Err(dup());
                }
                match value {
                    // RFC 3461 §4.4: at most 100 characters of xtext.
                    Some(v) if v.len() <= 100 && is_xtext(v) => params.envid = Some(v.to_string()),
                    _ => return Err(Reply::syntax("Bad ENVID value").into()),
                }
            }
            _ => return Err(Reply::unknown_param(key).into()),
        }
    }
    Ok(Command::Mail { from, params })
}

/// RFC 5321 §4.1.1.3: `RCPT TO:<forward-path> [SP rcpt-parameters]`.
fn parse_rcpt(args: &str) -> Result<Command, ParseError> {
    let rest =
        strip_keyword(args, "TO:").ok_or_else(|| Reply::syntax("Syntax: RCPT TO:<address>"))?;
    let (inner, raw_params) = path_and_params(rest).ok_or_else(Reply::bad_recipient_syntax)?;
    let to = if inner.eq_ignore_ascii_case("postmaster") {
        ForwardPath::Postmaster
    } else {
        ForwardPath::Mailbox(
            path::parse_mailbox_path(inner).map_err(|_| Reply::bad_recipient_syntax())?,
        )
    };
    let mut params = RcptParams::default();
    for raw in raw_params {
        let (key, value) = split_param(raw)?;
        let dup = || ParseError::from(Reply::syntax(format!("Duplicate parameter {key}")));
        match key.to_ascii_uppercase().as_str() {
            "NOTIFY" => {
                if params.notify.is_some() {
                    return Err(dup());
                }
                params.notify =
                    Some(parse_notify(value).ok_or_else(|| Reply::syntax("Bad NOTIFY value"))?);
            }
            "ORCPT" => {
                if params.orcpt.is_some() {
                    return Err(dup());
                }
                // RFC 3461 §4.2: ORCPT=addr-type ";" xtext
                let bad = || ParseError::from(Reply::syntax("Bad ORCPT value"));
                let (kind, addr) = value.and_then(|v| v.split_once(';')).ok_or_else(bad)?;
                let kind_ok = !kind.is_empty()
                    && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                // RFC 6533 §3: with addr-type utf-8 the value is utf-8-addr-unitext,
                // which may hold raw UTF-8 beside the xtext escapes.
                let text_ok = if kind.eq_ignore_ascii_case("utf-8") {
                    addr.chars()
                        .all(|c| !c.is_ascii() || (c > ' ' && c != '=' && c != '\u{7f}'))
                        && is_xtext(&addr.replace(|c: char| !c.is_ascii(), "x"))
                } else {
                    is_xtext(addr)
                };
                if !kind_ok || addr.is_empty() || addr.len() > 500 || !text_ok {
                    return Err(bad());
                }
                params.orcpt = Some((kind.to_string(), addr.to_string()));
            }
            _ => return Err(Reply::unknown_param(key).into()),
        }
    }
    Ok(Command::Rcpt { to, params })
}

/// RFC 4954 §4: `AUTH SP sasl-mech [SP initial-response]`; RFC 4422 §3.1 mechanism
/// names are 1-20 of upper-case letters, digits, `-` and `_`.
fn parse_auth(args: &str) -> Result<Command, ParseError> {
    let mut words = args.split(' ');
    let mech = words.next().unwrap_or("");
    let mech_ok = !mech.is_empty()
        && mech.len() <= 20
        && mech
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !mech_ok {
        return Err(Reply::syntax("Syntax: AUTH mechanism [initial-response]").into());
    }
    let initial = words.next().map(|w| Secret::new(w.to_string()));
    if words.next().is_some() {
        return Err(Reply::syntax("Syntax: AUTH mechanism [initial-response]").into());
    }
    Ok(Command::Auth {
        mechanism: mech.to_ascii_uppercase(),
        initial,
    })
}

/// RFC 3461 §4.1: `NEVER` alone, or a comma list of SUCCESS, FAILURE, DELAY.
fn parse_notify(value: Option<&str>) -> Option<Notify> {
    let value = value?.to_ascii_uppercase();
    if value == "NEVER" {
        return Some(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for item in value.split(',') {
        let slot = match item {
            "SUCCESS" => &mut success,
            "FAILURE" => &mut failure,
            "DELAY" => &mut delay,
            _ => return None,
        };
        if *slot {
            return None;
        }
        *slot = true;
    }
    Some(Notify::On {
        success,
        failure,
        delay,
    })
}

/// RFC 3030 §2: `BDAT SP chunk-size [SP end-marker]`.
fn parse_bdat(args: &str) -> Result<Command, ParseError> {
    let fatal = || ParseError {
        reply: Reply::syntax("Syntax: BDAT count [LAST]"),
        fatal: true,
    };
    let mut words = args.split(' ');
    let size = words
        .next()
        .and_then(|w| parse_number(Some(w)))
        .ok_or_else(fatal)?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(fatal()),
    };
    if words.next().is_some() {
        return Err(fatal());
    }
    Ok(Command::Bdat { size, last })
}

/// `1*20DIGIT`; a number beyond `u64` saturates (it is over any limit anyway).
fn parse_number(value: Option<&str>) -> Option<u64> {
    let v = value?;
    if v.is_empty() || v.len() > MAX_DIGITS || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u64>().unwrap_or(u64::MAX))
}

/// RFC 5321 §4.1.2 esmtp-param: `esmtp-keyword ["=" esmtp-value]`.
fn split_param(raw: &str) -> Result<(&str, Option<&str>), ParseError> {
    let (key, value) = match raw.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (raw, None),
    };
    let key_ok = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    // esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)
    let value_ok = value.is_none_or(|v| {
        !v.is_empty()
            && v.chars()
                .all(|c| (c > ' ' && c != '=' && c != '\u{7f}') || !c.is_ascii())
    });
    if !key_ok || !value_ok {
        return Err(Reply::syntax("Bad parameter syntax").into());
    }
    Ok((key, value))
}

/// RFC 3461 §4: xtext = *( xchar / hexchar ), xchar = 33-126 but "+" and "=",
/// hexchar = "+" two upper-case hex digits.
fn is_xtext(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
                if i + 2 >= b.len() {
                    return false;
                }
                if !(hex(b[i + 1]) && hex(b[i + 2])) {
                    return false;
                }
                i += 3;
            }
            b'=' => return false,
            33..=126 => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::path::parse_mailbox;

    fn ok(line: &str) -> Command {
        parse_command(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {}", e.reply))
    }
    fn err(line: &str) -> Reply {
        match parse_command(line.as_bytes()) {
            Ok(c) => panic!("{line:?} parsed as {c:?}"),
            Err(e) => e.reply,
        }
    }
    fn mb(s: &str) -> path::Mailbox {
        parse_mailbox(s).unwrap()
    }

    #[test]
    fn auth_command() {
        assert_eq!(
            ok("auth plain AGFAYgBj"),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some(Secret::new("AGFAYgBj"))
            }
        );
        assert_eq!(
            ok("AUTH LOGIN"),
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial: None
            }
        );
        assert_eq!(err("AUTH").code, 501);
        assert_eq!(err("AUTH PL@IN").code, 501);
        assert_eq!(err("AUTH PLAIN a b").code, 501);
        // The secret never shows in Debug output.
        assert!(!format!("{:?}", ok("AUTH PLAIN AGFAYgBj")).contains("AGFAYgBj"));
    }

    #[test]
    fn hello_verbs() {
        assert_eq!(
            ok("EHLO client.example"),
            Command::Ehlo("client.example".into())
        );
        assert_eq!(ok("helo [192.0.2.1]"), Command::Helo("[192.0.2.1]".into()));
        assert_eq!(err("EHLO").code, 501);
        assert_eq!(err("EHLO ").code, 501);
    }

    #[test]
    fn mail_from_paths() {
        assert_eq!(
            ok("MAIL FROM:<>"),
            Command::Mail {
                from: ReversePath::Null,
                params: MailParams::default()
            }
        );
        assert_eq!(
            ok("mail from:<a@b.example>"),
            Command::Mail {
                from: ReversePath::Mailbox(mb("a@b.example")),
                params: MailParams::default()
            }
        );
        // Tolerated: a space after the colon (Postfix does too).
        assert!(matches!(
            ok("MAIL FROM: <a@b.example>"),
            Command::Mail { .. }
        ));
        assert!(
            matches!(ok("MAIL FROM:<@r1.example,@r2.example:a@b.example>"),
            Command::Mail { from: ReversePath::Mailbox(m), .. } if m.to_string() == "a@b.example")
        );
        assert_eq!(
            err("MAIL FROM:a@b.example").status.unwrap().to_string(),
            "5.1.7"
        );
        assert_eq!(err("MAIL FROM:<a@b.example").code, 501);
        assert_eq!(err("MAIL TO:<a@b.example>").code, 501);
        assert_eq!(err("MAIL FROM:<a@b.example>x").code, 501);
    }

    #[test]
    fn mail_parameters() {
        let Command::Mail { params, .. } =
            ok("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B314")
        else {
            panic!()
        };
        assert_eq!(
            params,
            MailParams {
                size: Some(1000),
                body: Some(Body::EightBitMime),
                smtputf8: true,
                ret: Some(Ret::Hdrs),
                envid: Some("QQ+2B314".into()),
            }
        );
        let Command::Mail { params, .. } =
            ok("MAIL FROM:<> body=binarymime size=99999999999999999999")
        else {
            panic!()
        };
        assert_eq!(params.body, Some(Body::BinaryMime));
        assert_eq!(params.size, Some(u64::MAX));
    }

    #[test]
    fn mail_parameter_errors() {
        let unknown = err("MAIL FROM:<> FOO=BAR");
        assert_eq!(
            (unknown.code, unknown.status.unwrap().to_string()),
            (555, "5.5.4".into())
        );
        assert_eq!(err("MAIL FROM:<> SIZE=abc").code, 501);
        assert_eq!(err("MAIL FROM:<> SIZE=1 SIZE=2").code, 501);
        assert_eq!(err("MAIL FROM:<> BODY=9BIT").code, 501);
        assert_eq!(err("MAIL FROM:<> SMTPUTF8=yes").code, 501);
        assert_eq!(err("MAIL FROM:<> RET=ALL").code, 501);
        assert_eq!(err("MAIL FROM:<> ENVID=a+zz").code, 501);
        assert_eq!(err("MAIL FROM:<> ENVID=a+2").code, 501);
        assert_eq!(err("MAIL FROM:<> =x").code, 501);
    }

    #[test]
    fn rcpt_to() {
        assert_eq!(
            ok("RCPT TO:<PostMaster>"),
            Command::Rcpt {
                to: ForwardPath::Postmaster,
                params: RcptParams::default()
            }
        );
        let Command::Rcpt { to, params } =
            ok("RCPT TO:<u@d.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;u+40d.example")
        else {
            panic!()
        };
        assert_eq!(to, ForwardPath::Mailbox(mb("u@d.example")));
        assert_eq!(
            params.notify,
            Some(Notify::On {
                success: true,
                failure: false,
                delay: true
            })
        );
        assert_eq!(
            params.orcpt,
            Some(("rfc822".into(), "u+40d.example".into()))
        );
        assert_eq!(
            ok("RCPT TO:<u@d.example> NOTIFY=never"),
            Command::Rcpt {
                to: ForwardPath::Mailbox(mb("u@d.example")),
                params: RcptParams {
                    notify: Some(Notify::Never),
                    orcpt: None
                }
            }
        );
        assert_eq!(err("RCPT TO:<u@d.example> NOTIFY=NEVER,SUCCESS").code, 501);
        assert_eq!(
            err("RCPT TO:<u@d.example> NOTIFY=SUCCESS,SUCCESS").code,
            501
        );
        assert_eq!(err("RCPT TO:<u@d.example> ORCPT=rfc822").code, 501);
        assert_eq!(
            err("RCPT TO:<u@d.example> ORCPT=rfc822;j\u{f6}rg@d.example").code,
            501
        );
        let Command::Rcpt { params, .. } =
            ok("RCPT TO:<j\u{f6}rg@d.example> ORCPT=utf-8;j\u{f6}rg@d.example")
        else {
            panic!()
        };
        assert_eq!(params.orcpt.unwrap().1, "j\u{f6}rg@d.example");
        assert_eq!(err("RCPT TO:<u@d.example> SIZE=1").code, 555);
        assert_eq!(err("RCPT TO:<>").status.unwrap().to_string(), "5.1.3");
        assert_eq!(err("RCPT TO:u@d.example").code, 501);
    }

    #[test]
    fn bdat() {
        assert_eq!(
            ok("BDAT 100"),
            Command::Bdat {
                size: 100,
                last: false
            }
        );
        assert_eq!(
            ok("bdat 0 last"),
            Command::Bdat {
                size: 0,
                last: true
            }
        );
        for bad in ["BDAT", "BDAT x", "BDAT 1 FIRST", "BDAT 1 LAST x", "BDAT -1"] {
            let e = parse_command(bad.as_bytes()).unwrap_err();
            assert!(e.fatal, "{bad}");
            assert_eq!(e.reply.code, 501);
        }
    }

    #[test]
    fn simple_verbs_and_arguments() {
        assert_eq!(ok("DATA"), Command::Data);
        assert_eq!(ok("data  "), Command::Data);
        assert_eq!(err("DATA x").code, 501);
        assert_eq!(ok("RSET"), Command::Rset);
        assert_eq!(ok("NOOP anything"), Command::Noop);
        assert_eq!(ok("QUIT"), Command::Quit);
        assert_eq!(ok("VRFY alice"), Command::Vrfy("alice".into()));
        assert_eq!(err("VRFY").code, 501);
        assert_eq!(ok("EXPN list"), Command::Expn("list".into()));
        assert_eq!(ok("HELP"), Command::Help(None));
        assert_eq!(ok("HELP MAIL"), Command::Help(Some("MAIL".into())));
        assert_eq!(ok("STARTTLS"), Command::StartTls);
        assert_eq!(err("STARTTLS now").code, 501);
        for verb in ["SEND", "SOML", "SAML", "TURN"] {
            assert_eq!(
                ok(&format!("{verb} FROM:<a@b.example>")),
                Command::NotImplemented(verb)
            );
        }
    }

    #[test]
    fn junk_lines() {
        assert_eq!(err("").code, 500);
        assert_eq!(err("XYZZY").code, 500);
        assert_eq!(err("MAIL\u{0}FROM:<>").code, 501);
        assert_eq!(
            parse_command(b"MAIL FROM:<\xff@x.test>")
                .unwrap_err()
                .reply
                .code,
            501
        );
        assert_eq!(err("12345").code, 500);
    }

    #[test]
    fn utf8_paths_parse_and_are_flagged() {
        let Command::Mail {
            from: ReversePath::Mailbox(m),
            params,
        } = ok("MAIL FROM:<jörg@bücher.example> SMTPUTF8")
        else {
            panic!()
        };
        assert!(!m.is_ascii());
        assert!(params.smtputf8);
    }

    #[test]
    fn xtext() {
        assert!(is_xtext("abc+2B+3D"));
        assert!(!is_xtext("abc+"));
        assert!(!is_xtext("abc+2"));
        assert!(!is_xtext("abc+2b"));
        assert!(!is_xtext("a=b"));
        assert!(!is_xtext("a b"));
    }
}
