//! "Did you mean": the nearest of the names a reader may use to one they
//! misspelt. Only names the reader may already see are offered.

use datafusion::common::utils::datafusion_strsim::levenshtein;

/// The name of `names` nearest to `wanted`, when it is close enough to be
/// a slip: at most a third of its letters changed (at least one), case
/// ignored. None when `wanted` is itself one of them.
pub fn nearest<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = wanted.to_lowercase();
    names
        .into_iter()
        .map(|name| (levenshtein(&wanted, &name.to_lowercase()), name))
        .filter(|(distance, name)| *distance <= (name.chars().count() / 3).max(1))
        .min_by_key(|(distance, name)| (*distance, *name))
        .filter(|(distance, _)| *distance > 0)
        .map(|(_, name)| name)
}

/// For a planning error that cannot find a table (`table
/// 'datafusion.public.obitoss' not found`): the name of `names` the reader
/// probably meant.
pub fn for_missing_table<'a>(
    message: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    nearest(missing_table(message)?, names)
}

/// The table a planning error says it cannot find, without catalog and
/// schema.
fn missing_table(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("table '")?;
    let (qualified, _) = rest.split_once("' not found")?;
    qualified.rsplit('.').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slip_finds_its_name_and_a_stranger_finds_none() {
        let names = ["populacao", "obitos", "nascidos_vivos"];
        assert_eq!(nearest("populaca", names), Some("populacao"));
        assert_eq!(nearest("OBTIOS", names), Some("obitos"));
        assert_eq!(nearest("nascidos_vivo", names), Some("nascidos_vivos"));
        assert_eq!(nearest("escolas", names), None);
        assert_eq!(
            nearest("obitos", names),
            None,
            "no suggestion for a name that is there"
        );
        assert_eq!(nearest("x", names), None);
    }

    #[test]
    fn the_missing_table_is_read_from_the_planner_message() {
        let message = "Error during planning: table 'datafusion.public.populaca' not found";
        assert_eq!(missing_table(message), Some("populaca"));
        assert_eq!(missing_table("table 'x' not found"), Some("x"));
        assert_eq!(missing_table("No field named habitante"), None);
        assert_eq!(
            for_missing_table(message, ["obitos", "populacao"]),
            Some("populacao")
        );
        assert_eq!(for_missing_table("No field named obito", ["obitos"]), None);
    }
}
