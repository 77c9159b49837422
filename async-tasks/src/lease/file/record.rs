//! What one lease file says, and how lease names become file names.
//!
//! A lease file is a few lines of text, so that `cat` tells who holds a lease:
//!
//! ```text
//! async-tasks lease 1
//! name outbox
//! fence 7
//! holder web-1-4242-9f3a0c1d
//! expires_ms 1765016000000
//! ```
//!
//! `holder` and `expires_ms` are there only while a term holds the lease (until its
//! expiry); a free lease keeps its file, for its last fence. Names and holders are escaped
//! as in file names (below), so that each value is one word.

use std::fmt::Write as _;

/// The first line of every lease file: the format and its version.
const HEADER: &str = "async-tasks lease 1";

/// The state of one lease, as its file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    /// The lease's name, unescaped: two names whose files collide (on a file system that
    /// ignores case) are told apart by it.
    pub(super) name: String,
    /// The fence of the last term granted, or 0.
    pub(super) fence: u64,
    /// The term granted last, if it was not released: its holder, and its expiry in
    /// milliseconds since the Unix epoch.
    pub(super) held: Option<(String, u64)>,
}

impl Record {
    /// A lease never taken.
    pub(super) fn new(name: &str) -> Record {
        Record {
            name: name.to_owned(),
            fence: 0,
            held: None,
        }
    }

    /// Whether the last term holds the lease at `now_ms`: it was not released, and its
    /// expiry is still ahead.
    pub(super) fn is_held(&self, now_ms: u64) -> bool {
        self.held
            .as_ref()
            .is_some_and(|&(_, expires)| now_ms < expires)
    }

    /// Whether the term (`holder`, `fence`) holds the lease at `now_ms`.
    pub(super) fn is_held_by(&self, holder: &str, fence: u64, now_ms: u64) -> bool {
        self.is_held(now_ms) && self.fence == fence && self.held_by(holder)
    }

    /// Whether the last term granted is (`holder`, `fence`) and was not released.
    pub(super) fn is_term(&self, holder: &str, fence: u64) -> bool {
        self.fence == fence && self.held_by(holder)
    }

    fn held_by(&self, holder: &str) -> bool {
        self.held.as_ref().is_some_and(|(h, _)| h == holder)
    }

    /// The file's text.
    pub(super) fn to_text(&self) -> String {
        let mut text = format!(
            "{HEADER}\nname {}\nfence {}\n",
            escape(&self.name),
            self.fence
        );
        if let Some((holder, expires_ms)) = &self.held {
            // Writing to a `String` cannot fail.
            let _ = write!(text, "holder {}\nexpires_ms {expires_ms}\n", escape(holder));
        }
        text
    }

    /// Reads a file's text; what is wrong with it, if anything.
    pub(super) fn parse(text: &str) -> Result<Record, String> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!(
                "not a lease file: its first line is not `{HEADER}`"
            ));
        }
        let (mut name, mut fence, mut holder, mut expires) = (None, None, None, None);
        for line in lines {
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| format!("line `{line}` is not `key value`"))?;
            let slot = match key {
                "name" => &mut name,
                "fence" => &mut fence,
                "holder" => &mut holder,
                "expires_ms" => &mut expires,
                _ => return Err(format!("unknown key `{key}`")),
            };
            if slot.replace(value).is_some() {
                return Err(format!("`{key}` given twice"));
            }
        }
        let number = |key: &str, value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("`{key}` is not a whole number: `{value}`"))
        };
        let name = unescape(name.ok_or("no `name`")?)?;
        let fence = number("fence", fence.ok_or("no `fence`")?)?;
        let held = match (holder, expires) {
            (Some(holder), Some(expires)) => {
                Some((unescape(holder)?, number("expires_ms", expires)?))
            }
            (None, None) => None,
            _ => return Err("`holder` and `expires_ms` go together".to_owned()),
        };
        Ok(Record { name, fence, held })
    }
}

/// `name` with every byte but `[A-Za-z0-9._-]` written `%XX` (upper-case hex): a file name
/// that cannot leave the directory (no `/`, `\`, or a name that is only dots, since
/// every file adds a suffix), and a different one for each name, since `%` is escaped too
/// and [`unescape`] reads it back.
pub(super) fn escape(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            escaped.push(char::from(byte));
        } else {
            // Writing to a `String` cannot fail.
            let _ = write!(escaped, "%{byte:02X}");
        }
    }
    escaped
}

/// The name [`escape`] made `escaped` from.
pub(super) fn unescape(escaped: &str) -> Result<String, String> {
    let bad = || format!("`{escaped}` is not an escaped name");
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'%' {
            let hex = after.get(..2).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            rest = &after[2..];
        } else {
            bytes.push(byte);
            rest = after;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_what_was_written() {
        let free = Record {
            name: "jobs/outbox é".to_owned(),
            fence: 7,
            held: None,
        };
        assert_eq!(Record::parse(&free.to_text()), Ok(free.clone()));
        let held = Record {
            held: Some(("web 1\nevil".to_owned(), 1_765_016_000_000)),
            ..free
        };
        assert_eq!(
            held.to_text(),
            "async-tasks lease 1\nname jobs%2Foutbox%20%C3%A9\nfence 7\n\
             holder web%201%0Aevil\nexpires_ms 1765016000000\n"
        );
        assert_eq!(Record::parse(&held.to_text()), Ok(held));
        let empty_holder = Record {
            name: String::new(),
            fence: 1,
            held: Some((String::new(), 5)),
        };
        assert_eq!(Record::parse(&empty_holder.to_text()), Ok(empty_holder));
    }

    #[test]
    fn a_broken_record_says_what_is_wrong() {
        let cases = [
            ("", "not a lease file"),
            ("async-tasks lease 2\nname a\nfence 1\n", "not a lease file"),
            ("async-tasks lease 1\nfence 1\n", "no `name`"),
            ("async-tasks lease 1\nname a\n", "no `fence`"),
            (
                "async-tasks lease 1\nname a\nfence x\n",
                "`fence` is not a whole number",
            ),
            (
                "async-tasks lease 1\nname a\nfence 1\nfence 2\n",
                "`fence` given twice",
            ),
            (
                "async-tasks lease 1\nname a\nfence 1\nholder h\n",
                "go together",
            ),
            (
                "async-tasks lease 1\nname a\nfence 1\nowner h\n",
                "unknown key `owner`",
            ),
            ("async-tasks lease 1\nname a\nfence", "is not `key value`"),
            (
                "async-tasks lease 1\nname %4\nfence 1\n",
                "not an escaped name",
            ),
            (
                "async-tasks lease 1\nname %FF\nfence 1\n",
                "not an escaped name",
            ),
        ];
        for (text, expected) in cases {
            let err = Record::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn escaping_keeps_plain_names_and_is_reversible() {
        assert_eq!(escape("outbox-v2_eu.1"), "outbox-v2_eu.1");
        assert_eq!(escape("../etc/passwd"), "..%2Fetc%2Fpasswd");
        assert_eq!(escape("a\\b c%"), "a%5Cb%20c%25");
        for name in ["", ".", "..", "%41", "A", "a/b", "é", "\0", "x%y"] {
            let escaped = escape(name);
            assert!(!escaped.contains(['/', '\\', '\0']), "{escaped}");
            assert_eq!(unescape(&escaped).as_deref(), Ok(name));
        }
        // `%` is escaped, so a name spelled like an escape gets a file of its own.
        assert_ne!(escape("%41"), escape("A"));
    }
}
