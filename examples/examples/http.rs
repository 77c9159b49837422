//! A job service over HTTP: an axum server and a pool of 4 workers with a queue in front,
//! all in one task set. `POST /jobs` hands a job to the pool without waiting — `202` with
//! its id, or `503` when the 4 workers are busy and the queue is full — `GET /jobs/{id}`
//! says where it is (queued, running, done, failed or canceled), and `DELETE /jobs/{id}`
//! cancels it. On SIGTERM (or Ctrl-C) the service drains: the server stops accepting, the
//! jobs accepted finish; then what is left is canceled, and the report tells the finished
//! jobs from those the shutdown cut off. A second signal exits at once, naming the jobs it
//! drops.
//!
//! ```text
//! cargo run -p async-tasks-examples --example http        # on 127.0.0.1:3000, or $PORT
//!
//! curl -i localhost:3000/jobs -H 'content-type: application/json' -d '{"work_ms": 300}'
//! curl localhost:3000/jobs/1                              # {"id":1,"state":"running"}
//! curl -X DELETE localhost:3000/jobs/1                    # cancels it
//! curl localhost:3000/jobs -H 'content-type: application/json' \
//!      -d '{"work_ms": 100, "fail": "upstream returned 503"}'
//! kill -TERM $(pgrep -f 'debug/examples/http$')           # or Ctrl-C
//! ```
//!
//! No hand-written queue: [`Pool::queue`] is the queue and [`Pool::try_spawn`] the only
//! call a handler makes. Each job is the pool's task `job-{id}`, in a trace of its own
//! ([`Pool::with_root_spans`]).
//!
//! Its test drives the same service over real HTTP on a free port: it fills the workers and
//! the queue until a `503`, follows jobs through their states, stops the service with jobs
//! in flight and checks the report.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_tasks::context::CancelHandle;
use async_tasks::pool::{AdmitError, Pool};
use async_tasks::task::{ShutdownReport, TaskHandle};
use async_tasks::{BoxError, Context, Tasks, sleep};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// How many jobs run at once.
const WORKERS: usize = 4;

/// What `POST /jobs` takes: `{"work_ms": 300}`, with `"fail": "why"` for a job that fails.
#[derive(Debug, Deserialize)]
struct NewJob {
    work_ms: u64,
    #[serde(default)]
    fail: Option<String>,
}

/// What `POST /jobs` answers with `202 Accepted`.
#[derive(Debug, Serialize)]
struct Accepted {
    id: u64,
}

/// Where a job is, as `GET /jobs/{id}` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Canceled,
}

/// What `GET /jobs/{id}` answers.
#[derive(Debug, Serialize)]
struct JobView {
    id: u64,
    state: JobState,
}

/// A job the service accepted: where it is, and what cancels it.
#[derive(Debug)]
struct Job {
    state: JobState,
    cancel: CancelHandle,
}

/// Every job by id: queued by the handler that accepts it, running by the job itself, and
/// how it ended by the task that awaits its handle. (Kept for the life of the process: a
/// real service would forget the old ones.)
#[derive(Clone, Debug, Default)]
struct Jobs(Arc<Mutex<HashMap<u64, Job>>>);

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Job>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, id: u64, cancel: CancelHandle) {
        let state = JobState::Queued;
        self.lock().insert(id, Job { state, cancel });
    }

    fn set(&self, id: u64, state: JobState) {
        if let Some(job) = self.lock().get_mut(&id) {
            job.state = state;
        }
    }

    fn state(&self, id: u64) -> Option<JobState> {
        self.lock().get(&id).map(|job| job.state)
    }

    /// Cancels job `id`, if there is one: a job that is queued never starts, one that runs
    /// sees its context canceled, one that has ended is left as it is.
    fn cancel(&self, id: u64) -> bool {
        let cancel = self.lock().get(&id).map(|job| job.cancel.clone());
        if let Some(cancel) = &cancel {
            cancel.cancel_with(format!("job {id} canceled by its client"));
        }
        cancel.is_some()
    }

    fn forget(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// What the handlers share.
#[derive(Debug)]
struct App {
    pool: Pool,
    jobs: Jobs,
    next_id: AtomicU64,
}

/// One job: the pool's task `job-{id}`. The set reports its failure (an ERROR naming
/// `job-{id}`); a cancellation (`DELETE`, or a shutdown) cuts its work short, and it ends
/// canceled, which is not a failure.
async fn work(ctx: Context, id: u64, job: NewJob, jobs: Jobs) -> Result<(), BoxError> {
    jobs.set(id, JobState::Running);
    sleep(&ctx, Duration::from_millis(job.work_ms)).await?;
    if let Some(why) = job.fail {
        return Err(why.into());
    }
    tracing::info!(work_ms = job.work_ms, "job done");
    Ok(())
}

/// Records how a job ended, from its handle: also a job canceled before it left the queue,
/// whose code never ran.
///
/// A plain tokio task rather than one of the set's: it does no work of its own, and ends as
/// soon as its job does, which the set sees to (a shutdown report aborts it at worst).
async fn record_outcome(job: TaskHandle<()>, id: u64, jobs: Jobs) {
    let state = match job.await {
        Ok(()) => JobState::Done,
        Err(err) if err.is_canceled() || err.is_aborted() => JobState::Canceled,
        Err(_failed_or_panicked) => JobState::Failed,
    };
    jobs.set(id, state);
}

/// `POST /jobs`: the job is accepted at once (`202`, its id) or refused (`503`); the
/// handler never waits for a worker.
async fn submit(State(app): State<Arc<App>>, Json(job): Json<NewJob>) -> Response {
    let id = app.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    // A context of the job's own, not the request's: the job outlives the request, and
    // only `DELETE /jobs/{id}` (or a shutdown of the set) cancels it.
    let (ctx, cancel) = Context::background().with_cancel();
    // Before `try_spawn`: with a worker free, the job starts, and says so, at once.
    app.jobs.insert(id, cancel);
    let jobs = app.jobs.clone();
    let run = move |ctx| work(ctx, id, job, jobs);
    match app.pool.try_spawn(&ctx, format!("job-{id}"), run) {
        Ok(handle) => {
            tokio::spawn(record_outcome(handle, id, app.jobs.clone()));
            (StatusCode::ACCEPTED, Json(Accepted { id })).into_response()
        }
        Err(err) => {
            app.jobs.forget(id);
            match err {
                // The workers busy and the queue full, or the service draining: try again
                // later (or another replica).
                AdmitError::Full | AdmitError::Closed => {
                    let retry = [(header::RETRY_AFTER, "1")];
                    (StatusCode::SERVICE_UNAVAILABLE, retry, err.to_string()).into_response()
                }
                // The job's context ended before it was accepted: a DELETE that guessed its
                // id, racing this POST.
                _ => (StatusCode::CONFLICT, err.to_string()).into_response(),
            }
        }
    }
}

/// `GET /jobs/{id}`: the job's state, or `404`.
async fn status(State(app): State<Arc<App>>, Path(id): Path<u64>) -> Response {
    match app.jobs.state(id) {
        Some(state) => Json(JobView { id, state }).into_response(),
        None => not_found(id),
    }
}

/// `DELETE /jobs/{id}`: cancels the job (`202`: it ends canceled soon, unless it ended
/// already), or `404`.
async fn cancel(State(app): State<Arc<App>>, Path(id): Path<u64>) -> Response {
    if app.jobs.cancel(id) {
        StatusCode::ACCEPTED.into_response()
    } else {
        not_found(id)
    }
}

fn not_found(id: u64) -> Response {
    (StatusCode::NOT_FOUND, format!("no job {id}")).into_response()
}

/// How big the queue is, and how long a stop may take.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// How many accepted jobs may wait for a worker.
    queue: usize,
    /// How long the jobs accepted get to finish once the service stops.
    drain: Duration,
    /// How long what is left then gets to end once canceled, before it is aborted.
    grace: Duration,
}

/// Serves the job service on `listener`, as tasks of `svc`, until `stop` is done; then
/// drains — the server stops accepting, the jobs accepted (queued ones too) finish — for up
/// to `limits.drain`, shuts down what is left, and says who did what.
async fn serve(svc: Tasks, listener: TcpListener, stop: Context, limits: Limits) -> ShutdownReport {
    let app = Arc::new(App {
        pool: svc
            .pool("jobs", WORKERS)
            .queue(limits.queue)
            .with_root_spans(),
        jobs: Jobs::default(),
        next_id: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/jobs", post(submit))
        .route("/jobs/{id}", get(status).delete(cancel))
        .with_state(app);

    // The server is a task of the set: when the set starts to close (the drain below), it
    // stops accepting, answers the requests in flight, and ends.
    svc.spawn(&Context::background(), "http", move |ctx| async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(ctx.closing_owned())
            .await
    });

    stop.done().await;
    tracing::info!("stopping: no new jobs; the jobs accepted finish");
    if let Err(stragglers) = svc.drain(limits.drain).await {
        tracing::warn!("{stragglers}");
    }
    svc.shutdown_report(limits.grace).await
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::stdout().is_terminal())
        .fmt_fields(async_tasks::fmt::Fields::new())
        .without_time()
        .init();

    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3000,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);

    let svc = Tasks::new("jobsvc");
    // The first SIGINT / SIGTERM drains; a second one exits at once, naming what still runs.
    let stop = svc.shutdown_on_signals();
    let limits = Limits {
        queue: 16,
        // Within the 30 s a container orchestrator gives by default before its SIGKILL.
        drain: Duration::from_secs(20),
        grace: Duration::from_secs(5),
    };
    let report = serve(svc, listener, stop, limits).await;
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::SocketAddr;

    use async_tasks::testing::SpanRecorder;
    use axum::body::Bytes;
    use axum::http::Request;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::{Instant, timeout};

    use super::*;

    /// A real HTTP client of the service.
    struct Api {
        client: Client<HttpConnector, Full<Bytes>>,
        base: String,
    }

    /// What `Api::submit` got: an answer, or no connection at all.
    #[derive(Debug, PartialEq)]
    enum Submitted {
        Answer(StatusCode, String),
        Refused,
    }

    /// The id in a `202`'s body, `{"id":7}`.
    fn id_of(body: &str) -> u64 {
        let id = body
            .strip_prefix(r#"{"id":"#)
            .and_then(|id| id.strip_suffix('}'));
        id.and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("not an id: {body}"))
    }

    /// A `POST /jobs` whose body is held back, on a bare connection: sent with
    /// `Expect: 100-continue`, it is in the handler, which waits for its body, once the
    /// server answers `100 Continue`. ([`send_body`] sends it.)
    async fn post_held_back(addr: SocketAddr, body: &str) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /jobs HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nexpect: 100-continue\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = [0; 25];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream
    }

    /// Sends the body of [`post_held_back`]'s request: the response's status line, and its
    /// body.
    async fn send_body(mut stream: TcpStream, body: &str) -> (String, String) {
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap(); // the server closes it: stopping
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }

    impl Api {
        fn new(addr: SocketAddr) -> Api {
            // No idle connection kept: each request connects anew, so that a stopped server
            // shows as a refused connection, not as a pooled one that the server closed.
            let client = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build_http();
            Api {
                client,
                base: format!("http://{addr}"),
            }
        }

        async fn send(
            &self,
            request: Request<Full<Bytes>>,
        ) -> Result<(StatusCode, String), hyper_util::client::legacy::Error> {
            let response = self.client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Ok((status, String::from_utf8(body.to_vec()).unwrap()))
        }

        async fn submit(&self, body: &str) -> Submitted {
            let request = Request::post(format!("{}/jobs", self.base))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap();
            match self.send(request).await {
                Ok((status, body)) => Submitted::Answer(status, body),
                Err(err) if err.is_connect() => Submitted::Refused,
                Err(err) => panic!("POST /jobs: {err}"),
            }
        }

        /// Submits a job of `work_ms` that the service must accept; its id.
        async fn accepted(&self, work_ms: u64) -> u64 {
            let answer = self.submit(&format!(r#"{{"work_ms": {work_ms}}}"#)).await;
            let Submitted::Answer(StatusCode::ACCEPTED, body) = answer else {
                panic!("a job of {work_ms} ms was not accepted: {answer:?}");
            };
            id_of(&body)
        }

        async fn get(&self, path: &str) -> (StatusCode, String) {
            let request = Request::get(format!("{}{path}", self.base))
                .body(Full::default())
                .unwrap();
            self.send(request).await.expect("GET")
        }

        async fn delete(&self, id: u64) -> StatusCode {
            let request = Request::delete(format!("{}/jobs/{id}", self.base))
                .body(Full::default())
                .unwrap();
            self.send(request).await.expect("DELETE").0
        }

        /// Job `id`'s state now.
        async fn state(&self, id: u64) -> String {
            let (status, body) = self.get(&format!("/jobs/{id}")).await;
            assert_eq!(status, StatusCode::OK, "GET /jobs/{id}: {body}");
            let prefix = format!(r#"{{"id":{id},"state":""#);
            let state = body
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(r#""}"#));
            state
                .unwrap_or_else(|| panic!("GET /jobs/{id}: {body}"))
                .to_owned()
        }

        /// The states job `id` goes through, each once, polling until it is in `last`
        /// (for at most 5 s).
        async fn states_until(&self, id: u64, last: &str) -> Vec<String> {
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut seen: Vec<String> = Vec::new();
            loop {
                let state = self.state(id).await;
                if seen.last() != Some(&state) {
                    seen.push(state.clone());
                }
                if state == last {
                    return seen;
                }
                assert!(
                    Instant::now() < deadline,
                    "job {id} not {last} after 5 s: {seen:?}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await; // the polling interval
            }
        }
    }

    /// The whole life of the service over HTTP, in about 1.5 s: 4 workers and a queue of 4
    /// filled until a `503`, a job followed through its states, two canceled (queued, and
    /// running), one failing, then a stop with two jobs in flight and one long job, which
    /// the report tells apart.
    #[tokio::test]
    async fn a_full_pool_refuses_then_a_stop_drains_the_jobs_and_cancels_the_long_one() {
        let recorder = SpanRecorder::install();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = Api::new(addr);
        let (stop, stop_now) = Context::background().with_cancel();
        let limits = Limits {
            queue: 4,
            drain: Duration::from_secs(1),
            grace: Duration::from_secs(2),
        };
        let mut service = tokio::spawn(serve(Tasks::new("jobsvc"), listener, stop, limits));
        let scenario = async {
            // The 4 workers busy until canceled: a long job, which only the shutdown ends,
            // and three that the test cancels.
            let long = api.accepted(30_000).await;
            let mut blockers = Vec::new();
            for _ in 0..3 {
                blockers.push(api.accepted(30_000).await);
            }
            // The queue: a job of 300 ms to follow, and three quick ones.
            let followed = api.accepted(300).await;
            let mut quick = Vec::new();
            for _ in 0..3 {
                quick.push(api.accepted(10).await);
            }
            // No worker free and the queue full: refused, not waited for.
            let refused = api.submit(r#"{"work_ms": 10}"#).await;
            let full = "the pool is full: no free slot, and no room in its queue";
            assert_eq!(
                refused,
                Submitted::Answer(StatusCode::SERVICE_UNAVAILABLE, full.to_owned())
            );
            // Canceled while queued: it never runs.
            assert_eq!(api.delete(quick[2]).await, StatusCode::ACCEPTED);
            let states = api.states_until(quick[2], "canceled").await;
            assert!(!states.contains(&"running".to_owned()), "{states:?}");

            // Canceled while it runs: its worker takes the first job of the queue.
            assert_eq!(api.state(followed).await, "queued");
            assert_eq!(api.state(blockers[0]).await, "running");
            assert_eq!(api.delete(blockers[0]).await, StatusCode::ACCEPTED);
            api.states_until(blockers[0], "canceled").await;
            assert_eq!(
                api.states_until(followed, "done").await,
                ["running", "done"]
            );
            for &id in &blockers[1..] {
                assert_eq!(api.delete(id).await, StatusCode::ACCEPTED);
                api.states_until(id, "canceled").await;
            }
            assert_eq!(api.delete(999).await, StatusCode::NOT_FOUND);

            // A job that fails is accepted, and says so once it has.
            let failing = api
                .submit(r#"{"work_ms": 10, "fail": "upstream returned 503"}"#)
                .await;
            let Submitted::Answer(StatusCode::ACCEPTED, body) = failing else {
                panic!("{failing:?}");
            };
            let failed = id_of(&body);
            assert_eq!(
                api.states_until(failed, "failed").await.last().unwrap(),
                "failed"
            );
            assert_eq!(
                api.get("/jobs/999").await,
                (StatusCode::NOT_FOUND, "no job 999".to_owned())
            );

            // Two jobs in flight when the stop comes, beside the long one.
            let in_flight = [api.accepted(300).await, api.accepted(300).await];
            for id in in_flight {
                api.states_until(id, "running").await;
            }
            assert_eq!(api.states_until(long, "running").await, ["running"]);
            // A request in the handler when the stop comes, waiting for its body.
            let job = r#"{"work_ms": 10}"#;
            let held_back = post_held_back(addr, job).await;

            stop_now.cancel();
            let stopped = Instant::now();
            // The server stops accepting: until the listener is gone, a job is refused
            // with a 503 (the pool is closed), or accepted if it came before the stop.
            let mut accepted_late = Vec::new();
            loop {
                match api.submit(r#"{"work_ms": 10}"#).await {
                    Submitted::Refused => break,
                    Submitted::Answer(StatusCode::SERVICE_UNAVAILABLE, body) => {
                        assert_eq!(body, "the pool is closed: it admits no new runs");
                    }
                    Submitted::Answer(StatusCode::ACCEPTED, body) => {
                        accepted_late.push(id_of(&body));
                    }
                    answer => panic!("while stopping: {answer:?}"),
                }
            }
            // At the start of the drain, not once it ran out (the long job runs on).
            assert!(stopped.elapsed() < limits.drain, "{:?}", stopped.elapsed());
            // The request in flight is answered, after the pool closed: refused.
            let (status, body) = send_body(held_back, job).await;
            assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
            assert_eq!(body, "the pool is closed: it admits no new runs");
            (long, failed, in_flight, accepted_late)
        };
        let (long, failed, in_flight, accepted_late) = timeout(Duration::from_secs(10), scenario)
            .await
            .expect("the scenario took over 10 s");
        let report = timeout(Duration::from_secs(5), &mut service)
            .await
            .expect("the service took over 5 s to stop")
            .unwrap();

        // The two jobs in flight finished during the drain, as did the server; the long
        // one ran past the drain, and the shutdown after it canceled it.
        let mut finished: BTreeSet<String> = ["http".to_owned()].into();
        let late = accepted_late.iter();
        finished.extend(
            in_flight
                .iter()
                .chain(late)
                .map(|id| format!("jobs/job-{id}")),
        );
        assert_eq!(
            report.finished.iter().cloned().collect::<BTreeSet<_>>(),
            finished
        );
        assert_eq!(report.canceled, [format!("jobs/job-{long}")]);
        assert!(report.failed.is_empty(), "{report}");
        assert!(report.panicked.is_empty(), "{report}");
        assert!(report.aborted.is_empty(), "{report}");
        assert!(report.cause.is_none(), "{report}");
        assert!(
            report
                .to_string()
                .contains(&format!(", 1 canceled (jobs/job-{long}), 0 failed")),
            "{report}"
        );

        // One INFO line per job done (3 before the stop, the rest during the drain);
        // one ERROR, naming the job that failed: cancellations are not failures.
        let events = recorder.events();
        let done = events
            .iter()
            .filter(|e| e.message() == Some("job done"))
            .count();
        assert_eq!(done, 3 + finished.len() - 1);
        let failures: Vec<_> = events
            .iter()
            .filter(|e| e.target() == "async_tasks" && e.level() == tracing::Level::ERROR)
            .map(|e| e.message().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            failures,
            [format!(
                "task \"job-{failed}\" failed: upstream returned 503"
            )]
        );
    }
}
