//! Directory listings, pure: `ls -l` lines for LIST (what every client parses), bare
//! names for NLST, and RFC 3659 fact lines for MLSD/MLST.

use wharf_store::files::{Entry, EntryKind};

/// The RFC 3659 §7 facts we offer (`unique` is per-file, `perm` per-session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub kind: bool,
    pub size: bool,
    pub modify: bool,
    pub perm: bool,
    pub unique: bool,
}

impl Default for Facts {
    fn default() -> Facts {
        Facts {
            kind: true,
            size: true,
            modify: true,
            perm: true,
            unique: true,
        }
    }
}

impl Facts {
    /// The FEAT line: every fact, `*` on the ones enabled (RFC 3659 §7.8).
    pub fn feat_line(&self) -> String {
        let mut s = String::from(" MLST ");
        for (name, on) in self.table() {
            s.push_str(name);
            if on {
                s.push('*');
            }
            s.push(';');
        }
        s
    }

    fn table(&self) -> [(&'static str, bool); 5] {
        [
            ("type", self.kind),
            ("size", self.size),
            ("modify", self.modify),
            ("perm", self.perm),
            ("unique", self.unique),
        ]
    }

    /// `OPTS MLST fact;fact;` (RFC 3659 §7.9): unknown facts are ignored. Returns the
    /// list now enabled, for the reply.
    pub fn select(&mut self, list: &str) -> String {
        let wanted: Vec<String> = list
            .split(';')
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect();
        let on = |n: &str| wanted.iter().any(|w| w == n);
        *self = Facts {
            kind: on("type"),
            size: on("size"),
            modify: on("modify"),
            perm: on("perm"),
            unique: on("unique"),
        };
        self.table()
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| format!("{n};"))
            .collect()
    }
}

/// One MLSx entry without the leading space: `type=file;size=3;... name`.
pub fn mlsx_line(entry: &Entry, facts: &Facts, writable: bool, name: &str) -> String {
    let mut s = String::new();
    if facts.kind {
        s.push_str(match entry.kind {
            EntryKind::Dir => "type=dir;",
            EntryKind::File => "type=file;",
        });
    }
    if facts.size && entry.kind == EntryKind::File {
        s.push_str(&format!("size={};", entry.size));
    }
    if facts.modify {
        s.push_str(&format!(
            "modify={};",
            crate::command::format_time_val(entry.modified)
        ));
    }
    if facts.perm {
        // RFC 3659 §7.5.5.
        let perm = match (entry.kind, writable) {
            (EntryKind::File, true) => "adfrw",
            (EntryKind::File, false) => "r",
            (EntryKind::Dir, true) => "cdeflmp",
            (EntryKind::Dir, false) => "el",
        };
        s.push_str(&format!("perm={perm};"));
    }
    if facts.unique {
        s.push_str(&format!("unique={};", entry.unique));
    }
    s.push(' ');
    s.push_str(name);
    s
}

/// One `ls -l` line as vsftpd writes it. Dates within six months show the time, older
/// ones the year (what clients' parsers expect).
pub fn list_line(entry: &Entry, now: i64) -> String {
    let (mode, links) = match entry.kind {
        EntryKind::Dir => ("drwxr-xr-x", 2),
        EntryKind::File => ("-rw-r--r--", 1),
    };
    let when = chrono::DateTime::from_timestamp(entry.modified, 0).unwrap_or_default();
    const HALF_YEAR: i64 = 182 * 24 * 3600;
    let date = if (now - entry.modified).abs() < HALF_YEAR {
        when.format("%b %e %H:%M").to_string()
    } else {
        when.format("%b %e  %Y").to_string()
    };
    format!(
        "{mode} {links:>3} ftp      ftp      {size:>12} {date} {name}",
        size = entry.size,
        name = entry.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, modified: i64) -> Entry {
        Entry {
            name: name.into(),
            kind: EntryKind::File,
            size,
            modified,
            unique: "1g2".into(),
        }
    }

    #[test]
    fn ls_lines_show_time_or_year() {
        let now = 1_700_000_000; // 2023-11-14
        assert_eq!(
            list_line(&file("a b.txt", 42, now - 3600), now),
            "-rw-r--r--   1 ftp      ftp                42 Nov 14 21:13 a b.txt"
        );
        assert_eq!(
            list_line(&file("old", 1, 1_000_000_000), now),
            "-rw-r--r--   1 ftp      ftp                 1 Sep  9  2001 old"
        );
    }

    #[test]
    fn mlsx_facts_follow_opts() {
        let e = file("f", 3, 1026940035);
        let mut facts = Facts::default();
        assert_eq!(
            mlsx_line(&e, &facts, true, "f"),
            "type=file;size=3;modify=20020717210715;perm=adfrw;unique=1g2; f"
        );
        assert_eq!(facts.select("size;Type;bogus;"), "type;size;");
        assert_eq!(
            mlsx_line(&e, &facts, false, "/x/f"),
            "type=file;size=3; /x/f"
        );
        assert_eq!(facts.feat_line(), " MLST type*;size*;modify;perm;unique;");
    }
}
