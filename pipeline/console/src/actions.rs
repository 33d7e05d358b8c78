//! What operators do from the console: trigger a run now, pause and resume
//! a source's schedule. Only `operator` and `admin` principals may; the
//! buttons are not even shown to others, and the handlers check again.

use crate::Console;
use crate::auth::Viewer;
use axum::extract::{Path, State};
use axum::response::Redirect;
use lagoa_daemon::Started;

fn back(notice: &str, source: &str) -> Redirect {
    Redirect::to(&format!(
        "/sources?notice={notice}&source={}",
        crate::auth::encode_component(source)
    ))
}

/// Starts a run of the source now (under its lease, with its retries),
/// then returns to the sources page while it goes on.
pub(crate) async fn trigger(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    Path(name): Path<String>,
) -> Redirect {
    if !viewer.role.operates() {
        let _ = console
            .audit(&viewer, "source_triggered", &name, "denied")
            .await;
        return back("forbidden", &name);
    }
    let Some(source) = console.source(&name) else {
        return back("unknown", &name);
    };
    if let Err(e) = console
        .audit(&viewer, "source_triggered", &name, "ok")
        .await
    {
        tracing::error!(source = %name, error = %e, "cannot record the trigger in the audit trail");
        return back("unavailable", &name);
    }
    tracing::info!(source = %name, by = %viewer.name, "run triggered from the console");
    match console
        .0
        .triggers
        .start(source, &format!("console:{}", viewer.name))
        .await
    {
        Started::Started => back("triggered", &name),
        Started::Busy => back("busy", &name),
        Started::Unavailable => back("unavailable", &name),
    }
}

pub(crate) async fn pause(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    Path(name): Path<String>,
) -> Redirect {
    set_paused(console, viewer, name, true).await
}

pub(crate) async fn resume(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    Path(name): Path<String>,
) -> Redirect {
    set_paused(console, viewer, name, false).await
}

async fn set_paused(
    console: Console,
    viewer: lagoa_governance::Principal,
    name: String,
    paused: bool,
) -> Redirect {
    let action = if paused {
        "source_paused"
    } else {
        "source_resumed"
    };
    if !viewer.role.operates() {
        let _ = console.audit(&viewer, action, &name, "denied").await;
        return back("forbidden", &name);
    }
    if console.source(&name).is_none() {
        return back("unknown", &name);
    }
    if let Err(e) = console.audit(&viewer, action, &name, "ok").await {
        tracing::error!(source = %name, error = %e, "cannot record the change in the audit trail");
        return back("unavailable", &name);
    }
    let by = format!("console:{}", viewer.name);
    match console
        .lake()
        .catalog
        .set_paused(&name, paused, &by, console.now().timestamp_micros())
        .await
    {
        Ok(()) => {
            tracing::info!(source = %name, by = %viewer.name, paused, "source schedule changed from the console");
            back(if paused { "paused" } else { "resumed" }, &name)
        }
        Err(e) => {
            tracing::error!(source = %name, error = %e, "cannot pause or resume");
            back("unavailable", &name)
        }
    }
}
