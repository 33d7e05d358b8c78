//! Signing in through the state's identity provider: `/login/oidc` sends
//! the browser there (authorization code flow with PKCE, state and
//! nonce); `/login/oidc/callback` is where it comes back, with a code the
//! console exchanges for the ID token that says who signed in.

use crate::Console;
use crate::auth::{cookie, safe_next};
use crate::i18n::Lang;
use crate::provider_sessions::{SIGNIN_COOKIE, provider_cookie, signin_cookie};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use lagoa_governance::oidc::{OidcError, SignInStart};
use lagoa_governance::{Door, SignInError};
use maud::{DOCTYPE, html};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

fn not_configured() -> Response {
    (
        StatusCode::NOT_FOUND,
        "no identity provider is configured\n",
    )
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct Start {
    next: Option<String>,
}

/// `GET /login/oidc`: off to the provider.
pub(crate) async fn start(
    State(console): State<Console>,
    lang: Lang,
    Query(q): Query<Start>,
) -> Response {
    let (Some(provider), Some(sessions)) = (console.provider(), console.provider_sessions()) else {
        return not_configured();
    };
    let started = match provider.start_sign_in().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a sign-in through the identity provider");
            return super::login::problem(
                lang,
                StatusCode::BAD_GATEWAY,
                lang.t(
                    "O provedor de identidade não respondeu; tente de novo.",
                    "The identity provider did not answer; try again.",
                ),
            );
        }
    };
    let next = safe_next(q.next.as_deref());
    let Some(sealed) = sessions.seal_signin(&started, &next, console.now().timestamp()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot seal a sign-in\n").into_response();
    };
    let headers: [(HeaderName, String); 2] = [
        (
            SET_COOKIE,
            signin_cookie(Some(&sealed), console.options().secure_cookie),
        ),
        (LOCATION, started.authorize_url.clone()),
    ];
    (StatusCode::SEE_OTHER, headers).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Back {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /login/oidc/callback`: the provider's answer.
pub(crate) async fn callback(
    State(console): State<Console>,
    lang: Lang,
    headers: HeaderMap,
    connected: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Query(back): Query<Back>,
) -> Response {
    let (Some(provider), Some(sessions)) = (console.provider(), console.provider_sessions()) else {
        return not_configured();
    };
    let from = connected.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    let secure = console.options().secure_cookie;
    let again = lang.t(
        "A entrada não foi concluída; comece de novo.",
        "The sign-in did not complete; start again.",
    );
    // The state must be the one sealed in this browser's sign-in cookie,
    // not older than ten minutes.
    let pending = match (
        &back.state,
        cookie(&headers, &console.cookie_name(SIGNIN_COOKIE)),
    ) {
        (Some(state), Some(sealed)) => {
            sessions.open_signin(&sealed, state, console.now().timestamp())
        }
        _ => None,
    };
    let Some(pending) = pending else {
        tracing::info!("a provider sign-in came back without its state");
        return super::login::problem(lang, StatusCode::BAD_REQUEST, again);
    };
    let Some(code) = back.code.as_deref().filter(|_| back.error.is_none()) else {
        // The person declined, or the provider refused: nothing to record
        // but that it did not happen.
        tracing::info!(error = ?back.error.as_deref().map(|e| e.chars().take(40).collect::<String>()), "the identity provider sent no code");
        return super::login::problem(lang, StatusCode::UNAUTHORIZED, again);
    };
    let finished = provider
        .finish_sign_in(
            console.lake(),
            SignInStart {
                code,
                verifier: &pending.verifier,
                nonce: &pending.nonce,
            },
        )
        .await;
    let person = match finished {
        Ok(done) => done,
        Err(e) if e.is_unavailable() => {
            tracing::error!(error = %e, "a sign-in through the identity provider could not finish");
            return super::login::problem(
                lang,
                StatusCode::BAD_GATEWAY,
                lang.t(
                    "O provedor de identidade ou o catálogo não respondeu; tente de novo.",
                    "The identity provider or the catalog did not answer; try again.",
                ),
            );
        }
        Err(e) => return refused(&console, lang, from, e).await,
    };
    let who = &person.principal;
    if let Err(e) = console.audit(who, "sign_in", "console", "ok").await {
        tracing::error!(error = %e, "cannot record a sign-in in the audit trail");
        return super::login::problem(lang, StatusCode::SERVICE_UNAVAILABLE, again);
    }
    tracing::info!(principal = %who.name, "signed in to the console through the identity provider");
    let value = sessions.open(&who.name, &person.digest, console.now().timestamp());
    // Appended: two Set-Cookie headers, neither replacing the other.
    let cookies = AppendHeaders([
        (
            SET_COOKIE,
            provider_cookie(Some(&value), sessions.ttl(), secure),
        ),
        (SET_COOKIE, signin_cookie(None, secure)),
    ]);
    // A page that moves on by itself, not a redirect: the way here began at
    // the provider's site, and a browser sends the SameSite=Strict session
    // cookie only on a navigation that starts on this one.
    let next = pending.next;
    (
        cookies,
        html! {
            (DOCTYPE)
            html lang=(lang.code()) {
                head {
                    meta charset="utf-8";
                    meta http-equiv="refresh" content={ "0;url=" (next) };
                    title { "Lagoa" }
                }
                body { p { a href=(next) { (lang.t("Continuar", "Continue")) } } }
            }
        },
    )
        .into_response()
}

/// A sign-in the provider vouched for but the lake refuses (an unknown or
/// disabled person, a bad ID token): on the record, and said plainly.
async fn refused(console: &Console, lang: Lang, from: IpAddr, e: OidcError) -> Response {
    tracing::info!(reason = %e, "a console sign-in through the identity provider was refused");
    let text = match &e {
        OidcError::UnknownPerson(_) | OidcError::NotCreated(_) => lang.t(
            "Você entrou no provedor de identidade, mas ainda não tem acesso à Lagoa: peça a um administrador.",
            "You signed in at the identity provider, but you have no access to Lagoa yet: ask an administrator.",
        ),
        OidcError::Disabled(_) => lang.t("Este usuário está desativado.", "This user is disabled."),
        _ => lang.t(
            "O provedor de identidade não confirmou quem você é; comece de novo.",
            "The identity provider did not confirm who you are; start again.",
        ),
    };
    let status = match console
        .signins()
        .refuse::<()>(Door::Console, from, SignInError::Provider(e))
        .await
    {
        Err(SignInError::Throttled { .. }) => StatusCode::TOO_MANY_REQUESTS,
        Err(SignInError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    super::login::problem(lang, status, text)
}
