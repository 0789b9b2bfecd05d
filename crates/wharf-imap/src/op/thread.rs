//! THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT, and REFERENCES (the
//! Zawinski algorithm as the RFC states it: link by References / In-Reply-To, prune
//! empty containers, gather roots by base subject, sort siblings by sent date).

use super::sort::{base_subject, sent_date};
use crate::proto::{SearchKey, ThreadAlgorithm};
use crate::session::{Done, ImapError, OpResult, Session};
use std::collections::HashMap;

/// What threading needs of one message.
#[derive(Debug, Clone)]
pub struct Item {
    /// Message number or UID, as the reply shows it.
    pub id: u32,
    /// Sequence number, for ties.
    pub seq: u32,
    pub date: i64,
    pub subject: String,
    /// Whether the subject had a reply/forward leader (it differs from its base).
    pub is_reply: bool,
    pub message_id: Option<String>,
    /// References, or else the first In-Reply-To id (RFC 5256 §3 step 1).
    pub references: Vec<String>,
}

/// The message ids (`<...>`) in a header value, in order.
pub fn msg_ids(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(a) = rest.find('<') {
        let Some(b) = rest[a..].find('>') else { break };
        let id = &rest[a..a + b + 1];
        if id.len() > 2 && !id.contains(char::is_whitespace) {
            out.push(id.to_string());
        }
        rest = &rest[a + b + 1..];
        if out.len() >= 1000 {
            break;
        }
    }
    out
}

/// A thread tree node: a message (index into the items) or a dummy.
#[derive(Debug, Clone, Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

fn is_ancestor(nodes: &[Node], maybe_ancestor: usize, mut n: usize) -> bool {
    let mut steps = 0;
    while let Some(p) = nodes[n].parent {
        if p == maybe_ancestor {
            return true;
        }
        n = p;
        steps += 1;
        if steps > nodes.len() {
            return true;
        }
    }
    false
}

fn unlink(nodes: &mut [Node], child: usize) {
    if let Some(p) = nodes[child].parent.take() {
        nodes[p].children.retain(|&c| c != child);
    }
}

fn link(nodes: &mut [Node], parent: usize, child: usize) {
    unlink(nodes, child);
    nodes[child].parent = Some(parent);
    nodes[parent].children.push(child);
}

/// RFC 5256 REFERENCES; returns the roots with their trees, as nested id lists.
pub fn references(items: &[Item]) -> String {
    let mut nodes: Vec<Node> = Vec::new();
    let mut table: HashMap<String, usize> = HashMap::new();
    let mut node_of = |id: &str, nodes: &mut Vec<Node>| -> usize {
        *table.entry(id.to_string()).or_insert_with(|| {
            nodes.push(Node::default());
            nodes.len() - 1
        })
    };
    // Step 1: containers and links.
    for (i, it) in items.iter().enumerate() {
        let own = match &it.message_id {
            Some(mid) => {
                let n = node_of(mid, &mut nodes);
                if nodes[n].msg.is_none() {
                    n
                } else {
                    // A duplicate Message-ID gets a container of its own.
                    nodes.push(Node::default());
                    nodes.len() - 1
                }
            }
            None => {
                nodes.push(Node::default());
                nodes.len() - 1
            }
        };
        nodes[own].msg = Some(i);
        let refs: Vec<usize> = it
            .references
            .iter()
            .map(|r| node_of(r, &mut nodes))
            .collect();
        for w in refs.windows(2) {
            let (p, c) = (w[0], w[1]);
            if p != c && nodes[c].parent.is_none() && !is_ancestor(&nodes, c, p) {
                link(&mut nodes, p, c);
            }
        }
        match refs.last() {
            Some(&p) if p != own && !is_ancestor(&nodes, own, p) => link(&mut nodes, p, own),
            _ => unlink(&mut nodes, own),
        }
    }
    // Step 2: the root set.
    let mut roots: Vec<usize> = (0..nodes.len())
        .filter(|&n| nodes[n].parent.is_none())
        .collect();
    // Step 4: prune dummies.
    fn prune(nodes: &mut Vec<Node>, list: Vec<usize>, at_root: bool) -> Vec<usize> {
        let mut out = Vec::new();
        for n in list {
            let kids = std::mem::take(&mut nodes[n].children);
            let kids = prune(nodes, kids, false);
            if nodes[n].msg.is_none() {
                if kids.is_empty() {
                    continue;
                }
                if !at_root || kids.len() == 1 {
                    for &k in &kids {
                        nodes[k].parent = nodes[n].parent;
                    }
                    out.extend(kids);
                    continue;
                }
            }
            for &k in &kids {
                nodes[k].parent = Some(n);
            }
            nodes[n].children = kids;
            out.push(n);
        }
        out
    }
    roots = prune(&mut nodes, roots, true);
    for &r in &roots {
        nodes[r].parent = None;
    }
    // Step 5: gather roots by base subject.
    let first_msg = |nodes: &Vec<Node>, n: usize| -> Option<usize> {
        nodes[n]
            .msg
            .or_else(|| nodes[n].children.iter().find_map(|&c| nodes[c].msg))
    };
    let mut by_subject: HashMap<String, usize> = HashMap::new();
    let mut gathered: Vec<usize> = Vec::new();
    for r in roots {
        let Some(m) = first_msg(&nodes, r) else {
            gathered.push(r);
            continue;
        };
        let subj = items[m].subject.clone();
        if subj.is_empty() {
            gathered.push(r);
            continue;
        }
        match by_subject.get(&subj).copied() {
            None => {
                by_subject.insert(subj, r);
                gathered.push(r);
            }
            Some(other) => {
                let other_dummy = nodes[other].msg.is_none();
                let this_dummy = nodes[r].msg.is_none();
                let reply = |n: usize| nodes[n].msg.is_some_and(|m| items[m].is_reply);
                if other_dummy && this_dummy {
                    let kids = std::mem::take(&mut nodes[r].children);
                    for k in kids {
                        link(&mut nodes, other, k);
                    }
                } else if other_dummy {
                    link(&mut nodes, other, r);
                } else if this_dummy {
                    link(&mut nodes, r, other);
                    let pos = gathered.iter().position(|&g| g == other).unwrap_or(0);
                    gathered[pos] = r;
                    by_subject.insert(subj, r);
                } else if reply(r) && !reply(other) {
                    link(&mut nodes, other, r);
                } else if reply(other) && !reply(r) {
                    link(&mut nodes, r, other);
                    let pos = gathered.iter().position(|&g| g == other).unwrap_or(0);
                    gathered[pos] = r;
                    by_subject.insert(subj, r);
                } else {
                    nodes.push(Node::default());
                    let d = nodes.len() - 1;
                    link(&mut nodes, d, other);
                    link(&mut nodes, d, r);
                    let pos = gathered.iter().position(|&g| g == other).unwrap_or(0);
                    gathered[pos] = d;
                    by_subject.insert(subj, d);
                }
            }
        }
    }
    // Step 6: sort siblings (and roots) by sent date, then sequence.
    fn key(nodes: &[Node], items: &[Item], n: usize) -> (i64, u32) {
        match nodes[n].msg {
            Some(m) => (items[m].date, items[m].seq),
            None => nodes[n]
                .children
                .first()
                .map(|&c| key(nodes, items, c))
                .unwrap_or((i64::MAX, u32::MAX)),
        }
    }
    fn sort_tree(nodes: &mut Vec<Node>, items: &[Item], n: usize, depth: usize) {
        let mut kids = std::mem::take(&mut nodes[n].children);
        if depth < 10_000 {
            for &k in &kids {
                sort_tree(nodes, items, k, depth + 1);
            }
        }
        kids.sort_by_key(|&k| key(nodes, items, k));
        nodes[n].children = kids;
    }
    for &r in &gathered {
        sort_tree(&mut nodes, items, r, 0);
    }
    gathered.sort_by_key(|&r| key(&nodes, items, r));
    let mut out = String::new();
    for r in gathered {
        out.push('(');
        write_node(&nodes, items, r, &mut out, 0);
        out.push(')');
    }
    out
}

/// `(a b (c d)(e))`: a chain while there is one child, parenthesized branches after.
fn write_node(nodes: &[Node], items: &[Item], n: usize, out: &mut String, depth: usize) {
    let mut n = n;
    let mut first = true;
    loop {
        if let Some(m) = nodes[n].msg {
            if !first {
                out.push(' ');
            }
            out.push_str(&items[m].id.to_string());
            first = false;
        }
        match nodes[n].children.as_slice() {
            [] => return,
            [only] if nodes[n].msg.is_some() => n = *only,
            kids => {
                if !first {
                    out.push(' ');
                }
                for &k in kids {
                    out.push('(');
                    if depth < 10_000 {
                        write_node(nodes, items, k, out, depth + 1);
                    }
                    out.push(')');
                }
                return;
            }
        }
    }
}

/// RFC 5256 ORDEREDSUBJECT: by base subject, each thread's first message the parent of
/// the others, threads in the order of their first message's date.
pub fn ordered_subject(items: &[Item]) -> String {
    let mut sorted: Vec<&Item> = items.iter().collect();
    sorted.sort_by(|a, b| {
        a.subject
            .cmp(&b.subject)
            .then(a.date.cmp(&b.date))
            .then(a.seq.cmp(&b.seq))
    });
    let mut threads: Vec<Vec<&Item>> = Vec::new();
    for it in sorted {
        match threads.last_mut() {
            Some(t) if t[0].subject == it.subject => t.push(it),
            _ => threads.push(vec![it]),
        }
    }
    threads.sort_by_key(|t| (t[0].date, t[0].seq));
    let mut out = String::new();
    for t in threads {
        out.push('(');
        out.push_str(&t[0].id.to_string());
        // RFC 5256 §5: thread-nested is two or more thread-lists, so a single child
        // continues the chain (`(1 2)`) and only two or more are nested (`(1 (2)(3))`).
        match &t[1..] {
            [] => {}
            [only] => out.push_str(&format!(" {}", only.id)),
            rest => {
                out.push(' ');
                for it in rest {
                    out.push_str(&format!("({})", it.id));
                }
            }
        }
        out.push(')');
    }
    out
}

pub async fn handle_thread(
    s: &mut Session,
    uid: bool,
    algorithm: ThreadAlgorithm,
    key: &SearchKey,
) -> OpResult {
    let hits = super::search::matching(s, key).await?;
    let store = s.ctx.store.clone();
    let mut items = Vec::with_capacity(hits.len());
    for h in hits {
        let summary = store.summary(h.meta.blob).await.map_err(ImapError::from)?;
        let env = &summary.envelope;
        let raw_subject = env.subject.clone().unwrap_or_default();
        let subject = base_subject(&raw_subject);
        let decoded = super::sort::decode_words(&raw_subject)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_uppercase();
        let mut references = Vec::new();
        if algorithm == ThreadAlgorithm::References {
            // References is not in the envelope: read the header block.
            let raw = store
                .read_body(h.meta.blob)
                .await
                .map_err(ImapError::from)?;
            let end = summary.root.body_start as usize;
            let header = crate::session::section::filter_header(
                &raw[..end.min(raw.len())],
                &["References".to_string()],
                false,
            );
            references = msg_ids(&String::from_utf8_lossy(&header));
            if references.is_empty() {
                references = msg_ids(env.in_reply_to.as_deref().unwrap_or(""))
                    .into_iter()
                    .take(1)
                    .collect();
            }
        }
        items.push(Item {
            id: if uid { h.meta.uid } else { h.seq },
            seq: h.seq,
            date: sent_date(env).unwrap_or(h.meta.internal_date),
            is_reply: decoded != subject,
            subject,
            message_id: env
                .message_id
                .as_deref()
                .and_then(|m| msg_ids(m).into_iter().next()),
            references,
        });
    }
    let data = match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(&items),
        ThreadAlgorithm::References => references(&items),
    };
    if data.is_empty() {
        s.untagged("THREAD");
    } else {
        s.untagged(&format!("THREAD {data}"));
    }
    Ok(Done::text("THREAD completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: u32, date: i64, subject: &str, mid: &str, refs: &[&str]) -> Item {
        let base = base_subject(subject);
        Item {
            id,
            seq: id,
            date,
            is_reply: base != subject.to_uppercase(),
            subject: base,
            message_id: Some(mid.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn ordered_subject_groups() {
        let items = vec![
            item(1, 10, "hello", "<1@x>", &[]),
            item(2, 20, "other", "<2@x>", &[]),
            item(3, 30, "Re: hello", "<3@x>", &[]),
            item(4, 40, "re: HELLO", "<4@x>", &[]),
        ];
        assert_eq!(ordered_subject(&items), "(1 (3)(4))(2)");
    }

    #[test]
    fn references_builds_trees() {
        let items = vec![
            item(1, 10, "a", "<1@x>", &[]),
            item(2, 20, "Re: a", "<2@x>", &["<1@x>"]),
            item(3, 30, "Re: a", "<3@x>", &["<1@x>", "<2@x>"]),
            item(4, 25, "Re: a", "<4@x>", &["<1@x>"]),
            item(5, 5, "b", "<5@x>", &[]),
            // Parent missing from the mailbox: two replies to it are grouped under a
            // dummy, which is shown as a list of branches.
            item(6, 50, "Re: c", "<6@x>", &["<gone@x>"]),
            item(7, 60, "Re: c", "<7@x>", &["<gone@x>"]),
            // Same subject without references: gathered under the original.
            item(8, 70, "Re: b", "<8@x>", &[]),
        ];
        assert_eq!(references(&items), "(5 8)(1 (2 3)(4))((6)(7))");
    }

    /// RFC 5256 §5 thread-data, checked by a recognizer of its grammar:
    /// `thread-list = "(" (thread-members / thread-nested) ")"`,
    /// `thread-members = nz-number *(SP nz-number) [SP thread-nested]`,
    /// `thread-nested = 2*thread-list`.
    fn grammar_ok(data: &str) -> bool {
        fn number(b: &[u8], i: &mut usize) -> bool {
            let start = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > start && b[start] != b'0'
        }
        fn nested(b: &[u8], i: &mut usize) -> bool {
            let mut n = 0;
            while b.get(*i) == Some(&b'(') {
                if !list(b, i) {
                    return false;
                }
                n += 1;
            }
            n >= 2
        }
        fn list(b: &[u8], i: &mut usize) -> bool {
            if b.get(*i) != Some(&b'(') {
                return false;
            }
            *i += 1;
            if b.get(*i) == Some(&b'(') {
                if !nested(b, i) {
                    return false;
                }
            } else {
                if !number(b, i) {
                    return false;
                }
                while b.get(*i) == Some(&b' ') {
                    *i += 1;
                    if b.get(*i) == Some(&b'(') {
                        if !nested(b, i) {
                            return false;
                        }
                        break;
                    }
                    if !number(b, i) {
                        return false;
                    }
                }
            }
            if b.get(*i) != Some(&b')') {
                return false;
            }
            *i += 1;
            true
        }
        let b = data.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !list(b, &mut i) {
                return false;
            }
        }
        true
    }

    #[test]
    fn grammar_recognizer() {
        assert!(grammar_ok("(1 2)(3 (4)(5))((6)(7))(8)"));
        assert!(grammar_ok("(1 2 3 (4 5)(6))"));
        assert!(!grammar_ok("(1 (2))"));
        assert!(!grammar_ok("((1))"));
        assert!(!grammar_ok("(1 (2 3))"));
    }

    /// RFC 5256 §5: a two-message ORDEREDSUBJECT thread is `(1 2)`, not `(1 (2))`
    /// (thread-nested needs two or more lists).
    #[test]
    fn ordered_subject_single_child_is_a_chain() {
        let items = vec![
            item(1, 10, "hello", "<1@x>", &[]),
            item(2, 20, "Re: hello", "<2@x>", &[]),
            item(3, 30, "other", "<3@x>", &[]),
        ];
        assert_eq!(ordered_subject(&items), "(1 2)(3)");
    }

    /// Both algorithms answer within the grammar for every shape of a small mailbox:
    /// every way of giving 1..=5 messages a parent among the earlier ones (or none,
    /// or a missing one), with subjects shared or not.
    #[test]
    fn every_answer_fits_the_grammar() {
        let n = 5usize;
        // parent choice per message: 0 = none, 1..=i = message (k), i+1 = a missing id.
        let mut choice = vec![0usize; n];
        loop {
            let items: Vec<Item> = (0..n)
                .map(|i| {
                    let refs: Vec<String> = match choice[i] {
                        0 => vec![],
                        c if c <= i => vec![format!("<{c}@x>")],
                        _ => vec!["<gone@x>".to_string()],
                    };
                    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                    let subject = if i % 2 == 0 { "Re: s" } else { "s" };
                    item(
                        i as u32 + 1,
                        (i as i64 * 7) % 5,
                        subject,
                        &format!("<{}@x>", i + 1),
                        &refs,
                    )
                })
                .collect();
            for len in 1..=n {
                let r = references(&items[..len]);
                assert!(grammar_ok(&r), "REFERENCES {choice:?}/{len}: {r}");
                let o = ordered_subject(&items[..len]);
                assert!(grammar_ok(&o), "ORDEREDSUBJECT {choice:?}/{len}: {o}");
            }
            // Next combination (odometer; digit i ranges over 0..=i+1).
            let mut i = 0;
            loop {
                if i == n {
                    return;
                }
                choice[i] += 1;
                if choice[i] <= i + 1 {
                    break;
                }
                choice[i] = 0;
                i += 1;
            }
        }
    }

    #[test]
    fn loops_do_not_hang() {
        let items = vec![
            item(1, 10, "a", "<1@x>", &["<2@x>"]),
            item(2, 20, "a", "<2@x>", &["<1@x>"]),
        ];
        let t = references(&items);
        assert!(t.contains('1') && t.contains('2'), "{t}");
        assert_eq!(msg_ids("<a@b> junk <c@d>"), vec!["<a@b>", "<c@d>"]);
    }
}
