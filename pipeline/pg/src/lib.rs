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
//! reads). Results are text, or binary for the columns a client asks so.

mod encode;
mod session;

use encode::{error_info, fields, pg_type, rows};
use lagoa_governance::Principal;
use session::{Local, Login, Session, local_command};

use async_trait::async_trait;
use futures::Sink;
use lagoa_governance::{Door, SignInError, SignIns};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{AuditEntry, now_micros};
use lagoa_sql::{QueryError, QueryRequest, QueryService};
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, AuthSource, DefaultServerParameterProvider, LoginInfo, Password,
    StartupHandler,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Accepts connections until `shutdown`; each connection runs on its own task.
pub async fn serve(
    listener: TcpListener,
    queries: QueryService,
    signins: Arc<SignIns>,
    shutdown: CancellationToken,
) {
    let handlers = Arc::new(Handlers::new(queries, signins));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let handlers = Arc::clone(&handlers);
                    tokio::spawn(async move {
                        if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
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
    fn new(queries: QueryService, signins: Arc<SignIns>) -> Self {
        let mut parameters = DefaultServerParameterProvider::default();
        // Clients parse the leading version number.
        parameters.server_version = format!("16.0 (lagoa {})", env!("CARGO_PKG_VERSION"));
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
        let source = Arc::new(TokenSource { signins });
        let parser = Arc::new(Parser {
            lake: Arc::clone(&lake),
            queries: queries.clone(),
        });
        let connections = Arc::new(ConnectionManager::new());
        Self {
            startup: Arc::new(Startup {
                driver: AuthDriver::new(parameters)
                    .with_connection_manager(Arc::clone(&connections)),
                factory: CleartextPasswordAuth::new(source),
            }),
            queries: Arc::new(Queries {
                lake,
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

/// Checks the password as an API token of the user it names.
struct TokenSource {
    signins: Arc<SignIns>,
}

impl Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource")
    }
}

#[async_trait]
impl AuthSource<Login> for TokenSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Tokens are kept only as hashes: there is no password to give.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<Login>> {
        let user = login.user().ok_or(PgWireError::UserNameRequired)?;
        let from: IpAddr = login
            .host()
            .parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let token = std::str::from_utf8(presented).ok();
        let refused = match self.signins.authenticate(Door::Postgres, from, token).await {
            Ok(p) if p.name == user => {
                return Ok(Some(Login {
                    user: user.to_owned(),
                    token: zeroize::Zeroizing::new(token.unwrap_or_default().to_owned()),
                }));
            }
            Ok(p) => self
                .signins
                .refuse::<()>(
                    Door::Postgres,
                    from,
                    SignInError::NotYours {
                        owner: p.name,
                        claimed: user.to_owned(),
                    },
                )
                .await
                .err(),
            Err(e) => Some(e),
        };
        match refused {
            Some(SignInError::Throttled { retry_after }) => Err(fatal(
                "53300",
                SignInError::Throttled { retry_after }.to_string(),
            )),
            Some(SignInError::Unavailable(m)) => {
                tracing::error!(error = %m, "cannot check a PostgreSQL sign-in");
                Err(fatal(
                    "08006",
                    "the catalog did not answer; try again".into(),
                ))
            }
            _ => Err(PgWireError::InvalidPassword(user.to_owned())),
        }
    }
}

struct Startup {
    driver: AuthDriver<DefaultServerParameterProvider, Login>,
    factory: CleartextPasswordAuth<TokenSource>,
}

impl Startup {
    async fn finish<C>(&self, client: &mut C, outcome: AuthOutcome<Login>) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match outcome {
            AuthOutcome::InProgress => Ok(()),
            AuthOutcome::Authenticated {
                identity,
                final_message,
            } => {
                let login = identity.ok_or(PgWireError::UserNameRequired)?;
                let purpose = client
                    .metadata()
                    .get("options")
                    .and_then(|o| session::purpose_from_options(o));
                client
                    .session_extensions()
                    .insert(Session::new(login, purpose));
                self.driver
                    .complete_authentication(client, final_message)
                    .await
            }
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                pgwire::api::auth::protocol_negotiation(client, startup).await?;
                pgwire::api::auth::save_startup_parameters_to_metadata(client, startup);
                let mechanism = self.factory.create();
                let outcome = self.driver.begin_authentication(client, mechanism).await?;
                self.finish(client, outcome).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let outcome = self.driver.advance_authentication(client, message).await?;
                self.finish(client, outcome).await
            }
            _ => Ok(()),
        }
    }
}

/// The connection's principal, authenticated again now.
async fn principal<C: ClientInfo + Sync + ?Sized>(
    lake: &Lake,
    client: &C,
) -> PgWireResult<(Principal, Arc<Session>)> {
    let session = client
        .session_extensions()
        .get::<Session>()
        .ok_or_else(|| fatal("28000", "not signed in".into()))?;
    let reason = match lagoa_governance::GovernanceStore::of(&lake.catalog)
        .authenticate(&session.token, now_micros())
        .await
    {
        Ok(p) if p.name == session.user => return Ok((p, session)),
        Ok(_) => "the token no longer names this user".to_owned(),
        Err(e) => format!("the token was refused: {e}"),
    };
    // A statement on a connection whose token was revoked, or whose user
    // was disabled, since it signed in: refused, and on the record.
    let entry = AuditEntry {
        principal: session.user.clone(),
        institution: "-".into(),
        purpose: session.purpose(),
        action: "query".into(),
        subject: Some("PostgreSQL connection".into()),
        outcome: "denied".into(),
        reason: Some(reason.clone()),
        ..Default::default()
    };
    if let Err(e) = lake.audit(&entry).await {
        tracing::error!(error = %e, "a refused PostgreSQL statement could not be audited");
    }
    Err(fatal("28000", reason))
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

fn local_response(
    local: &Local,
    session: &Session,
    defaults: &std::collections::BTreeMap<String, String>,
) -> Response {
    match local {
        Local::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Local::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        Local::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
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
    }
}

struct Queries {
    lake: Arc<Lake>,
    queries: QueryService,
    parser: Arc<Parser>,
    /// What `SHOW` answers for a setting no client changed.
    settings: Arc<std::collections::BTreeMap<String, String>>,
}

impl Queries {
    async fn answer(
        &self,
        who: &Principal,
        session: &Session,
        request: (&str, &[Option<String>]),
        format: &Format,
    ) -> PgWireResult<Response> {
        let purpose = session.purpose();
        let (sql, params) = request;
        let request = QueryRequest {
            principal: who,
            purpose: purpose.as_deref(),
            sql,
            params,
            as_of: session.as_of(),
        };
        // A CancelRequest makes pgwire drop this future, and with it the query.
        let answer = self.queries.run(&request, std::future::pending()).await;
        let answer = match answer {
            Ok(a) => a,
            Err(QueryError::Lake(e)) => {
                tracing::error!(error = %e, "a PostgreSQL query failed in the lake");
                return Ok(Response::Error(Box::new(error_info(&QueryError::Lake(e)))));
            }
            Err(e) => return Ok(Response::Error(Box::new(error_info(&e)))),
        };
        let fields = Arc::new(fields(&answer.schema, format)?);
        let rows = rows(&fields, &answer.batches)?;
        Ok(Response::Query(QueryResponse::new(
            fields,
            futures::stream::iter(rows.into_iter().map(Ok)),
        )))
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
        let (who, session) = principal(&self.lake, client).await?;
        if let Some(local) = local_command(query) {
            return Ok(vec![local_response(&local, &session, &self.settings)]);
        }
        Ok(vec![
            self.answer(&who, &session, (query, &[]), &Format::UnifiedText)
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
}

struct Parser {
    lake: Arc<Lake>,
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
        let (who, session) = principal(&self.lake, client).await?;
        let purpose = session.purpose();
        let request = QueryRequest::new(&who, purpose.as_deref(), sql).as_of(session.as_of());
        match self
            .queries
            .describe(&request, std::future::pending())
            .await
        {
            Ok(d) => Ok(Some(Statement::Query {
                sql: sql.to_owned(),
                schema: d.schema,
                params: d.params,
            })),
            Err(e) => Err(PgWireError::UserError(Box::new(error_info(&e)))),
        }
    }

    fn get_parameter_types(&self, statement: &Statement) -> PgWireResult<Vec<Type>> {
        Ok(match statement {
            Statement::Local(_) => Vec::new(),
            Statement::Query { params, .. } => params
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
            Statement::Local(_) => Ok(Vec::new()),
            Statement::Query { schema, .. } => {
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
        let (who, session) = principal(&self.lake, client).await?;
        match &portal.statement.statement {
            Statement::Local(local) => Ok(local_response(local, &session, &self.settings)),
            Statement::Query {
                sql,
                params: described,
                ..
            } => {
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
                    // The type the client declared, else the one we described.
                    let declared = portal.statement.parameter_types.get(i).cloned().flatten();
                    let t = declared
                        .filter(|t| *t != Type::UNKNOWN)
                        .or_else(|| described.get(i).cloned().flatten().map(|d| pg_type(&d)))
                        .unwrap_or(Type::UNKNOWN);
                    let text = encode::binary_param(&t, bytes).map_err(|e| {
                        encode::user_error("22P03", format!("parameter ${}: {e}", i + 1))
                    })?;
                    params.push(Some(text));
                }
                self.answer(&who, &session, (sql, &params), &portal.result_column_format)
                    .await
            }
        }
    }
}
