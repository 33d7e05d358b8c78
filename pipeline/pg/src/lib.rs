//! The PostgreSQL wire protocol, so analysts connect with psql, DBeaver,
//! Metabase or Power BI as to any database: user = principal, password =
//! API token (cleartext password authentication: run it on loopback or
//! behind a TLS terminator). Every statement goes through the same
//! governed path as the CLI and HTTP (`lagoa_sql::run`): the guard, the
//! policy, the limits, the audit trail. The token is checked again on every
//! statement, so a revoked token or a disabled user stops at once.
//!
//! The purpose of queries on `especial` data is a session parameter:
//! `SET lagoa.purpose = '...'`, or `options='-c lagoa.purpose=...'` when
//! connecting. Transactions are accepted and mean nothing (the service only
//! reads), but for closing the cursors declared in them. Results are text,
//! or binary for the columns a client asks so; `DECLARE ... CURSOR` pages
//! through an answer (`cursor`), `COPY ... TO STDOUT` exports one (`copy`).

mod copy;
mod cursor;
mod encode;
mod responses;
mod session;
mod signin;

use copy::Copy;
use cursor::{Command, Count, Declare, Fetch};
use encode::{error_info, fields, pg_type};
use lagoa_governance::Principal;
use responses::{close, error_response, fetch, rows_response};
use session::{Local, Session, local_command};
use signin::{Startup, TokenSource, principal};

use async_trait::async_trait;
use futures::Sink;
use lagoa_governance::SignIns;
use lagoa_lake::Lake;
use lagoa_sql::{Answer, QueryError, QueryRequest, QueryService};
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::{AuthDriver, DefaultServerParameterProvider, StartupHandler};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::CopyResponse;
use pgwire::api::results::{FieldInfo, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What answers a client's SSLRequest (tokio-rustls's acceptor).
pub use pgwire::tokio::TlsAcceptor;

/// TLS on the port: the acceptor that answers a client's SSLRequest
/// (`None`: the port has no certificate), and whether clients on other
/// hosts may connect without TLS (`tls.allow_plaintext`).
#[derive(Clone, Default)]
pub struct PortTls {
    pub acceptor: Option<pgwire::tokio::TlsAcceptor>,
    pub plaintext_from_others: bool,
}

impl Debug for PortTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortTls")
            .field("tls", &self.acceptor.is_some())
            .field("plaintext_from_others", &self.plaintext_from_others)
            .finish()
    }
}

/// Accepts connections until `shutdown`; each connection runs on its own task.
pub async fn serve(
    listener: TcpListener,
    queries: QueryService,
    signins: Arc<SignIns>,
    shutdown: CancellationToken,
    tls: PortTls,
) {
    let metrics = Arc::clone(queries.metrics());
    let handlers = Arc::new(Handlers::new(queries, signins, tls.plaintext_from_others));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let handlers = Arc::clone(&handlers);
                    let acceptor = tls.acceptor.clone();
                    let open = metrics.pg_connection();
                    tokio::spawn(async move {
                        let _open = open;
                        if let Err(e) = pgwire::tokio::process_socket(socket, acceptor, handlers).await {
                            tracing::debug!(%peer, error = %e, "a PostgreSQL connection ended with an error");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accepting a PostgreSQL connection failed"),
            },
        }
    }
}

struct Handlers {
    startup: Arc<Startup>,
    queries: Arc<Queries>,
    /// Cancel requests find the connection's running query here.
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    fn new(queries: QueryService, signins: Arc<SignIns>, plaintext_from_others: bool) -> Self {
        let mut parameters = DefaultServerParameterProvider::default();
        // Clients parse the leading version number.
        parameters.server_version = lagoa_sql::pg_settings::server_version();
        // Nobody is a superuser here: the port only reads, under the policy.
        parameters.is_superuser = false;
        let on_off = |b: bool| if b { "on" } else { "off" }.to_owned();
        let settings = Arc::new(session::default_settings(&[
            ("server_version", parameters.server_version.clone()),
            ("server_encoding", parameters.server_encoding.clone()),
            ("client_encoding", "UTF8".to_owned()),
            ("integer_datetimes", on_off(parameters.integer_datetimes)),
            ("search_path", parameters.search_path.clone()),
            ("is_superuser", on_off(parameters.is_superuser)),
            ("TimeZone", parameters.time_zone.clone()),
            ("DateStyle", parameters.date_style.clone()),
            ("IntervalStyle", parameters.interval_style.clone()),
        ]));
        let lake = Arc::clone(queries.lake());
        let source = Arc::new(TokenSource {
            signins: Arc::clone(&signins),
        });
        let parser = Arc::new(Parser {
            lake: Arc::clone(&lake),
            signins: Arc::clone(&signins),
            queries: queries.clone(),
        });
        let connections = Arc::new(ConnectionManager::new());
        Self {
            startup: Arc::new(Startup {
                driver: AuthDriver::new(parameters)
                    .with_connection_manager(Arc::clone(&connections)),
                factory: CleartextPasswordAuth::new(source),
                plaintext_from_others,
            }),
            queries: Arc::new(Queries {
                lake,
                signins,
                queries,
                parser,
                settings,
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

fn local_response(
    local: &Local,
    session: &Session,
    defaults: &std::collections::BTreeMap<String, String>,
) -> Response {
    match local {
        Local::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Local::Commit => {
            session.cursors().end_transaction();
            Response::TransactionEnd(Tag::new("COMMIT"))
        }
        Local::Rollback => {
            session.cursors().end_transaction();
            Response::TransactionEnd(Tag::new("ROLLBACK"))
        }
        Local::SetPurpose(purpose) => {
            session.set_purpose(purpose.clone());
            Response::Execution(Tag::new("SET"))
        }
        Local::Accepted(tag) => Response::Execution(Tag::new(tag)),
        Local::ShowPurpose => encode::single_text("lagoa.purpose", session.purpose()),
        Local::SetAsOf(text) => match session.set_as_of(text.clone()) {
            Ok(()) => Response::Execution(Tag::new("SET")),
            Err(e) => Response::Error(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "22023".into(),
                format!("{}: {e}", session::AS_OF),
            ))),
        },
        Local::ResetAll => {
            session.reset_all();
            Response::Execution(Tag::new("RESET"))
        }
        Local::Set(name, value) => {
            let tag = if value.is_some() { "SET" } else { "RESET" };
            session.set(name, value.clone());
            Response::Execution(Tag::new(tag))
        }
        Local::Show(name) => match session.setting(name, defaults) {
            Some(value) => encode::single_text(name, Some(value)),
            None => Response::Error(Box::new(ErrorInfo::new(
                "ERROR".into(),
                "42704".into(),
                format!("unrecognized configuration parameter \"{name}\""),
            ))),
        },
        Local::ShowAsOf => encode::single_text(session::AS_OF, session.as_of_text()),
        Local::SetConfig {
            name,
            value: session::Given::Text(value),
            column,
        } => match local_response(&session::assignment(name, value.clone()), session, defaults) {
            Response::Error(e) => Response::Error(e),
            _ => encode::single_text(column, value.clone()),
        },
        // Bound before they get here (`session::bind`).
        Local::SetParam(name, n) => {
            error_response("42P02", format!("SET {name}: there is no parameter ${n}"))
        }
        Local::SetConfig { name, .. } => error_response(
            "42P02",
            format!("set_config('{name}'): a parameter is missing"),
        ),
    }
}

struct Queries {
    lake: Arc<Lake>,
    signins: Arc<SignIns>,
    queries: QueryService,
    parser: Arc<Parser>,
    /// What `SHOW` answers for a setting no client changed.
    settings: Arc<std::collections::BTreeMap<String, String>>,
}

impl Queries {
    /// Runs one statement through the governed path (a CancelRequest makes
    /// pgwire drop this future, and with it the query).
    async fn run(
        &self,
        who: &Principal,
        session: &Session,
        (sql, params): (&str, &Params),
        export: Option<&str>,
    ) -> Result<Answer, QueryError> {
        let (purpose, settings) = (session.purpose(), session.settings(&self.settings));
        let request = QueryRequest {
            export,
            ..governed(who, session, (&purpose, &settings), (sql, params))
        };
        let answer = self.queries.run(&request, std::future::pending()).await;
        if let Err(QueryError::Lake(e)) = &answer {
            tracing::error!(error = %e, "a PostgreSQL query failed in the lake");
        }
        answer.map(|a| Answer {
            schema: pg_named(sql, &a.schema),
            ..a
        })
    }

    async fn answer(
        &self,
        who: &Principal,
        session: &Session,
        request: (&str, &Params),
        format: &Format,
    ) -> PgWireResult<Response> {
        match self.run(who, session, request, None).await {
            Ok(answer) => rows_response(
                &answer.schema,
                futures::stream::iter(answer.batches.into_iter().map(Ok)),
                format,
                "SELECT",
            ),
            Err(e) => Ok(Response::Error(Box::new(error_info(&e)))),
        }
    }

    /// Most rows one `FETCH` hands out: as many as one answer may have.
    fn fetch_limit(&self) -> usize {
        self.queries.limits().max_rows
    }

    /// `DECLARE`: the query starts now; its rows come as they are fetched.
    async fn declare(
        &self,
        who: &Principal,
        session: &Session,
        declare: &Declare,
        params: &Params,
    ) -> PgWireResult<(Response, Option<arrow::datatypes::SchemaRef>)> {
        if let Err((code, message)) = session.cursors().admits(&declare.name) {
            return Ok((error_response(code, message), None));
        }
        let sql = declare.query.as_str();
        let (purpose, settings) = (session.purpose(), session.settings(&self.settings));
        let request = governed(who, session, (&purpose, &settings), (sql, params));
        let rows = match self.queries.stream(&request).await {
            Ok(rows) => rows,
            Err(e) => return Ok((Response::Error(Box::new(error_info(&e))), None)),
        };
        let schema = pg_named(sql, &rows.schema);
        Ok(
            match session.cursors().open(declare, schema.clone(), rows) {
                Ok(()) => (
                    Response::Execution(Tag::new("DECLARE CURSOR")),
                    Some(schema),
                ),
                Err((code, message)) => (error_response(code, message), None),
            },
        )
    }

    /// `COPY ... TO STDOUT`: the query's rows as an export.
    async fn copy(
        &self,
        who: &Principal,
        session: &Session,
        copy: &Copy,
        params: &Params,
    ) -> PgWireResult<Response> {
        let format = copy.format.name();
        let answer = match self
            .run(who, session, (&copy.query, params), Some(format))
            .await
        {
            Ok(a) => a,
            Err(e) => return Ok(Response::Error(Box::new(error_info(&e)))),
        };
        let names: Vec<String> = answer
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let lines = copy::lines(&copy.format, &names, &answer.batches)?;
        let data = lines
            .into_iter()
            .map(|l| Ok(pgwire::messages::copy::CopyData::new(bytes::Bytes::from(l))));
        Ok(Response::CopyOut(CopyResponse::new(
            0,
            names.len(),
            futures::stream::iter(data),
        )))
    }
}

/// The request of a statement `who` sends in `session`.
fn governed<'a>(
    who: &'a Principal,
    session: &Session,
    (purpose, settings): (&'a Option<String>, &'a lagoa_sql::pg_settings::Settings),
    (sql, params): (&'a str, &'a Params),
) -> QueryRequest<'a> {
    QueryRequest {
        principal: who,
        purpose: purpose.as_deref(),
        sql,
        params: &params.values,
        param_types: &params.declared,
        as_of: session.as_of(),
        export: None,
        settings: Some(settings),
    }
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (who, session) = principal(&self.lake, &self.signins, client).await?;
        if let Some(local) = local_command(query) {
            return Ok(vec![match session::bind(&local, &[]) {
                Ok(local) => local_response(&local, &session, &self.settings),
                Err((code, message)) => error_response(code, message),
            }]);
        }
        if let Some(command) = cursor::command(query) {
            let response = match command {
                Err((code, message)) => error_response(code, message),
                Ok(Command::Declare(declare)) => {
                    self.declare(&who, &session, &declare, &Params::default())
                        .await?
                        .0
                }
                Ok(Command::Fetch(f)) => {
                    fetch(&session, &f, &Format::UnifiedText, self.fetch_limit()).await?
                }
                Ok(Command::Close(name)) => close(&session, name.as_deref()),
            };
            return Ok(vec![response]);
        }
        if let Some(copy) = copy::command(query) {
            return Ok(vec![match copy {
                Err((code, message)) => error_response(code, message),
                Ok(copy) => self.copy(&who, &session, &copy, &Params::default()).await?,
            }]);
        }
        Ok(vec![
            self.answer(
                &who,
                &session,
                (query, &Params::default()),
                &Format::UnifiedText,
            )
            .await?,
        ])
    }
}

/// A statement of the extended protocol: answered here, or a query
/// described (and authorised) when parsed.
#[derive(Clone, Debug)]
pub enum Statement {
    Local(Local),
    Query {
        sql: String,
        schema: arrow::datatypes::SchemaRef,
        params: Vec<Option<arrow::datatypes::DataType>>,
    },
    /// `DECLARE ... CURSOR FOR query` (its query described).
    Declare {
        declare: Declare,
        params: Vec<Option<arrow::datatypes::DataType>>,
    },
    /// `FETCH`/`MOVE`, with the cursor's columns (and whether it is
    /// binary) when it was open as the statement was parsed.
    Fetch {
        fetch: Fetch,
        cursor: Option<(arrow::datatypes::SchemaRef, bool)>,
    },
    Close(Option<String>),
    /// `COPY ... TO STDOUT` (its query described).
    Copy {
        copy: Copy,
        params: Vec<Option<arrow::datatypes::DataType>>,
    },
    /// The portal a `DECLARE` opens under the cursor's name, which clients
    /// describe (psycopg) before they fetch.
    Cursor {
        schema: arrow::datatypes::SchemaRef,
    },
}

struct Parser {
    lake: Arc<Lake>,
    signins: Arc<SignIns>,
    queries: QueryService,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if let Some(local) = local_command(sql) {
            return Ok(Some(Statement::Local(local)));
        }
        let refused = |(code, message): (&str, String)| encode::user_error(code, message);
        if let Some(command) = cursor::command(sql) {
            return Ok(Some(match command.map_err(refused)? {
                Command::Declare(declare) => {
                    let described = self.describe(client, &declare.query).await?;
                    Statement::Declare {
                        declare,
                        params: described.params,
                    }
                }
                Command::Fetch(fetch) => {
                    let (_, session) = principal(&self.lake, &self.signins, client).await?;
                    let cursor = session.cursors().shape(&fetch.name);
                    Statement::Fetch { fetch, cursor }
                }
                Command::Close(name) => Statement::Close(name),
            }));
        }
        if let Some(copy) = copy::command(sql) {
            let copy = copy.map_err(refused)?;
            let described = self.describe(client, &copy.query).await?;
            return Ok(Some(Statement::Copy {
                copy,
                params: described.params,
            }));
        }
        let described = self.describe(client, sql).await?;
        Ok(Some(Statement::Query {
            sql: sql.to_owned(),
            schema: described.schema,
            params: described.params,
        }))
    }

    fn get_parameter_types(&self, statement: &Statement) -> PgWireResult<Vec<Type>> {
        Ok(match statement {
            Statement::Local(local) => vec![Type::TEXT; session::param_count(local)],
            Statement::Fetch { .. } | Statement::Close(_) | Statement::Cursor { .. } => Vec::new(),
            Statement::Query { params, .. }
            | Statement::Declare { params, .. }
            | Statement::Copy { params, .. } => params
                .iter()
                .map(|t| t.as_ref().map_or(Type::UNKNOWN, pg_type))
                .collect(),
        })
    }

    fn get_result_schema(
        &self,
        statement: &Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match statement {
            Statement::Local(Local::ShowPurpose) => Ok(encode::single_text_fields("lagoa.purpose")),
            Statement::Local(Local::ShowAsOf) => Ok(encode::single_text_fields(session::AS_OF)),
            Statement::Local(Local::Show(name)) => Ok(encode::single_text_fields(name)),
            Statement::Local(Local::SetConfig { column, .. }) => {
                Ok(encode::single_text_fields(column))
            }
            Statement::Local(_)
            | Statement::Declare { .. }
            | Statement::Close(_)
            | Statement::Copy { .. }
            | Statement::Fetch { cursor: None, .. } => Ok(Vec::new()),
            Statement::Fetch { fetch, .. } if fetch.moving => Ok(Vec::new()),
            Statement::Fetch {
                cursor: Some((schema, binary)),
                ..
            } => fields(
                schema,
                if *binary {
                    &Format::UnifiedBinary
                } else {
                    format.unwrap_or(&Format::UnifiedText)
                },
            ),
            Statement::Query { schema, .. } | Statement::Cursor { schema } => {
                fields(schema, format.unwrap_or(&Format::UnifiedText))
            }
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (who, session) = principal(&self.lake, &self.signins, client).await?;
        let params = || text_params(portal);
        match &portal.statement.statement {
            Statement::Local(local) => Ok(match session::bind(local, &params()?.values) {
                Ok(local) => local_response(&local, &session, &self.settings),
                Err((code, message)) => error_response(code, message),
            }),
            Statement::Query { sql, .. } => {
                self.answer(
                    &who,
                    &session,
                    (sql, &params()?),
                    &portal.result_column_format,
                )
                .await
            }
            Statement::Declare { declare, .. } => {
                let (response, schema) = self.declare(&who, &session, declare, &params()?).await?;
                if let Some(schema) = schema {
                    // Under the cursor's name, for clients that describe it.
                    let statement = StoredStatement::new(
                        declare.name.clone(),
                        Statement::Cursor { schema },
                        Vec::new(),
                    );
                    client
                        .portal_store()
                        .put_portal(Arc::new(Portal::new_cursor(
                            declare.name.clone(),
                            Arc::new(statement),
                        )));
                }
                Ok(response)
            }
            Statement::Fetch { fetch: f, .. } => {
                fetch(
                    &session,
                    f,
                    &portal.result_column_format,
                    self.fetch_limit(),
                )
                .await
            }
            Statement::Close(name) => {
                match name {
                    Some(n) => client.portal_store().rm_portal(n),
                    None => {
                        for n in session.cursors().names() {
                            client.portal_store().rm_portal(&n);
                        }
                    }
                }
                Ok(close(&session, name.as_deref()))
            }
            Statement::Copy { copy, .. } => self.copy(&who, &session, copy, &params()?).await,
            Statement::Cursor { .. } => {
                let all = Fetch {
                    name: portal.name.clone(),
                    count: Count::All,
                    moving: false,
                };
                fetch(
                    &session,
                    &all,
                    &portal.result_column_format,
                    self.fetch_limit(),
                )
                .await
            }
        }
    }
}

impl Parser {
    /// Describes (and authorises) the query a statement runs.
    async fn describe<C: ClientInfo + Sync>(
        &self,
        client: &C,
        sql: &str,
    ) -> PgWireResult<lagoa_sql::Description> {
        let (who, session) = principal(&self.lake, &self.signins, client).await?;
        let purpose = session.purpose();
        let request = QueryRequest::new(&who, purpose.as_deref(), sql).as_of(session.as_of());
        let described = self
            .queries
            .describe(&request, std::future::pending())
            .await
            .map_err(|e| PgWireError::UserError(Box::new(error_info(&e))))?;
        Ok(lagoa_sql::Description {
            schema: pg_named(sql, &described.schema),
            ..described
        })
    }
}

/// `schema` with the column names PostgreSQL would give `sql`'s result
/// (`count`, `?column?`), which clients reading columns by name expect.
fn pg_named(sql: &str, schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    let names = lagoa_sql::pg_names::column_names(sql, schema);
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, name)| f.as_ref().clone().with_name(name))
        .collect();
    Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ))
}

/// A statement's parameters: as text, with the types the client declared.
#[derive(Debug, Default)]
struct Params {
    values: Vec<Option<String>>,
    declared: Vec<Option<arrow::datatypes::DataType>>,
}

/// A portal's parameters as text: sent so, or decoded from the binary form
/// of the type the client declared (else the one the query gives its place).
fn text_params(portal: &Portal<Statement>) -> PgWireResult<Params> {
    let described = match &portal.statement.statement {
        Statement::Query { params, .. }
        | Statement::Declare { params, .. }
        | Statement::Copy { params, .. } => params.as_slice(),
        _ => &[],
    };
    let mut params = Vec::with_capacity(portal.parameters.len());
    for (i, p) in portal.parameters.iter().enumerate() {
        let Some(bytes) = p else {
            params.push(None);
            continue;
        };
        if !portal.parameter_format.is_binary(i) {
            params.push(Some(String::from_utf8_lossy(bytes).into_owned()));
            continue;
        }
        let declared = portal.statement.parameter_types.get(i).cloned().flatten();
        let t = declared
            .filter(|t| *t != Type::UNKNOWN)
            .or_else(|| described.get(i).cloned().flatten().map(|d| pg_type(&d)))
            .unwrap_or(Type::UNKNOWN);
        let text = encode::binary_param(&t, bytes)
            .map_err(|e| encode::user_error("22P03", format!("parameter ${}: {e}", i + 1)))?;
        params.push(Some(text));
    }
    let declared = portal
        .statement
        .parameter_types
        .iter()
        .map(|t| t.as_ref().and_then(encode::arrow_type))
        .collect();
    Ok(Params {
        values: params,
        declared,
    })
}
