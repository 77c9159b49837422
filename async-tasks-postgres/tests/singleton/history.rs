//! The history a fault test leaves in the database, and the checker that reads it afterwards.
//!
//! Three tables, shared by the tests of one server and keyed by the lease's name (each test
//! has a lease of its own):
//! - `fence_guard (lease, fence)`: the highest fence that wrote; a write under a lower one is
//!   refused (the replicas' [`WRITE`](super::replica::WRITE));
//! - `events (id, lease, replica, holder, fence, seq, accepted, at)`: every write that reached
//!   the server, accepted or not, `at` by the server's `clock_timestamp()`;
//! - `lease_history (id, name, holder, fence, expires_at, at)`: every change of a lease row,
//!   written by a trigger on the store's table: the terms as the database granted them.
//!
//! [`History::check`] asserts what must hold whatever the faults were, and says what it saw.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Client;

/// Creates the tables and the trigger (once per server: concurrent tests wait for each
/// other's creation under an advisory lock), and the guard row of `lease`. The store's table
/// must exist: run a store's `migrate()` first.
pub async fn prepare(admin: &Client, lease: &str) {
    admin
        .batch_execute(
            "SELECT pg_advisory_xact_lock(7301);
             CREATE TABLE IF NOT EXISTS fence_guard (lease text PRIMARY KEY, fence bigint NOT NULL);
             CREATE TABLE IF NOT EXISTS events (
                 id bigserial PRIMARY KEY,
                 lease text NOT NULL,
                 replica text NOT NULL,
                 holder text NOT NULL,
                 fence bigint NOT NULL,
                 seq bigint NOT NULL,
                 accepted boolean NOT NULL,
                 at timestamptz NOT NULL DEFAULT clock_timestamp()
             );
             CREATE TABLE IF NOT EXISTS lease_history (
                 id bigserial PRIMARY KEY,
                 name text NOT NULL,
                 holder text NOT NULL,
                 fence bigint NOT NULL,
                 expires_at timestamptz NOT NULL,
                 at timestamptz NOT NULL DEFAULT clock_timestamp()
             );
             CREATE OR REPLACE FUNCTION record_lease() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO lease_history (name, holder, fence, expires_at)
                 VALUES (NEW.name, NEW.holder, NEW.fence, NEW.expires_at);
                 RETURN NULL;
             END $$;
             CREATE OR REPLACE TRIGGER record_lease AFTER INSERT OR UPDATE ON async_tasks_leases
                 FOR EACH ROW EXECUTE FUNCTION record_lease();",
        )
        .await
        .expect("create the history tables");
    admin
        .execute(
            "INSERT INTO fence_guard (lease, fence) VALUES ($1, 0) ON CONFLICT DO NOTHING",
            &[&lease],
        )
        .await
        .expect("create the guard row");
}

/// One write that reached the server.
#[derive(Clone, Debug)]
pub struct Write {
    pub id: i64,
    pub replica: String,
    pub holder: String,
    pub fence: i64,
    pub seq: i64,
    pub accepted: bool,
    pub at: SystemTime,
}

/// One change of the lease row: a grant, a renew or a release.
#[derive(Clone, Debug)]
pub struct Change {
    pub holder: String,
    pub fence: i64,
    /// Seconds since the epoch; `-inf` once released.
    pub expires_at: f64,
    pub at: f64,
}

/// Everything one lease's test left in the database.
#[derive(Debug)]
pub struct History {
    pub lease: String,
    /// In the order the server took them (accepted ones in the order they committed).
    pub writes: Vec<Write>,
    pub changes: Vec<Change>,
}

/// What a history holds, once checked.
#[derive(Debug)]
pub struct Summary {
    /// The fences that wrote, in order, with the replica that wrote under each.
    pub terms: Vec<(i64, String)>,
    pub accepted: usize,
    pub rejected: usize,
}

impl History {
    /// Reads the history of `lease`.
    pub async fn read(admin: &Client, lease: &str) -> History {
        let writes = admin
            .query(
                "SELECT id, replica, holder, fence, seq, accepted,
                        extract(epoch FROM at)::float8
                 FROM events WHERE lease = $1 ORDER BY id",
                &[&lease],
            )
            .await
            .expect("read the writes")
            .iter()
            .map(|row| Write {
                id: row.get(0),
                replica: row.get(1),
                holder: row.get(2),
                fence: row.get(3),
                seq: row.get(4),
                accepted: row.get(5),
                at: UNIX_EPOCH + Duration::from_secs_f64(row.get(6)),
            })
            .collect();
        let changes = admin
            .query(
                "SELECT holder, fence, extract(epoch FROM expires_at)::float8,
                        extract(epoch FROM at)::float8
                 FROM lease_history WHERE name = $1 ORDER BY id",
                &[&lease],
            )
            .await
            .expect("read the lease's changes")
            .iter()
            .map(|row| Change {
                holder: row.get(0),
                fence: row.get(1),
                expires_at: row.get(2),
                at: row.get(3),
            })
            .collect();
        History {
            lease: lease.to_owned(),
            writes,
            changes,
        }
    }

    /// Asserts, panicking with the offending rows:
    /// 1. accepted writes are ordered by fence: none under fence f after one under f' > f;
    /// 2. each fence's accepted writes come from one replica: no two replicas wrote under
    ///    one term, and with (1), no two terms' writes interleave;
    /// 3. each write reached the server once (its number, per replica, is unique); not in
    ///    order: a write that timed out on a frozen server or a cut connection can run when
    ///    the server resumes, after later ones sent on a new connection;
    /// 4. the lease's terms, as the database granted them, have strictly increasing fences
    ///    (one more per grant), and each began only once the one before had expired or been
    ///    released, by the database's clock;
    /// 5. every fence that wrote was granted, to the holder that wrote under it.
    pub fn check(&self) -> Summary {
        let lease = &self.lease;
        let accepted: Vec<&Write> = self.writes.iter().filter(|w| w.accepted).collect();
        let mut terms: Vec<(i64, String)> = Vec::new();
        for pair in accepted.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            assert!(
                after.fence >= before.fence,
                "{lease}: write #{} (fence {}, {} seq {}) was accepted after write #{} under \
                 the later fence {} ({} seq {})",
                after.id,
                after.fence,
                after.replica,
                after.seq,
                before.id,
                before.fence,
                before.replica,
                before.seq,
            );
        }
        for write in &accepted {
            match terms.last() {
                Some((fence, replica)) if *fence == write.fence => assert_eq!(
                    replica, &write.replica,
                    "{lease}: two replicas wrote under fence {fence}: {replica} and {} \
                     (write #{})",
                    write.replica, write.id
                ),
                _ => terms.push((write.fence, write.replica.clone())),
            }
        }
        let mut seen: BTreeSet<(&str, i64)> = BTreeSet::new();
        for write in &self.writes {
            assert!(
                seen.insert((&write.replica, write.seq)),
                "{lease}: {} wrote seq {} twice (write #{})",
                write.replica,
                write.seq,
                write.id
            );
        }

        let mut granted: BTreeMap<i64, &str> = BTreeMap::new();
        let mut previous: Option<&Change> = None;
        for change in &self.changes {
            match previous {
                None => {
                    granted.insert(change.fence, &change.holder);
                }
                Some(prev) if change.fence == prev.fence => assert_eq!(
                    change.holder, prev.holder,
                    "{lease}: fence {} changed holder",
                    change.fence
                ),
                Some(prev) => {
                    assert_eq!(
                        change.fence,
                        prev.fence + 1,
                        "{lease}: fence {} granted after fence {}",
                        change.fence,
                        prev.fence
                    );
                    assert!(
                        prev.expires_at <= change.at,
                        "{lease}: fence {} was granted at {} while fence {} held until {}",
                        change.fence,
                        change.at,
                        prev.fence,
                        prev.expires_at
                    );
                    granted.insert(change.fence, &change.holder);
                }
            }
            previous = Some(change);
        }
        let written: BTreeSet<(i64, &str)> = accepted
            .iter()
            .map(|w| (w.fence, w.holder.as_str()))
            .collect();
        for (fence, holder) in written {
            assert_eq!(
                granted.get(&fence).copied(),
                Some(holder),
                "{lease}: fence {fence} wrote as {holder}, and was granted to {:?}",
                granted.get(&fence)
            );
        }
        Summary {
            terms,
            accepted: accepted.len(),
            rejected: self.writes.len() - accepted.len(),
        }
    }

    /// The first write accepted under a fence higher than any accepted before `at`, and how
    /// long after `at` the server took it: when a leader wrote again after a fault at `at`.
    pub fn leader_after(&self, at: SystemTime) -> Option<(&Write, Duration)> {
        let before = self
            .writes
            .iter()
            .filter(|w| w.accepted && w.at < at)
            .map(|w| w.fence)
            .max()
            .unwrap_or(0);
        let write = self
            .writes
            .iter()
            .find(|w| w.accepted && w.fence > before && w.at >= at)?;
        Some((write, write.at.duration_since(at).unwrap_or_default()))
    }

    /// Asserts that a leader wrote again after the fault `fault` at `at`: under `fence`,
    /// within `within` of it ([`leader_after`](History::leader_after)).
    pub fn assert_led_again(&self, fault: &str, at: SystemTime, fence: u64, within: Duration) {
        let (write, after) = self
            .leader_after(at)
            .unwrap_or_else(|| panic!("no leader wrote after the {fault}"));
        assert_eq!(write.fence as u64, fence, "the fence after the {fault}");
        assert!(
            after <= within,
            "first write {after:?} after the {fault}, more than {within:?}"
        );
    }

    /// The writes of `replica` under `fence` that the server got after `at`.
    pub fn writes_after(&self, replica: &str, fence: i64, at: SystemTime) -> Vec<&Write> {
        self.writes
            .iter()
            .filter(|w| w.replica == replica && w.fence == fence && w.at > at)
            .collect()
    }
}
