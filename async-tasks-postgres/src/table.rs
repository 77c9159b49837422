//! [`Table`]: the lease table's name, checked and quoted, and the four statements over it.
//!
//! Invariants: a `Table` exists only for a name that passed [`Table::new`] (one or two parts
//! of `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes each), so its quoted form can be pasted into
//! SQL as it is; each statement is built once, here, and nowhere else.
//!
//! Every statement judges time by the database's `now()` (the start of its transaction, which
//! for these single statements is the start of the statement) and never takes a time from the
//! replica: the only duration sent is the ttl, in milliseconds (`$ttl * interval '1
//! millisecond'`).

use std::fmt;

use async_tasks::BoxError;

use crate::error::StoreError;

/// The longest identifier PostgreSQL keeps whole (`NAMEDATALEN - 1`); a longer one would be
/// silently truncated, and two long names could then name the same table.
const MAX_IDENT: usize = 63;

/// The key of the advisory lock that serialises concurrent migrations (the first half of the
/// two-key form; the second is a hash of the table's name). "atpg" in ASCII.
const MIGRATE_LOCK_CLASS: i32 = 0x6174_7067;

/// A checked, quoted table name and the statements over that table.
pub(crate) struct Table {
    /// As it appears in SQL: `"async_tasks_leases"`, `"ops"."leases"`.
    quoted: String,
    sql: Statements,
}

/// The SQL of each operation, for one table.
pub(crate) struct Statements {
    /// Creates the table if it does not exist, under a transaction-scoped advisory lock.
    pub(crate) migrate: String,
    /// `$1` name, `$2` holder, `$3` ttl in ms; returns the new term's fence, or no row.
    pub(crate) acquire: String,
    /// `$1` name, `$2` holder, `$3` fence, `$4` ttl in ms; one row affected, or none.
    pub(crate) renew: String,
    /// `$1` name, `$2` holder, `$3` fence.
    pub(crate) release: String,
}

impl Table {
    /// The default table's name.
    pub(crate) const DEFAULT: &'static str = "async_tasks_leases";

    /// The table `name`: an identifier, or `schema.table`.
    ///
    /// # Errors
    ///
    /// `name` is not one or two identifiers of `[A-Za-z_][A-Za-z0-9_]*` joined by a `.`, each
    /// at most 63 bytes.
    pub(crate) fn new(name: &str) -> Result<Table, BoxError> {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|part| is_identifier(part)) {
            return Err(StoreError::invalid_table(name).into());
        }
        let quoted = parts
            .iter()
            .map(|part| format!("\"{part}\""))
            .collect::<Vec<_>>()
            .join(".");
        let sql = Statements::new(&quoted);
        Ok(Table { quoted, sql })
    }

    /// The table's name as it appears in SQL.
    pub(crate) fn quoted(&self) -> &str {
        &self.quoted
    }

    /// The statements over this table.
    pub(crate) fn sql(&self) -> &Statements {
        &self.sql
    }
}

impl Default for Table {
    fn default() -> Table {
        Table::new(Table::DEFAULT).expect("the default table name is an identifier")
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted)
    }
}

/// Whether `part` is a plain identifier that quoting leaves as it is.
fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    part.len() <= MAX_IDENT
        && (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Statements {
    fn new(table: &str) -> Statements {
        // `table` is quoted and made only of identifier characters, dots and double quotes,
        // so it can sit inside a string literal too (the advisory lock's key).
        Statements {
            // One simple-protocol message, so one implicit transaction: the advisory lock is
            // held until the table is committed, and a replica migrating at the same moment
            // waits for it, then finds the table (`IF NOT EXISTS` alone races: two sessions
            // can both find no table, and the second fails on the catalog's unique index).
            migrate: format!(
                "SELECT pg_advisory_xact_lock({MIGRATE_LOCK_CLASS}, hashtext('{table}'));
                 CREATE TABLE IF NOT EXISTS {table} (
                     name text PRIMARY KEY,
                     holder text NOT NULL,
                     fence bigint NOT NULL,
                     expires_at timestamptz NOT NULL
                 )"
            ),
            // An insert for a name never seen (fence 1), else an update of the row, only when
            // its term expired by the database's clock. `ON CONFLICT DO UPDATE` locks the row
            // and evaluates the `WHERE` on its latest committed version, even under READ
            // COMMITTED: of two concurrent acquires, the second waits for the first, then sees
            // its unexpired term and returns no row.
            acquire: format!(
                "INSERT INTO {table} AS lease (name, holder, fence, expires_at)
                 VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
                 ON CONFLICT (name) DO UPDATE
                     SET holder = excluded.holder,
                         fence = lease.fence + 1,
                         expires_at = excluded.expires_at
                     WHERE lease.expires_at <= now()
                 RETURNING fence"
            ),
            // Only the term itself (name, holder and fence), only while unexpired. An update
            // that waited on the row lock re-checks the `WHERE` on the row as it is now.
            renew: format!(
                "UPDATE {table}
                 SET expires_at = now() + $4 * interval '1 millisecond'
                 WHERE name = $1 AND holder = $2 AND fence = $3 AND expires_at > now()"
            ),
            // The row stays, with its fence, so the next term's fence is still higher.
            release: format!(
                "UPDATE {table}
                 SET expires_at = '-infinity'
                 WHERE name = $1 AND holder = $2 AND fence = $3 AND expires_at > now()"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_schema_qualified_names_are_quoted() {
        assert_eq!(Table::default().quoted(), "\"async_tasks_leases\"");
        assert_eq!(
            Table::new("ops.Leases_2").unwrap().quoted(),
            "\"ops\".\"Leases_2\""
        );
        assert_eq!(Table::new("_x").unwrap().quoted(), "\"_x\"");
        assert!(Table::new(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn anything_else_is_refused_with_the_rule() {
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a.b.c",
            "1abc",
            "a b",
            "a-b",
            "leases; DROP TABLE users",
            "\"quoted\"",
            "lease's",
            "été",
            &"a".repeat(64),
        ] {
            let err = Table::new(bad).expect_err(bad).to_string();
            assert!(
                err.starts_with("postgres lease store: invalid table name")
                    && err.contains("[A-Za-z_][A-Za-z0-9_]*"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn statements_name_the_quoted_table() {
        let table = Table::new("ops.leases").unwrap();
        let sql = table.sql();
        for statement in [&sql.migrate, &sql.acquire, &sql.renew, &sql.release] {
            assert!(statement.contains("\"ops\".\"leases\""), "{statement}");
        }
    }
}
