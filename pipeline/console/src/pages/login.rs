//! Signing in with a token, signing out, and choosing the language.

use crate::Console;
use crate::auth::{SESSION_COOKIE, cookie, safe_next, same_origin, session_cookie};
use crate::i18n::{LANG_COOKIE, Lang};
use crate::provider_sessions::{PROVIDER_COOKIE, provider_cookie};
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use lagoa_governance::AuthError;
use lagoa_governance::{Door, SignInError};

use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SignIn {
    token: String,
    next: Option<String>,
}

fn login_page(lang: Lang, next: &str, problem: Option<&str>, sso: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                title { (lang.t("Entrar", "Sign in")) " · Lagoa" }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                div.login {
                    h1 { "Lagoa" }
                    p.muted { (lang.t("Console de operação", "Operators' console")) }
                    @if let Some(p) = problem { p.error id="login-error" { (p) } }
                    @if sso {
                        p { a.action.primary id="sso" href={ "/login/oidc?next=" (crate::auth::encode_component(next)) } {
                            (lang.t("Entrar pelo provedor de identidade", "Sign in with the identity provider"))
                        } }
                        p.muted { (lang.t("Contas de serviço e administradores:", "Service accounts and administrators:")) }
                    }
                    form method="post" action="/login" {
                        label for="token" { (lang.t("Token de acesso", "Access token")) }
                        input id="token" type="password" name="token" autocomplete="off" required;
                        input type="hidden" name="next" value=(next);
                        button.action.primary type="submit" { (lang.t("Entrar", "Sign in")) }
                    }
                    p.muted { (lang.t("Peça um token ao administrador: ", "Ask an administrator for a token: ")) code { "lagoa token create <usuário>" } }
                    p { a href={ "/lang/en?next=/login" } { "English" } " · " a href={ "/lang/pt?next=/login" } { "Português" } }
                }
            }
        }
    }
}

pub(crate) async fn form(
    State(console): State<Console>,
    lang: Lang,
    Query(q): Query<Next>,
) -> Markup {
    login_page(
        lang,
        &safe_next(q.next.as_deref()),
        None,
        console.provider_sessions().is_some(),
    )
}

/// The sign-in page with a problem on it.
pub(crate) fn problem(lang: Lang, status: StatusCode, text: &str) -> Response {
    (status, login_page(lang, "/", Some(text), true)).into_response()
}

pub(crate) async fn submit(
    State(console): State<Console>,
    lang: Lang,
    headers: HeaderMap,
    connected: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
    }
    let next = safe_next(form.next.as_deref());
    let sso = console.provider_sessions().is_some();
    // The provider's access tokens are for programs; people sign in
    // through the provider itself (the console keeps no such token).
    if lagoa_governance::oidc::looks_like_jwt(form.token.trim()) {
        return (
            StatusCode::UNAUTHORIZED,
            login_page(
                lang,
                &next,
                Some(lang.t(
                    "Este é um token do provedor de identidade: entre pelo botão do provedor.",
                    "This is a token of the identity provider: sign in with the provider's button.",
                )),
                sso,
            ),
        )
            .into_response();
    }
    let from = connected.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            login_page(
                lang,
                &next,
                Some(lang.t(
                    "O catálogo não respondeu; tente de novo.",
                    "The catalog did not answer; try again.",
                )),
                sso,
            ),
        )
            .into_response()
    };
    match console
        .signins()
        .authenticate(Door::Console, from, Some(&form.token))
        .await
    {
        Ok(principal) => {
            if let Err(e) = console.audit(&principal, "sign_in", "console", "ok").await {
                tracing::error!(error = %e, "cannot record a sign-in in the audit trail");
                return unavailable();
            }
            tracing::info!(principal = %principal.name, "signed in to the console");
            let id = console.sessions().open(&form.token);
            (
                [(
                    SET_COOKIE,
                    session_cookie(Some(&id), console.options().secure_cookie),
                )],
                Redirect::to(&next),
            )
                .into_response()
        }
        Err(SignInError::Unavailable(e)) => {
            tracing::error!(error = %e, "cannot check a sign-in");
            unavailable()
        }
        Err(refused) => {
            tracing::info!(reason = %refused, "console sign-in refused");
            let (status, text) = match refused {
                SignInError::Throttled { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    lang.t(
                        "Muitas tentativas recusadas deste endereço; aguarde um minuto.",
                        "Too many refused sign-ins from this address; wait a minute.",
                    ),
                ),
                SignInError::Refused(AuthError::Expired { .. }) => (
                    StatusCode::UNAUTHORIZED,
                    lang.t("Este token expirou.", "This token has expired."),
                ),
                SignInError::Refused(AuthError::Revoked { .. }) => (
                    StatusCode::UNAUTHORIZED,
                    lang.t("Este token foi revogado.", "This token was revoked."),
                ),
                SignInError::Refused(AuthError::Disabled { .. }) => (
                    StatusCode::UNAUTHORIZED,
                    lang.t("Este usuário está desativado.", "This user is disabled."),
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    lang.t("Token inválido.", "Invalid token."),
                ),
            };
            (status, login_page(lang, &next, Some(text), sso)).into_response()
        }
    }
}

pub(crate) async fn logout(State(console): State<Console>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response();
    }
    if let Some(id) = cookie(&headers, &console.cookie_name(SESSION_COOKIE)) {
        console.sessions().close(&id);
    }
    let secure = console.options().secure_cookie;
    // Signed in through the provider: signed out there too, when it can.
    let mut to = "/login".to_owned();
    if let (Some(value), Some(sessions), Some(provider)) = (
        cookie(&headers, &console.cookie_name(PROVIDER_COOKIE)),
        console.provider_sessions(),
        console.provider(),
    ) && let Some(session) = sessions.check(&value, console.now().timestamp())
    {
        // On the record in the catalog: the cookie opens nothing any more,
        // in this process or another, after a restart too.
        if let Err(e) = lagoa_governance::GovernanceStore::of(&console.lake().catalog)
            .end_console_session(&session.id, session.until * 1_000_000)
            .await
        {
            tracing::error!(error = %e, "cannot record a sign-out");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the catalog did not answer: you are not signed out yet; try again\n",
            )
                .into_response();
        }
        let back = provider
            .config()
            .redirect_uri
            .trim_end_matches("/oidc/callback")
            .to_owned();
        if let Some(url) = provider.sign_out_url(&back).await {
            to = url;
        }
    }
    (
        AppendHeaders([
            (SET_COOKIE, session_cookie(None, secure)),
            (
                SET_COOKIE,
                provider_cookie(None, Default::default(), secure),
            ),
        ]),
        Redirect::to(&to),
    )
        .into_response()
}

/// Sets the language cookie and goes back to the page.
pub(crate) async fn language(
    State(console): State<Console>,
    Path(code): Path<String>,
    Query(q): Query<Next>,
) -> Response {
    let lang = Lang::from_code(&code).unwrap_or_default();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000{}",
        match lang {
            Lang::Pt => "pt",
            Lang::En => "en",
        },
        if console.options().secure_cookie {
            "; Secure"
        } else {
            ""
        }
    );
    (
        [(SET_COOKIE, cookie)],
        Redirect::to(&safe_next(q.next.as_deref())),
    )
        .into_response()
}
