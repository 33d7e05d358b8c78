//! The names of master keys and of the per-column keys derived from them.

use zeroize::Zeroizing;

pub fn master_key_id(dataset: &str, purpose: &str, version: u32) -> String {
    format!("lagoa.{dataset}.{purpose}.v{version}")
}

/// The newest version of a dataset's keys among `ids` (by its `data` key).
pub fn latest_version<'a>(ids: impl IntoIterator<Item = &'a str>, dataset: &str) -> Option<u32> {
    ids.into_iter()
        .filter_map(parse_master_key_id)
        .filter(|(d, p, _)| *d == dataset && *p == PURPOSE_DATA)
        .map(|(_, _, v)| v)
        .max()
}

/// Splits `lagoa.<dataset>.<purpose>.v<N>`.
pub fn parse_master_key_id(id: &str) -> Option<(&str, &str, u32)> {
    let rest = id.strip_prefix("lagoa.")?;
    let (rest, version) = rest.rsplit_once(".v")?;
    let (dataset, purpose) = rest.rsplit_once('.')?;
    Some((dataset, purpose, version.parse().ok()?))
}

/// The id of the key that wraps one personal column's data keys.
pub fn column_key_id(personal_master_key_id: &str, column: &str) -> String {
    format!("{personal_master_key_id}#{column}")
}

/// Splits `<master key id>#<column>` into the master key id and the column.
pub fn split_column_scope(id: &str) -> (&str, Option<&str>) {
    match id.split_once('#') {
        Some((master, column)) => (master, Some(column)),
        None => (id, None),
    }
}

/// A column's own key-encryption key, derived from the master key:
/// HMAC-SHA256(master, "lagoa column key\0" || column). One-way, so holding
/// one column's key says nothing of the master key or of the other columns'.
pub fn column_key(master: &[u8], column: &str) -> Zeroizing<Vec<u8>> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, master);
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(b"lagoa column key\0");
    context.update(column.as_bytes());
    Zeroizing::new(context.sign().as_ref().to_vec())
}

pub const PURPOSE_DATA: &str = "data";
pub const PURPOSE_PERSONAL: &str = "pessoal";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_ids_round_trip() {
        let id = master_key_id("obitos_pe", PURPOSE_PERSONAL, 3);
        assert_eq!(id, "lagoa.obitos_pe.pessoal.v3");
        assert_eq!(parse_master_key_id(&id), Some(("obitos_pe", "pessoal", 3)));
        assert_eq!(parse_master_key_id("other"), None);
    }

    #[test]
    fn column_keys_are_scoped_and_distinct() {
        let id = column_key_id("lagoa.obitos_pe.pessoal.v1", "cpf");
        assert_eq!(
            split_column_scope(&id),
            ("lagoa.obitos_pe.pessoal.v1", Some("cpf"))
        );
        assert_eq!(
            split_column_scope("lagoa.x.data.v1"),
            ("lagoa.x.data.v1", None)
        );
        let master = [7u8; 32];
        assert_ne!(*column_key(&master, "cpf"), *column_key(&master, "cns"));
        assert_ne!(column_key(&master, "cpf").as_slice(), master.as_slice());
        assert_eq!(column_key(&master, "cpf").len(), 32);
    }
}
