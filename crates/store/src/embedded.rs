//! The hot SQLite operations, each run whole on a thread of its own connection.
//!
//! Through sqlx every statement is a hand-off to the connection's thread and back (a
//! `BEGIN`, a few statements and a `COMMIT` are a dozen wake-ups); a profile of the exchange
//! put those wake-ups and sqlx's per-statement work above half of the SQLite side's cost. Here
//! an operation is a closure over a rusqlite [`Connection`] sent to a worker thread: one
//! hand-off there and one back, however many statements it runs.
//!
//! The writer commits in groups: it takes every operation waiting (up to [`BATCH`]), runs each
//! inside a savepoint of one `BEGIN IMMEDIATE` transaction (an operation that fails is rolled
//! back alone, as its own transaction would have been), commits once (one WAL fsync,
//! `synchronous=FULL`), and only then answers each caller: nothing is reported done before it
//! is durable, and if the commit fails every operation of the group gets the error.
//!
//! A read runs on the caller's own thread, on a connection taken from a small pool (WAL: readers
//! see the last commit and never wait for the writer). The reads of the exchange's path are
//! index lookups of tens of microseconds, less than the two thread wake-ups a hand-off to a
//! reader thread cost (BENCHMARKS.md); a read that may take long (a large blob's bytes) goes to
//! a blocking thread instead ([`Embedded::read_blocking`]). Other connections to the same
//! database (sqlx's pool, other processes) still work: SQLite's file locks serialise the
//! writers, with the busy timeout.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Statement, ToSql};
use tokio::sync::oneshot;

use crate::StoreError;

/// The most operations one commit takes.
const BATCH: usize = 64;

/// The most idle reader connections a database keeps (more are opened while more read at once,
/// and closed after).
const IDLE_READERS: usize = 4;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a commit waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// The WAL on the disk (`synchronous = FULL`): a commit survives a power loss.
    Durable,
    /// The WAL written, not synced (`synchronous = NORMAL`): a commit survives the process
    /// ending, and the database stays consistent, but a power loss may undo the last commits
    /// (for a database whose rows can be recovered, or synced by other means when it matters).
    Written,
}

/// One SQLite database: its writer's thread and its readers' connections. Clones share them;
/// the thread ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Embedded {
    writer: Worker,
    readers: Arc<Readers>,
}

/// The reading connections not in use; `None` once closed.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    commit: Commit,
    idle: Mutex<Option<Vec<Connection>>>,
}

#[derive(Debug, Clone)]
struct Worker {
    jobs: mpsc::Sender<Message>,
}

/// What a worker is sent.
enum Message {
    /// An operation to run.
    Run(Job),
    /// Finish what came before, close the connection, then say so.
    Close(oneshot::Sender<()>),
}

/// What an operation says once its group's commit is known: `None` when it committed.
type Reply = Box<dyn FnOnce(Option<&Arc<rusqlite::Error>>) + Send>;
/// An operation: run (or skipped) by the worker, it returns what to say to its caller.
type Job = Box<dyn FnOnce(Run<'_>) -> Reply + Send>;

/// How the worker runs an operation.
enum Run<'c> {
    /// Inside the writer's group transaction: the operation runs in a savepoint. If the
    /// savepoint itself cannot be rolled back or released, the error is left in the cell and
    /// the whole group is rolled back.
    Write(&'c Connection, &'c Cell<Option<Arc<rusqlite::Error>>>),
    /// Not at all (its group could not begin): the reply carries why.
    Skip,
}

impl Embedded {
    /// Opens the writer's and a reader's connection to the (existing, migrated) database at
    /// `path` and starts the writer's thread.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Commit::Durable, || Ok(()))
    }

    /// As [`Embedded::open`], with commits as `commit` says, and the writer runs `before_commit`
    /// after a group's operations and before its `COMMIT`: if it fails, the group is rolled
    /// back and its callers get the error (the small-blob pack makes its file durable there,
    /// before the rows that point into it).
    pub(crate) fn open_with(
        path: &Path,
        commit: Commit,
        before_commit: impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) -> Result<Self, StoreError> {
        let writer = Worker::start(connect(path, commit)?, "sqlite-writer", move |c, queue| {
            write_groups(c, queue, before_commit)
        })?;
        // One reader opened now: a database that cannot be read fails here, not at first use.
        let idle = Mutex::new(Some(vec![connect(path, commit)?]));
        let readers = Arc::new(Readers { path: path.to_owned(), commit, idle });
        Ok(Self { writer, readers })
    }

    /// Runs `op` in the writer's next group; `Ok` once that group has committed.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.writer.call(op).await
    }

    /// Closes the idle readers, lets the writer finish what it was sent, then closes its
    /// connection (the last connection to close checkpoints the WAL into the database file);
    /// later operations fail. A read under way when this is called closes its connection after.
    pub(crate) async fn close(&self) {
        drop(self.readers.lock().take());
        let (done, closed) = oneshot::channel();
        if self.writer.jobs.send(Message::Close(done)).is_ok() {
            // An error means the thread had already ended: closed either way.
            let _ = closed.await;
        }
    }

    /// Runs `op` on a reading connection, on this thread: for reads that take little time.
    pub(crate) async fn read<R>(&self, op: impl FnOnce(&Connection) -> Result<R, StoreError>) -> Result<R, StoreError> {
        self.readers.run(op)
    }

    /// Runs `op` on a reading connection on a blocking thread: for reads that may take long.
    pub(crate) async fn read_blocking<R: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.run(op)).await.map_err(|_| stopped())?
    }
}

impl Readers {
    /// Runs `op` on an idle connection (or a new one), then keeps the connection for the next.
    fn run<R>(&self, op: impl FnOnce(&Connection) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let idle = self.lock().as_mut().ok_or_else(stopped)?.pop();
        let connection = match idle {
            Some(connection) => connection,
            None => connect(&self.path, self.commit)?,
        };
        let result = guarded(op, &connection);
        if let Some(idle) = self.lock().as_mut()
            && idle.len() < IDLE_READERS
        {
            idle.push(connection);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<Connection>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Worker {
    fn start(
        connection: Connection,
        name: &str,
        work: impl FnOnce(Connection, mpsc::Receiver<Message>) + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || work(connection, queue))
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Ok(Self { jobs })
    }

    async fn call<R: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |run| {
            let result = match run {
                Run::Write(connection, broken) => in_savepoint(connection, broken, op),
                Run::Skip => Err(stopped()),
            };
            Box::new(move |commit_failed: Option<&Arc<rusqlite::Error>>| {
                let result = match commit_failed {
                    Some(error) => Err(StoreError::Embedded(error.clone())),
                    None => result,
                };
                // A caller that stopped waiting (its request was dropped) needs no answer.
                let _ = answer.send(result);
            })
        });
        self.jobs.send(Message::Run(job)).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Runs `op`, turning a panic (a bug) into an error for its caller: the thread, and the
/// other operations of its group, carry on.
fn guarded<R>(op: impl FnOnce(&Connection) -> Result<R, StoreError>, connection: &Connection) -> Result<R, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(connection)))
        .unwrap_or_else(|_| Err(StoreError::Corrupt("a SQLite operation failed unexpectedly (a bug)".into())))
}

fn stopped() -> StoreError {
    // As sqlx answers once its pool is closed.
    StoreError::Database(sqlx::Error::PoolClosed)
}

fn connect(path: &Path, commit: Commit) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Every operation on the writer runs in a savepoint, whose statement journal (the pages it
    // changed, to roll back to) is then kept in memory rather than in a temporary file.
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")?;
    connection.execute_batch(match commit {
        Commit::Durable => "PRAGMA synchronous = FULL",
        Commit::Written => "PRAGMA synchronous = NORMAL",
    })?;
    // Plans that do not depend on the values bound: without it, SQLite takes a bound `LIMIT`
    // for a constant and prepares the statement again each time it is bound (2.7% of the
    // exchange's CPU went to preparing cached statements again). The partial indexes' conditions
    // are written as literals in the queries that use them, so their plans do not change.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection.set_prepared_statement_cache_capacity(128);
    Ok(connection)
}

/// Runs `op` in a savepoint: released when it succeeds, rolled back when it fails.
/// A savepoint statement that fails leaves the transaction in a state no one can vouch for: the
/// error goes into `broken`, and the group is rolled back.
fn in_savepoint<R>(
    connection: &Connection,
    broken: &Cell<Option<Arc<rusqlite::Error>>>,
    op: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    if let Err(error) = control(connection, "SAVEPOINT op") {
        return Err(error.into());
    }
    let result = guarded(op, connection);
    let ended = match result {
        Ok(_) => control(connection, "RELEASE op"),
        Err(_) => control(connection, "ROLLBACK TO op").and_then(|()| control(connection, "RELEASE op")),
    };
    if let Err(error) = ended {
        let error = Arc::new(error);
        broken.set(Some(error.clone()));
        return Err(StoreError::Embedded(error));
    }
    result
}

/// The writer: every operation waiting, in one transaction; the callers answered after it.
fn write_groups(
    connection: Connection,
    queue: mpsc::Receiver<Message>,
    mut before_commit: impl FnMut() -> std::io::Result<()>,
) {
    let mut group = Vec::with_capacity(BATCH);
    while let Ok(message) = queue.recv() {
        let mut close = None;
        let mut next = Some(message);
        while let Some(message) = next.take() {
            match message {
                Message::Run(job) => group.push(job),
                Message::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if group.len() < BATCH {
                next = queue.try_recv().ok();
            }
        }
        if !group.is_empty() {
            commit_group(&connection, group.drain(..), &mut before_commit);
        }
        if let Some(done) = close {
            drop(connection);
            let _ = done.send(());
            return;
        }
    }
}

/// Runs `group` in one transaction, each operation in a savepoint, and answers each caller once
/// the commit is known.
fn commit_group(
    connection: &Connection,
    group: impl Iterator<Item = Job>,
    before_commit: &mut impl FnMut() -> std::io::Result<()>,
) {
    if let Err(error) = control(connection, "BEGIN IMMEDIATE") {
        let error = Arc::new(error);
        // Nothing ran: each caller is told why.
        for job in group {
            job(Run::Skip)(Some(&error));
        }
        return;
    }
    let broken = Cell::new(None);
    let replies: Vec<Reply> = group.map(|job| job(Run::Write(connection, &broken))).collect();
    let committed = match broken.take() {
        Some(error) => Err(error),
        None => before_commit()
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                    Some(e.to_string()),
                )
            })
            .and_then(|()| control(connection, "COMMIT"))
            .map_err(Arc::new),
    };
    if committed.is_err() {
        let _ = control(connection, "ROLLBACK");
    }
    for reply in replies {
        reply(committed.as_ref().err());
    }
}

/// Runs a transaction or savepoint statement, prepared once per connection.
fn control(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map(|_| ())
}

/// Binds `args` to `statement` as sqlx does for SQLite: a parameter named `$N` (or `?N`) takes
/// the N-th argument, wherever and however often it appears; a bare `?` the next one.
fn bind(statement: &mut Statement<'_>, args: &[&dyn ToSql]) -> Result<(), StoreError> {
    let mut next = 0;
    for index in 1..=statement.parameter_count() {
        let position = match statement.parameter_name(index) {
            Some(name) => name[1..].parse::<usize>().map_err(|_| bad_parameter(name))?.wrapping_sub(1),
            None => {
                next += 1;
                next - 1
            }
        };
        let arg = args.get(position).ok_or_else(|| bad_parameter(&format!("{index}")))?;
        statement.raw_bind_parameter(index, arg)?;
    }
    Ok(())
}

fn bad_parameter(name: &str) -> StoreError {
    StoreError::Corrupt(format!("SQL parameter {name} has no argument"))
}

/// Runs `sql` (cached) with `args`; the number of rows it changed.
pub(crate) fn execute(connection: &Connection, sql: &str, args: &[&dyn ToSql]) -> Result<usize, StoreError> {
    let mut statement = connection.prepare_cached(sql)?;
    bind(&mut statement, args)?;
    Ok(statement.raw_execute()?)
}

/// Runs `sql` (cached) with `args`; its first row through `map`, if any.
pub(crate) fn query_one<T>(
    connection: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    let mut statement = connection.prepare_cached(sql)?;
    bind(&mut statement, args)?;
    let mut rows = statement.raw_query();
    match rows.next()? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}

/// Runs `sql` (cached) with `args`; every row through `map`.
pub(crate) fn query_all<T>(
    connection: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
    mut map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = connection.prepare_cached(sql)?;
    bind(&mut statement, args)?;
    let mut rows = statement.raw_query();
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push(map(row)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::{Commit, connect};

    #[test]
    fn a_cached_statement_with_a_bound_limit_is_not_prepared_again_on_each_binding() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("plans.sqlite");
        drop(rusqlite::Connection::open(&path).expect("created"));
        let connection = connect(&path, Commit::Durable).expect("connected");
        connection
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3);")
            .expect("t");
        for limit in [1_i64, 2, 3, 2] {
            let mut statement =
                connection.prepare_cached("SELECT id FROM t WHERE id > $1 ORDER BY id LIMIT $2").expect("prepared");
            let rows: Vec<i64> = statement
                .query_map((0_i64, limit), |row| row.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert_eq!(rows.len() as i64, limit);
            assert_eq!(statement.get_status(StatementStatus::RePrepare), 0, "prepared again for LIMIT {limit}");
        }
    }
}
