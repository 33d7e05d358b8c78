//! What the two SQL engines share: the healthcheck, the extraction's
//! streaming task and the binding of parameters are one implementation;
//! each engine's module says only what differs (connecting, describing
//! the result, the extraction SQL, error codes).

use super::{Bind, Job, Plan, RawRow, Settings, Watermark, pump, spawn_extraction};
use crate::{Extraction, SourceError};
use sqlx::{Connection, Database, Encode, Executor, IntoArguments, Type};

/// One SQL engine, as the extraction needs it.
pub(super) trait Dialect {
    type Db: Database;

    async fn connect(
        settings: &Settings,
    ) -> Result<<Self::Db as Database>::Connection, SourceError>;

    /// Opens the read-only transaction, describes the table or query and
    /// writes the extraction SQL.
    async fn plan(
        conn: &mut <Self::Db as Database>::Connection,
        settings: &Settings,
        watermark: Option<&Watermark>,
    ) -> Result<Plan, SourceError>;
}

/// Connects, plans and reads no row: the source answers as configured.
pub(super) async fn healthcheck<D>(settings: &Settings) -> Result<(), SourceError>
where
    D: Dialect,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> f64: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut conn = D::connect(settings).await?;
    let plan = D::plan(&mut conn, settings, None).await?;
    let sql = format!("{} LIMIT 0", plan.sql);
    bind_all::<D::Db>(sqlx::query(&sql), &plan.binds)
        .fetch_all(&mut conn)
        .await
        .map_err(|e| settings.errors.map(e))?;
    end::<D::Db>(conn).await;
    Ok(())
}

/// Starts the extraction: rows stream from a task of their own, in
/// batches, through a bounded channel.
pub(super) async fn extract<D>(
    settings: Settings,
    watermark: Option<Watermark>,
) -> Result<Extraction, SourceError>
where
    D: Dialect,
    <D::Db as Database>::Connection: Send + 'static,
    <D::Db as Database>::Row: RawRow,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db> + Send,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> f64: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut conn = D::connect(&settings).await?;
    let plan = D::plan(&mut conn, &settings, watermark.as_ref()).await?;
    let job = Job::new(plan, &settings, watermark);
    Ok(spawn_extraction(job, |mut job, tx| async move {
        let result = {
            let (sql, binds) = (job.plan.sql.clone(), job.plan.binds.clone());
            let rows = bind_all::<D::Db>(sqlx::query(&sql), &binds).fetch(&mut conn);
            pump(&mut job, rows, &tx).await
        };
        job.conclude(result, &tx).await;
        drop(tx);
        end::<D::Db>(conn).await;
    }))
}

/// Closes the connection, which ends the read-only transaction (nothing
/// to keep). Closing does not wait for the rest of a result the consumer
/// no longer wants.
async fn end<DB: Database>(conn: DB::Connection) {
    let _ = conn.close().await;
}

fn bind_all<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    f64: Encode<'q, DB> + Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(int) => query.bind(*int),
            Bind::Float(float) => query.bind(*float),
        };
    }
    query
}
