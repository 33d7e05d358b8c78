//! The story of a data office on a lake (`lagoa demo run`): its
//! institutions and people with their tokens, every configured source run
//! once, the datasets categorised by their providers' stewards, and a
//! research agency's request approved. The command line shows it; this
//! module does it, through the same libraries the daemon, the console and
//! the API use.

use crate::office;
use lagoa_core::{InstitutionRole, Role};
use lagoa_daemon::{FiringResult, RunObserver, SourceFile, SystemClock, Triggers};
use lagoa_governance::{GovernanceStore, NewCategorisation, NewRequest, stewardship};
use lagoa_lake::Lake;
use lagoa_lake::catalog::now_micros;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The purpose of the demo's grant.
pub const DEMO_PURPOSE: &str = "vigilância do óbito infantil";

const DAY_MICROS: i64 = 86_400_000_000;

#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    #[error(transparent)]
    Lake(#[from] lagoa_lake::LakeError),
    #[error(transparent)]
    Stewardship(#[from] stewardship::StewardshipError),
    #[error(transparent)]
    Sources(#[from] lagoa_daemon::DaemonError),
    #[error("{0}")]
    Story(String),
}

/// The office's institutions and people, added where missing.
pub async fn ensure_people(lake: &Lake) -> Result<(), StoryError> {
    let store = GovernanceStore::of(&lake.catalog);
    for (name, role, description) in office::INSTITUTIONS {
        if store.institution(name).await?.is_none() {
            let role: InstitutionRole = role
                .parse()
                .map_err(|e| StoryError::Story(format!("{e}")))?;
            store.add_institution(name, role, description).await?;
        }
    }
    for (name, institution, role) in office::PEOPLE {
        if store.principal(name).await?.is_none() {
            let role: Role = role
                .parse()
                .map_err(|e| StoryError::Story(format!("{e}")))?;
            store.add_principal(name, institution, role, false).await?;
        }
    }
    Ok(())
}

/// A 30-day token for each of the demo's people, written to `path`
/// (readable by its owner only); the (name, token) pairs.
pub async fn issue_tokens(lake: &Lake, path: &Path) -> Result<Vec<(String, String)>, StoryError> {
    let store = GovernanceStore::of(&lake.catalog);
    let mut tokens = Vec::new();
    let mut text =
        String::from("# Tokens of the demo's people (lagoa demo run). Keep this file private.\n");
    for (name, institution, role) in office::PEOPLE {
        let issued = store
            .issue_token(name, "demo", Some(now_micros() + 30 * DAY_MICROS))
            .await?;
        text.push_str(&format!(
            "{name}\t{institution}\t{role}\t{}\n",
            issued.token.as_str()
        ));
        tokens.push((name.to_string(), issued.token.as_str().to_owned()));
    }
    write_private(path, &text)
        .map_err(|e| StoryError::Story(format!("writing {}: {e}", path.display())))?;
    Ok(tokens)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Every source of `dir` run once, under its lease and retries; `observer`
/// gives each run what sees its deliveries go by.
pub async fn run_sources(
    lake: &Arc<Lake>,
    dir: &Path,
    observer: impl Fn() -> Arc<dyn RunObserver>,
) -> Result<(), StoryError> {
    let sources = SourceFile::load_dir(dir)?;
    let lease = Duration::from_secs(lake.config.daemon.lease_seconds);
    let triggers = Triggers::new(Arc::clone(lake), Arc::new(SystemClock), lease);
    let owner = format!("demo:{}", std::process::id());
    let mut failed = Vec::new();
    for source in sources {
        let name = source.name.clone();
        if !matches!(
            triggers.run(Arc::new(source), &owner, observer()).await,
            FiringResult::Succeeded { .. }
        ) {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        return Err(StoryError::Story(format!(
            "source(s) {} did not take every delivery (`lagoa runs` says why)",
            failed.join(", ")
        )));
    }
    Ok(())
}

/// Each dataset categorised by the admin for its provider (once), and the
/// research agency's request for the deaths, without personal columns in
/// clear, approved by the health secretariat's steward.
pub async fn categorise_and_grant(lake: &Lake) -> Result<(), StoryError> {
    let store = GovernanceStore::of(&lake.catalog);
    let person = async |name: &str| {
        store
            .principal(name)
            .await?
            .ok_or_else(|| StoryError::Story(format!("the demo's {name} is missing")))
    };
    let admin = person("ana").await?;
    for (dataset, provider) in office::PROVIDERS {
        if store.categorisation(dataset).await?.is_some() {
            continue;
        }
        let contract = office::CONTRACTS
            .iter()
            .find(|(d, _)| d == dataset)
            .map(|(d, text)| lagoa_schemas::Contract::parse(text, d))
            .transpose()
            .map_err(|e| StoryError::Story(e.to_string()))?
            .ok_or_else(|| StoryError::Story(format!("no contract for {dataset}")))?;
        stewardship::categorise(
            lake,
            &admin,
            dataset,
            &NewCategorisation {
                provider: Some(provider.to_string()),
                justification: Some(contract.dataset.justification.clone()),
                conditions: Some(contract.dataset.conditions.clone()),
                reason: "acordo de cooperação: primeira categorização".into(),
                ..Default::default()
            },
        )
        .await?;
    }
    let (lucia, marcos) = (person("lucia").await?, person("marcos").await?);
    let now = now_micros();
    if !store.live_grants("lucia", "agencia", now).await?.is_empty() {
        return Ok(());
    }
    let request = stewardship::file_request(
        lake,
        &lucia,
        &NewRequest {
            dataset: "sim_obitos".into(),
            columns: vec![],
            personal: false,
            for_institution: false,
            purpose: DEMO_PURPOSE.into(),
            legal_basis: "LGPD art. 11, II, b (execução de políticas públicas)".into(),
            until: Some(now + 365 * DAY_MICROS),
        },
    )
    .await?;
    stewardship::decide(
        lake,
        &marcos,
        &request.request_id,
        true,
        "finalidade compatível com o acordo; sem identificação em claro",
    )
    .await?;
    Ok(())
}
