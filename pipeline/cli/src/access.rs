//! `lagoa institution`, `lagoa user` and `lagoa token`: who may use the
//! lake. Tokens are printed once, when issued; the catalog keeps only
//! their hashes.

use anyhow::{Result, bail};
use lagoa_core::{InstitutionRole, Role};
use lagoa_lake::Lake;
use lagoa_lake::catalog::format_micros;

#[derive(clap::Subcommand)]
pub enum InstitutionCommand {
    /// Add an institution of the agreement.
    Add {
        name: String,
        /// provider, consumer or coordinator.
        #[arg(long)]
        role: InstitutionRole,
        #[arg(long, default_value = "")]
        description: String,
    },
    List,
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a person (or, with --service, a service account) to an institution.
    Add {
        name: String,
        #[arg(long)]
        institution: String,
        /// admin, steward, operator or analyst.
        #[arg(long)]
        role: Role,
        #[arg(long)]
        service: bool,
    },
    List,
    /// Disable a principal: every token of it stops working at once.
    Disable {
        name: String,
    },
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a principal; it is printed once, to stdout.
    Create {
        principal: String,
        /// Days until it expires (0: until revoked).
        #[arg(long, default_value_t = 90)]
        expires_days: u32,
        /// What it is for (shown in `lagoa token list`).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Tokens (ids, owners and dates, never the tokens themselves).
    List {
        #[arg(long)]
        principal: Option<String>,
    },
    /// Revoke a token by its id: it stops working on the next request.
    Revoke { token_id: String },
}

pub async fn institution(lake: &Lake, command: InstitutionCommand) -> Result<()> {
    match command {
        InstitutionCommand::Add {
            name,
            role,
            description,
        } => {
            lake.catalog
                .add_institution(&name, role, &description)
                .await?;
            println!("institution {name} added ({role})");
        }
        InstitutionCommand::List => {
            println!("{:<24} {:<12} {:<20} DESCRIPTION", "NAME", "ROLE", "ADDED");
            for i in lake.catalog.institutions().await? {
                println!(
                    "{:<24} {:<12} {:<20} {}",
                    i.name,
                    i.role,
                    format_micros(i.created_at),
                    i.description
                );
            }
        }
    }
    Ok(())
}

pub async fn user(lake: &Lake, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add {
            name,
            institution,
            role,
            service,
        } => {
            let p = lake
                .catalog
                .add_principal(&name, &institution, role, service)
                .await?;
            println!(
                "{} {name} added to {institution} as {role}; issue a token with `lagoa token create {name}`",
                p.kind
            );
        }
        UserCommand::List => {
            println!(
                "{:<24} {:<20} {:<9} {:<8} STATE",
                "NAME", "INSTITUTION", "ROLE", "KIND"
            );
            for p in lake.catalog.principals().await? {
                let state = match p.disabled_at {
                    Some(at) => format!("disabled {}", format_micros(at)),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<24} {:<20} {:<9} {:<8} {state}",
                    p.name, p.institution, p.role, p.kind
                );
            }
        }
        UserCommand::Disable { name } => {
            if !lake.catalog.disable_principal(&name).await? {
                bail!("no active principal named {name}");
            }
            println!("{name} disabled: its tokens no longer work");
        }
    }
    Ok(())
}

pub async fn token(lake: &Lake, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            principal,
            expires_days,
            label,
        } => {
            let expires_at = (expires_days > 0).then(|| {
                lagoa_lake::catalog::now_micros() + i64::from(expires_days) * 86_400_000_000
            });
            let issued = lake
                .catalog
                .issue_token(&principal, &label, expires_at)
                .await?;
            eprintln!(
                "token {} for {principal}, {}; it is shown only now:",
                issued.info.token_id,
                match expires_at {
                    Some(at) => format!("valid until {}", format_micros(at)),
                    None => "valid until revoked".to_owned(),
                }
            );
            println!("{}", issued.token.as_str());
        }
        TokenCommand::List { principal } => {
            println!(
                "{:<14} {:<24} {:<20} {:<20} {:<20} LABEL",
                "ID", "PRINCIPAL", "CREATED", "EXPIRES", "STATE"
            );
            for t in lake.catalog.tokens(principal.as_deref()).await? {
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {}", format_micros(at)),
                    None => "live".to_owned(),
                };
                println!(
                    "{:<14} {:<24} {:<20} {:<20} {:<20} {}",
                    t.token_id,
                    t.principal,
                    format_micros(t.created_at),
                    t.expires_at
                        .map(format_micros)
                        .unwrap_or_else(|| "never".to_owned()),
                    state,
                    t.label
                );
            }
        }
        TokenCommand::Revoke { token_id } => {
            if !lake.catalog.revoke_token(&token_id).await? {
                bail!("no live token with id {token_id} (see `lagoa token list`)");
            }
            println!("token {token_id} revoked");
        }
    }
    Ok(())
}
