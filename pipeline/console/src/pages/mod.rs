//! One module per page of the console.

pub(crate) mod datasets;
pub(crate) mod indicators;
pub(crate) mod login;
pub(crate) mod overview;
pub(crate) mod runs;
pub(crate) mod sources;
pub(crate) mod sso;

use crate::Console;
use crate::i18n::Lang;
use lagoa_daemon::metrics;
use lagoa_daemon::metrics::Freshness;
use maud::{Markup, html};

/// Every dataset a configured source feeds, against its agreement.
pub(crate) async fn freshness(
    console: &Console,
) -> Result<Vec<Freshness>, lagoa_daemon::DaemonError> {
    metrics::freshness(
        console.lake(),
        &console.sources(),
        console.now(),
        console.options().late_grace,
    )
    .await
}

/// A dataset's freshness as a badge: late, fresh, or never delivered.
pub(crate) fn freshness_badge(lang: Lang, f: &Freshness) -> Markup {
    let (class, text) = if f.late {
        ("late", lang.t("atrasado", "late"))
    } else if f.last_commit.is_none() {
        ("never", lang.t("sem entregas", "never delivered"))
    } else {
        ("fresh", lang.t("em dia", "on time"))
    };
    html! { span class={ "badge " (class) } { (text) } }
}
