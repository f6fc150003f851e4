//! SQLite's single writer, in the process: one task owns every write transaction and
//! commits the work of concurrent callers together (group commit).
//!
//! SQLite allows one writer at a time. Letting each request take the write lock
//! itself makes writers queue in SQLite's busy handler, which is unfair (some starve
//! until they fail with "database is locked") and pays a `BEGIN` and a `COMMIT` per
//! request. Here callers hand their work to the writer task over a channel; the task
//! takes whatever has queued (up to [`MAX_BATCH`]), runs each unit of work inside a
//! savepoint of one transaction, and commits once. A unit that fails rolls back to
//! its savepoint, so it leaves nothing behind and does not disturb the others; each
//! caller hears its answer only after the commit (or learns that it failed). The
//! busier the server, the more each commit carries: throughput grows with
//! concurrency instead of queueing on a lock.
//!
//! The task, not the request, owns the transaction: a caller that goes away leaves
//! its work to finish, commit and return the connection clean.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::{DbError, Tx, WriteFuture};

/// The most units of work one transaction carries. Enough to amortise the commit
/// under any load this machine can produce, small enough that one slow unit delays
/// few others.
pub const MAX_BATCH: usize = 64;

/// How many units may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4 * MAX_BATCH;

/// What a unit of work leaves once it has run: whether to keep its changes, and how
/// to answer its caller once the fate of the transaction is known.
struct Settled {
    keep: bool,
    answer: Box<dyn FnOnce(Result<(), DbError>) + Send>,
}

/// A caller's work, with its answer channel folded in.
type Job = Box<
    dyn for<'t> FnOnce(&'t mut Tx) -> Pin<Box<dyn Future<Output = Settled> + Send + 't>> + Send,
>;

/// The handle callers write through; cloning shares the one task.
#[derive(Clone, Debug)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    stats: Arc<Stats>,
}

/// What the writer has done since it started.
#[derive(Debug, Default)]
struct Stats {
    /// Transactions begun.
    transactions: AtomicU64,
    /// Units of work run in them.
    units: AtomicU64,
}

impl Writer {
    /// Starts the writer task over `pool`. It ends when the last handle is dropped.
    pub fn start(pool: AnyPool) -> Writer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let stats = Arc::<Stats>::default();
        tokio::spawn(run(pool, queue, stats.clone()));
        Writer { jobs, stats }
    }

    /// Transactions and units of work so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.stats.transactions.load(Ordering::Relaxed),
            self.stats.units.load(Ordering::Relaxed),
        )
    }

    /// Runs `work` in a transaction shared with other callers' work and answers once
    /// it is committed. An error from `work` undoes its changes only.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut Tx) -> WriteFuture<'t, T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |tx: &mut Tx| {
            Box::pin(async move {
                let outcome = CatchUnwind(work(tx)).await;
                let keep = matches!(outcome, Ok(Ok(_)));
                let answer = Box::new(move |committed: Result<(), DbError>| {
                    let result = match (outcome, committed) {
                        (Ok(Ok(value)), Ok(())) => Ok(value),
                        (Ok(Ok(_)), Err(e)) => Err(E::from(e)),
                        (Ok(Err(e)), _) => Err(e),
                        (Err(()), _) => Err(E::from(DbError::WorkPanicked)),
                    };
                    // The caller may have gone away: its work is done all the same.
                    let _ = reply.send(result);
                });
                Settled { keep, answer }
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| E::from(DbError::WriterStopped))?;
        // A dropped answer means the work never ran: the transaction failed before it.
        answer
            .await
            .unwrap_or_else(|_| Err(E::from(DbError::WriteAbandoned)))
    }
}

/// The writer task: one batch after another until every handle is gone.
async fn run(pool: AnyPool, mut queue: mpsc::Receiver<Job>, stats: Arc<Stats>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let size = batch.len();
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        stats.units.fetch_add(size as u64, Ordering::Relaxed);
        if let Err(e) = commit_batch(&pool, batch.drain(..)).await {
            tracing::error!(error = %e, size, "a write transaction failed");
        }
    }
}

/// Runs `jobs` in one transaction and answers each. A failure of the transaction
/// itself (it could not begin, a savepoint failed, the commit failed) is every
/// caller's answer.
async fn commit_batch(
    pool: &AnyPool,
    jobs: impl ExactSizeIterator<Item = Job>,
) -> Result<(), Arc<sqlx::Error>> {
    let alone = jobs.len() == 1;
    let mut settled = Vec::with_capacity(jobs.len());
    let outcome = async {
        // `BEGIN IMMEDIATE` takes the write lock at once: a transaction that read
        // first and took it later could fail half-way with SQLITE_BUSY when another
        // process (the `homelab-cmd` command line) writes at the same moment.
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        // Each unit runs inside the savepoint `unit`; between two units one round
        // trip releases the last one's and opens the next one's; the commit
        // releases the last.
        let mut open = "SAVEPOINT unit";
        for job in jobs {
            // Alone, the unit's failure rolls back the whole transaction: no savepoint.
            if alone {
                let done = job(&mut tx).await;
                let keep = done.keep;
                settled.push(done.answer);
                return if keep {
                    tx.commit().await
                } else {
                    tx.rollback().await
                };
            }
            sqlx::Executor::execute(&mut *tx, open).await?;
            let done = job(&mut tx).await;
            open = if done.keep {
                "RELEASE SAVEPOINT unit; SAVEPOINT unit"
            } else {
                "ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit; SAVEPOINT unit"
            };
            settled.push(done.answer);
        }
        if open.starts_with("ROLLBACK") {
            // The last unit failed: undo it before committing the others.
            sqlx::query("ROLLBACK TO SAVEPOINT unit")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
    .await;
    match outcome {
        Ok(()) => {
            for answer in settled {
                answer(Ok(()));
            }
            Ok(())
        }
        Err(e) => {
            let e = Arc::new(e);
            for answer in settled {
                answer(Err(DbError::NotCommitted(e.clone())));
            }
            Err(e)
        }
    }
}

/// Polls a future, turning a panic into `Err(())` so that one faulty unit of work
/// cannot take the writer task (and every later write) down with it.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Barrier;

    use crate::db::{Database, DbError};

    async fn fresh() -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let db = Database::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        (db, dir)
    }

    async fn insert(db: &Database, k: i64, fail_after: bool) -> Result<(), DbError> {
        db.write(move |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (k, v) VALUES ($1, 'x')")
                    .bind(k)
                    .execute(&mut **tx)
                    .await?;
                if fail_after {
                    // A second row, then a refusal: both must go.
                    sqlx::query("INSERT INTO t (k, v) VALUES ($1, 'y')")
                        .bind(k + 1_000)
                        .execute(&mut **tx)
                        .await?;
                    sqlx::query("INSERT INTO t (k, v) VALUES ($1, 'dup')")
                        .bind(k)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn keys(db: &Database) -> Vec<i64> {
        sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(db.pool())
            .await
            .unwrap()
    }

    /// Callers that write at the same moment: one transaction carries several of
    /// them, and one caller's failure undoes its own rows only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_unit_in_a_batch_undoes_only_its_own_changes() {
        let (db, _dir) = fresh().await;
        let start = Arc::new(Barrier::new(40));
        let writers: Vec<_> = (0..40)
            .map(|k| {
                let (db, start) = (db.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    insert(&db, k, k % 4 == 0).await
                })
            })
            .collect();
        for (k, w) in writers.into_iter().enumerate() {
            let outcome = w.await.unwrap();
            assert_eq!(outcome.is_err(), k % 4 == 0, "unit {k}: {outcome:?}");
        }
        let expected: Vec<i64> = (0..40).filter(|k| k % 4 != 0).collect();
        assert_eq!(keys(&db).await, expected);
        let (transactions, units) = db.write_stats().unwrap();
        assert_eq!(units, 40);
        assert!(
            transactions < units,
            "some transactions carried several units ({transactions} for {units})"
        );
    }

    #[tokio::test]
    async fn a_panicking_unit_is_an_error_and_later_writes_go_on() {
        let (db, _dir) = fresh().await;
        let outcome: Result<(), DbError> = db
            .write(|tx| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (k, v) VALUES (1, 'x')")
                        .execute(&mut **tx)
                        .await?;
                    panic!("a bug in a unit of work");
                })
            })
            .await;
        assert!(matches!(outcome, Err(DbError::WorkPanicked)), "{outcome:?}");
        insert(&db, 2, false).await.unwrap();
        assert_eq!(keys(&db).await, [2]);
    }

    /// The request that asked goes away (its future is dropped) while its work
    /// waits: the work still commits, and the connection comes back clean.
    #[tokio::test]
    async fn work_whose_caller_went_away_still_commits() {
        let (db, _dir) = fresh().await;
        let (entered, mut in_work) = tokio::sync::mpsc::channel::<()>(1);
        let (release, go) = tokio::sync::oneshot::channel::<()>();
        let caller = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |tx| {
                    Box::pin(async move {
                        entered.send(()).await.unwrap();
                        go.await.unwrap();
                        sqlx::query("INSERT INTO t (k, v) VALUES (7, 'x')")
                            .execute(&mut **tx)
                            .await?;
                        Ok::<_, DbError>(())
                    })
                })
                .await
            })
        };
        in_work.recv().await.unwrap();
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        release.send(()).unwrap();
        // The next write queues behind the abandoned one: when it is answered, the
        // abandoned work has committed.
        insert(&db, 8, false).await.unwrap();
        assert_eq!(keys(&db).await, [7, 8]);
    }
}
