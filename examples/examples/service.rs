//! A service whose background work is its own `&self` methods, under `#[async_task]`.
//!
//! `Indexer` keeps its state behind `Arc`s, so it is cheap to clone: each of its runners
//! keeps a clone of it, and each run gets one. `start` hands one task per document to a
//! `Tasks`, each in a span `index` of its own; `main` waits for them and prints the most
//! frequent words.
//!
//! ```text
//! $ cargo run -p async-tasks-examples --example service
//! indexed 3 documents, 25 words
//! a: 4
//! the: 3
//! clone: 2
//! of: 2
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_tasks::{Context, Tasks, async_task};

/// Counts the words of the documents it is given.
#[derive(Clone)]
pub struct Indexer {
    name: &'static str,
    /// Word → how many times it was seen.
    words: Arc<Mutex<BTreeMap<String, usize>>>,
    documents: Arc<Mutex<usize>>,
}

impl Indexer {
    /// An indexer that has seen nothing yet.
    pub fn new(name: &'static str) -> Indexer {
        Indexer {
            name,
            words: Arc::default(),
            documents: Arc::default(),
        }
    }

    /// Indexes each of `documents` in a task of its own on `tasks`; `tasks.wait()` returns
    /// when they are done.
    pub fn start(&self, tasks: &Tasks, ctx: &Context, documents: &[&str]) {
        for document in documents {
            tasks.run(ctx, self.index((*document).to_owned()));
        }
    }

    /// Counts the words of `document`, in a span `index` with the indexer's name and the
    /// number of words.
    #[async_task(name = "index", fields(indexer = self.name, words = document.split_whitespace().count()))]
    async fn index(&self, _ctx: Context, document: String) -> Result<(), String> {
        if document.trim().is_empty() {
            return Err(format!("{}: empty document", self.name));
        }
        let mut words = lock(&self.words);
        for word in document.split_whitespace() {
            *words.entry(word.to_lowercase()).or_default() += 1;
        }
        *lock(&self.documents) += 1;
        Ok(())
    }

    /// What was indexed: a summary line, then the `n` most frequent words (ties in
    /// alphabetical order).
    pub fn report(&self, n: usize) -> Vec<String> {
        let words = lock(&self.words);
        let mut ranked: Vec<(&String, &usize)> = words.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let total: usize = words.values().sum();
        let mut lines = vec![format!(
            "indexed {} documents, {total} words",
            *lock(&self.documents)
        )];
        lines.extend(
            ranked
                .into_iter()
                .take(n)
                .map(|(word, count)| format!("{word}: {count}")),
        );
        lines
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The documents `main` indexes.
pub const DOCUMENTS: [&str; 3] = [
    "The runner keeps a clone of the service",
    "A task is a runner with a span",
    "Each run of the task gets its own clone",
];

/// Indexes [`DOCUMENTS`] and returns the report.
pub async fn index_documents() -> Vec<String> {
    let indexer = Indexer::new("docs");
    let tasks = Tasks::new("indexer");
    indexer.start(&tasks, &Context::background(), &DOCUMENTS);
    tasks.wait().await;
    indexer.report(4)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for line in index_documents().await {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn indexes_every_document_and_reports_the_top_words() {
        assert_eq!(
            index_documents().await,
            [
                "indexed 3 documents, 25 words",
                "a: 4",
                "the: 3",
                "clone: 2",
                "of: 2",
            ]
        );
    }
}
