//! Before anything is read: the dataset must not be shredded, the contract
//! in force must describe it (and agree with what it holds), an upsert
//! needs a key, and a delivery names one provider per dataset.

use super::{RunContext, RunRequest};
use crate::IngestError;
use crate::contract_source::{check_against_dataset, registered_contract};
use lagoa_lake::catalog::model::WriteMode;
use lagoa_lake::{AsOf, Lake};
use lagoa_schemas::Contract;

pub(super) async fn prepare(ctx: &mut RunContext<'_>) -> Result<(), IngestError> {
    let (lake, request) = (ctx.lake, ctx.request);
    let latest = lake.catalog.resolve(&AsOf::Latest).await?;
    let existing = lake.catalog.dataset(&request.dataset, latest).await?;
    if let Some(at) = existing.as_ref().and_then(|d| d.shredded_at) {
        return Err(lagoa_lake::LakeError::Shredded {
            dataset: request.dataset.to_string(),
            at: lagoa_lake::catalog::format_micros(at),
        }
        .into());
    }
    let contract = match &request.contract {
        Some(c) => Some(c.clone()),
        None => registered_contract(lake, &request.dataset, request.reference_date).await?,
    };
    if let Some(contract) = &contract {
        if contract.name() != request.dataset {
            return Err(IngestError::Usage(format!(
                "the contract describes dataset {}, not {}",
                contract.dataset.name, request.dataset
            )));
        }
        if let Some(info) = &existing {
            check_against_dataset(contract, info).map_err(IngestError::Usage)?;
        }
        if request.mode == WriteMode::Upsert {
            upsert_rule(request, contract).map_err(IngestError::Usage)?;
        }
    }
    ctx.provider = delivering_provider(lake, request, contract.as_ref()).await?;
    ctx.contract = contract;
    ctx.existing = existing;
    Ok(())
}

/// Who delivers: the institution the source (or the command) names, else
/// the contract's provider when it names an institution of the agreement;
/// with where it was named. A delivery naming another provider than the
/// dataset's is refused before anything is read.
async fn delivering_provider(
    lake: &Lake,
    request: &RunRequest,
    contract: Option<&Contract>,
) -> Result<Option<(String, String)>, IngestError> {
    let named = match (&request.provider, contract) {
        (Some(p), _) => {
            if lagoa_governance::GovernanceStore::of(&lake.catalog)
                .institution(p)
                .await?
                .is_none()
            {
                return Err(IngestError::Usage(format!(
                    "institution {p}, named as the provider of this delivery, does not exist (add it with `lagoa institution add`)"
                )));
            }
            (p.clone(), format!("source {}", request.source))
        }
        (None, Some(c)) => {
            let p = c.dataset.provider.trim();
            if p.is_empty()
                || lagoa_governance::GovernanceStore::of(&lake.catalog)
                    .institution(p)
                    .await?
                    .is_none()
            {
                return Ok(None);
            }
            (p.to_owned(), format!("contract of {}", c.dataset.name))
        }
        (None, None) => return Ok(None),
    };
    if let Some(known) = lagoa_governance::GovernanceStore::of(&lake.catalog)
        .dataset_provider(request.dataset.as_str())
        .await?
        && known != named.0
    {
        return Err(IngestError::Usage(format!(
            "dataset {} is delivered by institution {known}; this delivery names {} ({}): one provider per dataset",
            request.dataset, named.0, named.1
        )));
    }
    Ok(Some(named))
}

/// The key and delete column of an upsert into the dataset `contract`
/// describes: the contract's primary key; when it declares none, `--key`
/// or the source's key. Both given, they must agree.
pub fn upsert_rule(
    request: &RunRequest,
    contract: &Contract,
) -> Result<lagoa_lake::upsert::UpsertRule, String> {
    let declared = &contract.dataset.primary_key;
    let key = match (declared.is_empty(), request.key.is_empty()) {
        (true, true) => {
            return Err(format!(
                "an upsert into {} needs a primary key: declare primary_key in the dataset's contract, or give --key",
                request.dataset
            ));
        }
        (true, false) => request.key.clone(),
        (false, true) => declared.clone(),
        (false, false) if declared == &request.key => declared.clone(),
        (false, false) => {
            return Err(format!(
                "the contract of {} declares primary key ({}), and the upsert was given ({}): make them agree",
                request.dataset,
                declared.join(", "),
                request.key.join(", ")
            ));
        }
    };
    let known =
        |name: &str| contract.columns.is_empty() || contract.columns.iter().any(|c| c.name == name);
    for column in key.iter().chain(request.delete_column.iter()) {
        if !known(column) {
            return Err(format!(
                "an upsert into {} names column {column}, which the contract does not have",
                request.dataset
            ));
        }
    }
    Ok(lagoa_lake::upsert::UpsertRule {
        key,
        delete_column: request.delete_column.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(primary_key: &str) -> Contract {
        Contract::parse(
            &format!(
                "[dataset]\nname = \"obitos\"\nlevel = \"especial\"\n{primary_key}\n\
                 [[columns]]\nname = \"numerodo\"\ntype = \"string\"\n\
                 [[columns]]\nname = \"excluido\"\ntype = \"boolean\"\n"
            ),
            "test",
        )
        .expect("a valid contract")
    }

    fn request(key: &[&str], delete_column: Option<&str>) -> RunRequest {
        let mut request = RunRequest::new("test", "obitos".parse().expect("a name"));
        request.key = key.iter().map(|k| (*k).to_owned()).collect();
        request.delete_column = delete_column.map(str::to_owned);
        request
    }

    #[test]
    fn the_contracts_primary_key_comes_first_and_a_given_key_must_agree() {
        let declared = contract("primary_key = [\"numerodo\"]");
        let rule = upsert_rule(&request(&[], Some("excluido")), &declared).expect("a rule");
        assert_eq!(rule.key, ["numerodo"]);
        assert_eq!(rule.delete_column.as_deref(), Some("excluido"));
        assert!(upsert_rule(&request(&["numerodo"], None), &declared).is_ok());
        let disagree = upsert_rule(&request(&["excluido"], None), &declared).unwrap_err();
        assert!(disagree.contains("make them agree"), "{disagree}");
    }

    #[test]
    fn without_a_declared_key_the_given_one_is_used_and_must_exist() {
        let undeclared = contract("");
        let none = upsert_rule(&request(&[], None), &undeclared).unwrap_err();
        assert!(none.contains("needs a primary key"), "{none}");
        let rule = upsert_rule(&request(&["numerodo"], None), &undeclared).expect("a rule");
        assert_eq!(rule.key, ["numerodo"]);
        let unknown = upsert_rule(&request(&["cpf"], None), &undeclared).unwrap_err();
        assert!(unknown.contains("column cpf"), "{unknown}");
        let unknown =
            upsert_rule(&request(&["numerodo"], Some("apagado")), &undeclared).unwrap_err();
        assert!(unknown.contains("column apagado"), "{unknown}");
    }
}
