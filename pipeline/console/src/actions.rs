//! What operators do from the console: trigger a run now, pause and resume
//! a source's schedule. Only `operator` and `admin` principals may; the
//! buttons are not even shown to others, and the handlers check again.

use crate::Console;
use crate::auth::Viewer;
use axum::extract::{Path, State};
use axum::response::Redirect;
use lagoa_daemon::{Firing, FiringResult, Quiet};
use std::sync::Arc;

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
    let Some(source) = console.source(&name).cloned() else {
        return back("unknown", &name);
    };
    let now = console.now().timestamp_micros();
    match console.lake().catalog.source_state(&name).await {
        Ok(Some(state))
            if state.lease_owner.is_some() && state.lease_until.is_some_and(|u| u > now) =>
        {
            return back("busy", &name);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(source = %name, error = %e, "cannot read the source's state");
            return back("unavailable", &name);
        }
    }
    if let Err(e) = console
        .audit(&viewer, "source_triggered", &name, "ok")
        .await
    {
        tracing::error!(source = %name, error = %e, "cannot record the trigger in the audit trail");
        return back("unavailable", &name);
    }
    tracing::info!(source = %name, by = %viewer.name, "run triggered from the console");
    let firing = Firing {
        lake: Arc::clone(&console.0.lake),
        source,
        clock: Arc::clone(&console.0.clock),
        owner: format!("console:{}", viewer.name),
        lease: console.options().lease,
        stop_retries: console.0.stop_retries.clone(),
        observer: Arc::new(Quiet),
    };
    console.0.runs.spawn(async move {
        let result = firing.run(None, "manual").await;
        match result {
            FiringResult::Succeeded { attempts } => {
                tracing::info!(source = %firing.source.name, attempts, "console run succeeded")
            }
            other => tracing::warn!(source = %firing.source.name, result = ?other, "console run did not succeed"),
        }
    });
    back("triggered", &name)
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
