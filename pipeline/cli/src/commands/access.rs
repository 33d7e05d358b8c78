//! `lagoa institution`, `lagoa user` and `lagoa token`: who may use the
//! lake. Tokens are printed once, when issued; the catalog keeps only
//! their hashes.

use anyhow::{Result, bail};
use lagoa_core::{InstitutionRole, Role};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{AuditEntry, format_micros};

#[derive(clap::Subcommand)]
pub(super) enum InstitutionCommand {
    /// Add an institution of the agreement.
    Add {
        /// A short name (used by --institution and --provider).
        name: String,
        /// provider, consumer or coordinator.
        #[arg(long)]
        role: InstitutionRole,
        /// What the institution is, in full.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// The institutions of the agreement, with their roles.
    List,
}

#[derive(clap::Subcommand)]
pub(super) enum UserCommand {
    /// Add a person (or, with --service, a service account) to an institution.
    Add {
        /// The principal's name (a login, or a service's name).
        name: String,
        /// The institution the principal acts for.
        #[arg(long)]
        institution: String,
        /// admin, steward, operator or analyst.
        #[arg(long)]
        role: Role,
        /// A service account (a program, not a person).
        #[arg(long)]
        service: bool,
    },
    /// People and service accounts, with institution, role and state.
    List,
    /// Disable a principal: every token of it stops working at once.
    Disable {
        /// The principal's name.
        name: String,
    },
    /// Link a person of the identity provider ([oidc]) to a principal:
    /// their access tokens and console sign-ins then act as it.
    Link {
        /// The principal's name.
        name: String,
        /// The person's value of `oidc.person_claim` (a subject, or a
        /// CPF); `-` reads it from stdin (keeps a CPF out of the shell's
        /// history). Only a keyed digest of it is stored.
        #[arg(long)]
        person: String,
    },
    /// Remove a principal's links to the identity provider: its sessions
    /// and connections through the provider end at their next request.
    Unlink {
        /// The principal's name.
        name: String,
    },
    /// End every console session and PostgreSQL connection the principal
    /// opened through the identity provider (a stolen cookie, a lost
    /// laptop); they sign in again. Lagoa tokens: `lagoa token revoke`.
    Signout {
        /// The principal's name.
        name: String,
    },
}

#[derive(clap::Subcommand)]
pub(super) enum TokenCommand {
    /// Issue a token for a principal; it is printed once, to stdout.
    Create {
        /// The principal the token acts as.
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
        /// Only this principal's tokens.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Revoke a token by its id: it stops working on the next request.
    Revoke {
        /// The token's id (from `lagoa token list`).
        token_id: String,
    },
}

pub(super) async fn institution(
    lake: &Lake,
    actor_token: Option<&str>,
    command: InstitutionCommand,
) -> Result<()> {
    let actor = admin_actor(lake, actor_token).await?;
    match command {
        InstitutionCommand::Add {
            name,
            role,
            description,
        } => {
            lagoa_governance::GovernanceStore::of(&lake.catalog)
                .add_institution(&name, role, &description)
                .await?;
            audit_admin(lake, &actor, "institution_added", &name).await?;
            println!("institution {name} added ({role})");
        }
        InstitutionCommand::List => {
            println!("{:<24} {:<12} {:<20} DESCRIPTION", "NAME", "ROLE", "ADDED");
            for i in lagoa_governance::GovernanceStore::of(&lake.catalog)
                .institutions()
                .await?
            {
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

pub(super) async fn user(
    lake: &Lake,
    actor_token: Option<&str>,
    command: UserCommand,
) -> Result<()> {
    let actor = admin_actor(lake, actor_token).await?;
    match command {
        UserCommand::Add {
            name,
            institution,
            role,
            service,
        } => {
            let p = lagoa_governance::GovernanceStore::of(&lake.catalog)
                .add_principal(&name, &institution, role, service)
                .await?;
            audit_admin(
                lake,
                &actor,
                "principal_added",
                &format!("{name} ({institution}, {role})"),
            )
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
            for p in lagoa_governance::GovernanceStore::of(&lake.catalog)
                .principals()
                .await?
            {
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
            if !lagoa_governance::GovernanceStore::of(&lake.catalog)
                .disable_principal(&name)
                .await?
            {
                bail!("no active principal named {name}");
            }
            audit_admin(lake, &actor, "principal_disabled", &name).await?;
            println!("{name} disabled: its tokens no longer work");
        }
        UserCommand::Link { name, person } => {
            let Some(provider) = lagoa_governance::oidc::Provider::of_lake(lake).await? else {
                bail!("no identity provider is configured ([oidc] issuer in lagoa.toml)");
            };
            let person = if person == "-" {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim().to_owned()
            } else {
                person
            };
            if person.is_empty() {
                bail!("--person is empty");
            }
            let claim = &provider.config().person_claim;
            let digest = provider.digest(claim, &person);
            lagoa_governance::GovernanceStore::of(&lake.catalog)
                .link_identity(&name, &digest, &actor.principal)
                .await?;
            audit_admin(
                lake,
                &actor,
                "principal_linked",
                &format!("{name} (identity {})", &digest[..12]),
            )
            .await?;
            println!(
                "{name} linked to the identity provider's person with that {claim} (identity {})",
                &digest[..12]
            );
        }
        UserCommand::Signout { name } => {
            let store = lagoa_governance::GovernanceStore::of(&lake.catalog);
            if store.principal(&name).await?.is_none() {
                bail!("no principal named {name}");
            }
            store
                .sign_out_everywhere(&name, lagoa_lake::catalog::now_micros())
                .await?;
            audit_admin(lake, &actor, "principal_signed_out", &name).await?;
            println!(
                "{name}'s sessions and connections through the identity provider end at their next request"
            );
        }
        UserCommand::Unlink { name } => {
            let n = lagoa_governance::GovernanceStore::of(&lake.catalog)
                .unlink_identities(&name)
                .await?;
            if n == 0 {
                bail!("{name} is not linked to the identity provider");
            }
            audit_admin(lake, &actor, "principal_unlinked", &name).await?;
            println!("{name} unlinked from the identity provider");
        }
    }
    Ok(())
}

pub(super) async fn token(
    lake: &Lake,
    actor_token: Option<&str>,
    command: TokenCommand,
) -> Result<()> {
    let actor = admin_actor(lake, actor_token).await?;
    match command {
        TokenCommand::Create {
            principal,
            expires_days,
            label,
        } => {
            let expires_at = (expires_days > 0).then(|| {
                lagoa_lake::catalog::now_micros() + i64::from(expires_days) * 86_400_000_000
            });
            let issued = lagoa_governance::GovernanceStore::of(&lake.catalog)
                .issue_token(&principal, &label, expires_at)
                .await?;
            audit_admin(
                lake,
                &actor,
                "token_issued",
                &format!("{} for {principal}", issued.info.token_id),
            )
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
            for t in lagoa_governance::GovernanceStore::of(&lake.catalog)
                .tokens(principal.as_deref())
                .await?
            {
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
            if !lagoa_governance::GovernanceStore::of(&lake.catalog)
                .revoke_token(&token_id)
                .await?
            {
                bail!("no live token with id {token_id} (see `lagoa token list`)");
            }
            audit_admin(lake, &actor, "token_revoked", &token_id).await?;
            println!("token {token_id} revoked");
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub(super) enum AuditCommand {
    /// Check the whole chain: every edited, deleted or inserted entry is reported.
    Verify {
        /// A head printed by an earlier verify (SEQ:MAC): check it is still in the chain.
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// The newest entries.
    List {
        /// At most this many entries, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// Who runs an administrative command, for the audit trail: the person
/// of `--token` (who must be an admin), else the operating-system account
/// running the command on the lake's machine.
pub(super) async fn admin_actor(lake: &Lake, token: Option<&str>) -> Result<AuditEntry> {
    let Some(token) = token else {
        return Ok(cli_actor());
    };
    let who = lagoa_governance::command_line_principal(lake, token)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    if who.role != Role::Admin {
        bail!(
            "{} is {}, not an admin: administrative commands need an admin's token (or none, on the lake's machine)",
            who.name,
            who.role
        );
    }
    Ok(AuditEntry {
        principal: who.name,
        institution: who.institution,
        outcome: "ok".to_owned(),
        ..Default::default()
    })
}

/// The operating-system account running the command: `cli:<user>`, or
/// `cli:uid=<n>` when the environment does not name it.
pub(super) fn cli_actor() -> AuditEntry {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self")
                .ok()
                .map(|m| format!("uid={}", m.uid()))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    AuditEntry {
        principal: format!("cli:{user}"),
        institution: "-".to_owned(),
        outcome: "ok".to_owned(),
        ..Default::default()
    }
}

/// Records an administrative action by `actor`.
async fn audit_admin(lake: &Lake, actor: &AuditEntry, action: &str, subject: &str) -> Result<()> {
    lake.audit(&AuditEntry {
        action: action.to_owned(),
        subject: Some(subject.to_owned()),
        ..actor.clone()
    })
    .await?;
    Ok(())
}

pub(super) async fn audit(lake: &Lake, command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify { expect_head } => {
            let key = lake.audit_key().await?;
            let check = lake.catalog.verify_audit(&key).await?;
            let mut problems = check.problems.clone();
            if let Some(expected) = expect_head {
                let (seq, mac) = expected
                    .split_once(':')
                    .and_then(|(s, m)| Some((s.parse::<i64>().ok()?, m.to_owned())))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--expect-head {expected:?}: write SEQ:MAC as verify printed it"
                        )
                    })?;
                let found = lake.catalog.audit_records(seq - 1, 1).await?;
                match found.first() {
                    Some(r) if r.seq == seq && r.mac == mac => {}
                    Some(r) if r.seq == seq => problems.push(format!(
                        "entry {seq} is not the one anchored (its MAC changed)"
                    )),
                    _ => problems.push(format!(
                        "entry {seq} is gone: the newest entries were removed"
                    )),
                }
            }
            let (anchor_problems, anchor) = lake.check_audit_anchor(check.entries).await?;
            problems.extend(anchor_problems);
            for p in &problems {
                println!("BROKEN  {p}");
            }
            match &check.head {
                Some((seq, mac)) => println!("{} entries; head {seq}:{mac}", check.entries),
                None => println!("the audit trail is empty"),
            }
            if let Some(a) = &anchor {
                println!(
                    "anchored in the object store at entry {} ({})",
                    a.seq,
                    format_micros(a.at)
                );
            }
            if !problems.is_empty() {
                bail!(
                    "the audit trail was tampered with ({} problem(s))",
                    problems.len()
                );
            }
            println!("audit trail intact");
        }
        AuditCommand::List { limit, json } => {
            for r in lake.catalog.latest_audit(limit).await? {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    let e = &r.entry;
                    println!(
                        "{:>6}  {}  {:<20} {:<18} {:<7} {} {}",
                        r.seq,
                        format_micros(r.at),
                        e.principal,
                        e.action,
                        e.outcome,
                        e.subject.as_deref().unwrap_or(""),
                        e.reason.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}
