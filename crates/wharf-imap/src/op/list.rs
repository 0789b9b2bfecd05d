//! LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
//! SPECIAL-USE (RFC 6154) and CHILDREN (RFC 3348) attributes; LSUB (RFC 3501 §6.3.9).
//!
//! Names that exist only as the parent of another mailbox (after the parent was deleted)
//! are listed with `\NonExistent` (extended) or `\Noselect`.
//!
//! Subscriptions are names ([`wharf_store::Store::subscriptions`]), kept after DELETE:
//! `LIST (SUBSCRIBED)` shows a subscribed name without a mailbox as `\Subscribed
//! \NonExistent` (RFC 5258 §3.1), plain LIST does not show it. LSUB shows every
//! subscribed name that matches, and, where `%` stops above a subscribed name, its
//! unsubscribed superior as `\Noselect` (RFC 3501 §6.3.9). Both as Dovecot 2.3 answers.

use crate::proto::{ListOptions, encode};
use crate::session::{Done, ImapError, OpResult, Session, normalize_inbox};
use std::collections::{BTreeMap, BTreeSet};
use wharf_store::{Account, Mailbox};

/// Longest pattern accepted, in characters (matching is O(pattern × name)).
const MAX_PATTERN: usize = 1024;

/// RFC 9051 §6.3.9: `*` matches anything, `%` anything but the delimiter.
pub fn matches(pattern: &[char], name: &[char]) -> bool {
    // dp[j] = pattern[..i] matches name[..j]
    let mut dp = vec![false; name.len() + 1];
    dp[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' | '%' => {
                next[0] = dp[0];
                for j in 1..=name.len() {
                    next[j] = dp[j] || (next[j - 1] && (p == '*' || name[j - 1] != '/'));
                }
            }
            c => {
                for j in 1..=name.len() {
                    next[j] = dp[j - 1] && name[j - 1] == c;
                }
            }
        }
        dp = next;
    }
    dp[name.len()]
}

/// One name to list with what is known about it.
#[derive(Default)]
struct Entry<'a> {
    mailbox: Option<&'a Mailbox>,
    has_children: bool,
    subscribed: bool,
    /// A descendant is subscribed (for RECURSIVEMATCH CHILDINFO).
    subscribed_child: bool,
}

/// The superiors of a name, nearest first (`a/b` and `a` for `a/b/c`).
fn superiors(name: &str) -> impl Iterator<Item = &str> {
    let mut rest = name;
    std::iter::from_fn(move || {
        let i = rest.rfind('/')?;
        rest = &rest[..i];
        Some(rest)
    })
}

/// Every mailbox name, plus the missing parents of nested names; with
/// `subscribed_names`, also the subscribed names that have no mailbox (and their
/// superiors, for CHILDINFO).
fn entries<'a>(
    boxes: &'a [Mailbox],
    subs: &BTreeSet<String>,
    subscribed_names: bool,
) -> BTreeMap<String, Entry<'a>> {
    let mut map: BTreeMap<String, Entry<'a>> = BTreeMap::new();
    for b in boxes {
        map.entry(b.name.clone()).or_default().mailbox = Some(b);
        for parent in superiors(&b.name) {
            map.entry(parent.to_string()).or_default().has_children = true;
        }
    }
    for name in subs {
        if subscribed_names {
            map.entry(name.clone()).or_default();
        }
        if let Some(e) = map.get_mut(name) {
            e.subscribed = true;
        }
        for parent in superiors(name) {
            if subscribed_names {
                map.entry(parent.to_string()).or_default();
            }
            if let Some(e) = map.get_mut(parent) {
                e.subscribed_child = true;
            }
        }
    }
    map
}

fn pattern_chars(s: &Session, reference: &str, pattern: &str) -> Result<Vec<char>, ImapError> {
    let decode = |x: &str| {
        if s.enabled.utf8 {
            x.to_string()
        } else {
            crate::proto::utf7::decode(x).unwrap_or_else(|| x.to_string())
        }
    };
    let (reference, pattern) = (decode(reference), decode(pattern));
    let full = normalize_inbox(&format!("{reference}{pattern}"));
    if full.chars().count() > MAX_PATTERN {
        return Err(ImapError::no_code("LIMIT", "Pattern too long"));
    }
    Ok(full.chars().collect())
}

/// The account's subscribed names, sorted.
async fn subscribed(s: &Session, account: &Account) -> Result<BTreeSet<String>, ImapError> {
    Ok(s.ctx
        .store
        .subscriptions(account.id)
        .await?
        .into_iter()
        .collect())
}

pub async fn handle_list(
    s: &mut Session,
    reference: &str,
    patterns: &[String],
    options: &ListOptions,
) -> OpResult {
    // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
    if !options.extended && patterns.len() == 1 && patterns[0].is_empty() {
        s.untagged("LIST (\\Noselect) \"/\" \"\"");
        return Ok(Done::text("LIST completed"));
    }
    let account = super::account(s)?;
    let boxes = s.ctx.store.mailbox_list(account.id).await?;
    let subs = subscribed(s, &account).await?;
    let pats: Vec<Vec<char>> = patterns
        .iter()
        .map(|p| pattern_chars(s, reference, p))
        .collect::<Result<_, _>>()?;
    let map = entries(&boxes, &subs, options.select_subscribed);
    let extended = options.extended;
    let show_subscribed = options.return_subscribed || options.select_subscribed;
    let mut lines: Vec<(Vec<u8>, Option<&Mailbox>)> = Vec::new();
    // INBOX first, as clients expect.
    let mut names: Vec<&String> = map.keys().collect();
    names.sort_by_key(|n| (n.as_str() != "INBOX", n.as_str()));
    for name in names {
        let e = &map[name];
        let chars: Vec<char> = name.chars().collect();
        if !pats.iter().any(|p| matches(p, &chars)) {
            continue;
        }
        let subscribed = e.subscribed;
        let mut child_info = false;
        if options.select_subscribed && !subscribed {
            // RFC 5258 §3.5: with RECURSIVEMATCH a parent of subscribed names is listed
            // with CHILDINFO.
            if options.recursive_match && e.subscribed_child {
                child_info = true;
            } else {
                continue;
            }
        }
        if options.select_special_use && e.mailbox.and_then(|m| m.special_use).is_none() {
            continue;
        }
        let mut attrs: Vec<&str> = Vec::new();
        match e.mailbox {
            None if extended => attrs.push("\\NonExistent"),
            None => attrs.push("\\Noselect"),
            Some(_) => {}
        }
        attrs.push(if e.has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        });
        if show_subscribed && subscribed {
            attrs.push("\\Subscribed");
        }
        if let Some(u) = e.mailbox.and_then(|m| m.special_use) {
            attrs.push(u.as_imap());
        }
        let mut data = format!("LIST ({}) \"/\" ", attrs.join(" ")).into_bytes();
        encode::mailbox(&mut data, name, s.enabled.utf8);
        if child_info {
            data.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        lines.push((data, e.mailbox));
    }
    for (data, mailbox) in lines {
        s.untagged_bytes(&data);
        // RFC 5819 §2: STATUS right after its LIST; none for non-selectable names.
        if let (Some(items), Some(m)) = (&options.return_status, mailbox) {
            let status = super::status::status_data(s, m, items).await?;
            s.untagged_bytes(&status);
        }
    }
    Ok(Done::text("LIST completed"))
}

/// LSUB (IMAP4rev1, RFC 3501 §6.3.9): subscribed names matching the pattern, whether
/// or not a mailbox has them; where the pattern matches an unsubscribed superior of a
/// subscribed name but not the name itself (`%`), that superior with `\Noselect`.
pub async fn handle_lsub(s: &mut Session, reference: &str, pattern: &str) -> OpResult {
    let account = super::account(s)?;
    let subs = subscribed(s, &account).await?;
    let pat = pattern_chars(s, reference, pattern)?;
    let is_match = |name: &str| matches(&pat, &name.chars().collect::<Vec<_>>());
    // name -> listed as \Noselect
    let mut names: BTreeMap<&str, bool> = BTreeMap::new();
    for name in &subs {
        if is_match(name) {
            names.insert(name, false);
            continue;
        }
        for parent in superiors(name) {
            if !subs.contains(parent) && is_match(parent) {
                names.entry(parent).or_insert(true);
            }
        }
    }
    for (name, noselect) in names {
        let mut data = if noselect {
            b"LSUB (\\Noselect) \"/\" ".to_vec()
        } else {
            b"LSUB () \"/\" ".to_vec()
        };
        encode::mailbox(&mut data, name, s.enabled.utf8);
        s.untagged_bytes(&data);
    }
    Ok(Done::text("LSUB completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "a/b/c"));
        assert!(m("%", "abc"));
        assert!(!m("%", "a/b"));
        assert!(m("a/%", "a/b"));
        assert!(!m("a/%", "a/b/c"));
        assert!(m("a/*", "a/b/c"));
        assert!(m("INBOX", "INBOX"));
        assert!(!m("INBOX", "INBOX/x"));
        assert!(m("*x*", "abxcd"));
        assert!(m("%/%", "a/b"));
        assert!(!m("", "a"));
        assert!(m("", ""));
    }
}
