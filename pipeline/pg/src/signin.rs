//! Signing in on the PostgreSQL port: the password is an API token of the
//! user it names, or an access token of the state's identity provider for
//! that user (cleartext password authentication, over TLS beyond
//! loopback), checked by the same sign-in service as the other network
//! doors; and checked again on every statement, so a revoked token or a
//! disabled or unlinked user stops at once.

use crate::session::{Login, Session};
use async_trait::async_trait;
use futures::Sink;
use lagoa_governance::{Door, Principal, SignInError, SignIns};
use lagoa_lake::Lake;
use lagoa_lake::catalog::AuditEntry;
use pgwire::api::ClientInfo;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, AuthSource, DefaultServerParameterProvider, LoginInfo, Password,
    StartupHandler,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;

/// Checks the password as an API token of the user it names.
pub(crate) struct TokenSource {
    pub(crate) signins: Arc<SignIns>,
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

pub(crate) struct Startup {
    pub(crate) driver: AuthDriver<DefaultServerParameterProvider, Login>,
    pub(crate) factory: CleartextPasswordAuth<TokenSource>,
    /// Clients on other hosts may connect without TLS (`tls.allow_plaintext`).
    pub(crate) plaintext_from_others: bool,
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
                    .and_then(|o| crate::session::purpose_from_options(o));
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
                // Before the password is asked for: it must not cross the
                // network in clear.
                let peer = client.socket_addr();
                if !client.is_secure() && !peer.ip().is_loopback() && !self.plaintext_from_others {
                    tracing::info!(%peer, "a PostgreSQL connection without TLS was refused");
                    return Err(fatal(
                        "28000",
                        "this server takes connections from other hosts over TLS only: connect with sslmode=verify-full (or require)".into(),
                    ));
                }
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
pub(crate) async fn principal<C: ClientInfo + Sync + ?Sized>(
    lake: &Lake,
    signins: &SignIns,
    client: &C,
) -> PgWireResult<(Principal, Arc<Session>)> {
    let session = client
        .session_extensions()
        .get::<Session>()
        .ok_or_else(|| fatal("28000", "not signed in".into()))?;
    let reason = match signins
        .recheck(&session.user, &session.token, session.since_micros)
        .await
    {
        Ok(p) => return Ok((p, session)),
        Err(reason) => reason,
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

pub(crate) fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}
