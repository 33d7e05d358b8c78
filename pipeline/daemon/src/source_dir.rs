//! The sources folder as a long-running server sees it. `lagoa serve`
//! reads it again whenever a `*.source.toml` in it appears, changes or
//! disappears, so its console and API list what `lagoa sources` lists
//! without a restart. A folder that no longer loads (a file half written,
//! two sources of one name) keeps the last set that did, and says why in
//! the log once per change.

use crate::DaemonError;
use crate::source_file::{SourceFile, source_paths};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// Each source file's path, modification time and size: what tells that
/// the folder changed.
type Stamp = Vec<(PathBuf, Option<SystemTime>, u64)>;

type Sources = Arc<Vec<Arc<SourceFile>>>;

/// A sources folder, read again when it changes.
#[derive(Debug)]
pub struct SourceDir {
    dir: PathBuf,
    loaded: Mutex<(Stamp, Sources)>,
}

impl SourceDir {
    /// The folder `dir` (which need not exist yet), read at once: a
    /// folder that does not load is refused here, with every problem.
    pub fn open(dir: PathBuf) -> Result<Self, DaemonError> {
        let stamp = stamp_of(&dir);
        let sources = if stamp.is_empty() {
            Vec::new()
        } else {
            SourceFile::load_dir(&dir)?
        };
        let sources = Arc::new(sources.into_iter().map(Arc::new).collect());
        Ok(SourceDir {
            dir,
            loaded: Mutex::new((stamp, sources)),
        })
    }

    /// The sources now.
    pub fn current(&self) -> Sources {
        let stamp = stamp_of(&self.dir);
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.0 != stamp {
            if stamp.is_empty() {
                loaded.1 = Arc::default();
            } else {
                match SourceFile::load_dir(&self.dir) {
                    Ok(sources) => loaded.1 = Arc::new(sources.into_iter().map(Arc::new).collect()),
                    Err(e) => tracing::warn!(
                        dir = %self.dir.display(),
                        error = %e,
                        "the sources folder changed and does not load: the sources it had stay"
                    ),
                }
            }
            loaded.0 = stamp;
        }
        Arc::clone(&loaded.1)
    }

    /// The source named `name`, now.
    pub fn named(&self, name: &str) -> Option<Arc<SourceFile>> {
        self.current().iter().find(|s| s.name == name).cloned()
    }
}

/// What tells that `dir`'s source files changed (none for no folder).
fn stamp_of(dir: &std::path::Path) -> Stamp {
    source_paths(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (path, modified, len)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, dataset: &str) -> String {
        format!(
            "name = \"{name}\"\ndataset = \"{dataset}\"\n\n[source]\ntype = \"file\"\npath = \"/srv/{name}.csv\"\n"
        )
    }

    #[test]
    fn sources_appear_change_and_disappear_without_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sources = SourceDir::open(dir.path().join("sources")).expect("no folder yet");
        assert!(sources.current().is_empty(), "no folder yet");
        std::fs::create_dir(dir.path().join("sources")).expect("mkdir");
        let file = dir.path().join("sources/obitos.source.toml");
        std::fs::write(&file, source("obitos", "obitos")).expect("write");
        assert_eq!(sources.current().len(), 1);
        assert_eq!(
            sources.named("obitos").map(|s| s.dataset.clone()),
            Some("obitos".into())
        );
        // Changed (another size, so the stamp differs even within a second).
        std::fs::write(&file, source("obitos", "mortalidade_geral")).expect("write");
        assert_eq!(
            sources.named("obitos").map(|s| s.dataset.clone()),
            Some("mortalidade_geral".into())
        );
        // A file that does not load: the last good set stays.
        let broken = dir.path().join("sources/broken.source.toml");
        std::fs::write(&broken, "name = ").expect("write");
        assert_eq!(sources.current().len(), 1);
        std::fs::remove_file(&broken).expect("rm");
        std::fs::remove_file(&file).expect("rm");
        assert!(sources.current().is_empty(), "removed");
    }
}
