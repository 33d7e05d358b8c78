//! File sources: one path, a glob, or a drop folder that municipalities
//! (or an SFTP job) write into.
//!
//! ```toml
//! [source]
//! type = "file"
//! path = "/srv/entregas/obitos/*.csv"   # a file or a glob
//! # drop_folder = "/srv/entregas/obitos" # or: every file that appears here
//! # pattern = "*.csv"                    # which files of the folder (default: all)
//! format = "csv"                         # default: from the extension
//! [source.csv]
//! encoding = "latin1"
//! ```
//!
//! A folder is never emptied or modified: the lake decides what it has
//! already taken by each file's fingerprint, so a file is taken once however
//! often the folder is listed. Files modified less than `settle_seconds` ago
//! are left for the next run (they may still be being written).
//!
//! A file can also come from elsewhere: `url = "https://…/file.csv"` or
//! `url = "s3://bucket/prefix/"` (see [`crate::remote`]).
//!
//! `.gz` files are decompressed as they stream. A `.zip` delivery holds one
//! data file (directories and `__MACOSX` skipped) of a streaming format
//! (CSV, TSV, JSON, NDJSON, DBF, DBC), read as it expands; the archive is
//! refused when its declared sizes look like a zip bomb.

use crate::formats::{Format, FormatOptions};
use crate::{Delivery, FileDelivery, SourceError};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Refuse archives that expand beyond this many times their size...
const MAX_ZIP_RATIO: u64 = 200;
/// ...once they expand beyond this.
const ZIP_RATIO_FLOOR: u64 = 64 << 20;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A file, or a glob (`/srv/entregas/*/obitos_*.csv`).
    pub path: Option<String>,
    /// A folder whose files are deliveries.
    pub drop_folder: Option<PathBuf>,
    /// A remote file (`https://`, `http://`) or every object under an S3
    /// prefix (`s3://bucket/prefix/`).
    pub url: Option<String>,
    /// Which files of the drop folder or the S3 prefix (a glob on the file
    /// name).
    pub pattern: Option<String>,
    /// Credentials for an `https://` url (as for `http_api` sources).
    pub auth: Option<crate::http::auth::AuthConfig>,
    /// Endpoint and credentials for an `s3://` url.
    pub s3: Option<crate::remote::S3SourceConfig>,
    /// A download that sends nothing for this long fails (default 120 s).
    pub read_timeout_seconds: Option<u64>,
    /// The format; default: from each file's extension.
    pub format: Option<Format>,
    /// Leave files younger than this for the next run (drop folder only;
    /// default 10 s).
    pub settle_seconds: Option<u64>,
    /// Largest total a `.zip` may expand to (default 64 GiB).
    pub max_unzipped_bytes: Option<u64>,
    #[serde(flatten)]
    pub options: FormatOptions,
}

impl FileSourceConfig {
    /// A source for one file given on the command line.
    pub fn single(path: &Path, format: Option<Format>, options: FormatOptions) -> Self {
        FileSourceConfig {
            path: Some(path.display().to_string()),
            drop_folder: None,
            url: None,
            pattern: None,
            auth: None,
            s3: None,
            read_timeout_seconds: None,
            format,
            settle_seconds: None,
            max_unzipped_bytes: None,
            options,
        }
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let set = [
            self.path.is_some(),
            self.drop_folder.is_some(),
            self.url.is_some(),
        ];
        match set.iter().filter(|s| **s).count() {
            0 => problems.push("file source: set path, drop_folder or url".into()),
            1 => {}
            _ => problems.push("file source: set one of path, drop_folder and url".into()),
        }
        if let Some(p) = &self.path
            && let Err(e) = glob::Pattern::new(p)
        {
            problems.push(format!("path {p:?} is not a valid glob: {e}"));
        }
        if let Some(p) = &self.pattern
            && let Err(e) = glob::Pattern::new(p)
        {
            problems.push(format!("pattern {p:?} is not a valid glob: {e}"));
        }
        match self.remote() {
            Some(Ok(remote)) => problems.extend(remote.problems()),
            Some(Err(problem)) => problems.push(problem),
            None => {
                if self.pattern.is_some() && self.drop_folder.is_none() {
                    problems.push("pattern applies to drop_folder or an s3:// prefix".into());
                }
                if self.auth.is_some() || self.s3.is_some() {
                    problems.push("auth and s3 apply to a url source".into());
                }
            }
        }
        if self.read_timeout_seconds == Some(0) {
            problems.push("read_timeout_seconds must be at least 1".into());
        }
        problems.extend(self.options.problems());
        problems
    }

    /// The remote part of a `url` source (None for local files).
    fn remote(&self) -> Option<Result<crate::remote::RemoteSource, String>> {
        let url = self.url.as_deref()?;
        Some(
            crate::remote::RemoteUrl::parse(url).map(|url| crate::remote::RemoteSource {
                url,
                auth: self.auth.clone(),
                s3: self.s3.clone().unwrap_or_default(),
                pattern: self.pattern.clone(),
                settle: Duration::from_secs(self.settle_seconds.unwrap_or(10)),
                read_timeout: Duration::from_secs(self.read_timeout_seconds.unwrap_or(120)),
                format: self.format,
                options: self.options.clone(),
            }),
        )
    }

    /// Lists what there is and opens the first file's first batch.
    pub async fn healthcheck(&self) -> Result<(), SourceError> {
        if let Some(remote) = self.remote() {
            return remote
                .map_err(|p| SourceError::Config(vec![p]))?
                .healthcheck()
                .await;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(folder) = &this.drop_folder {
                std::fs::read_dir(folder).map_err(|e| SourceError::Unreachable {
                    source_name: folder.display().to_string(),
                    message: format!("cannot list the drop folder: {}", e.kind()),
                })?;
            }
            let files = this.files()?;
            if let Some(first) = files.first()
                && let Some(batch) = first.batches(16)?.next()
            {
                batch?;
            }
            Ok(())
        })
        .await
        .map_err(|e| SourceError::Internal(format!("healthcheck thread failed: {e}")))?
    }

    pub async fn deliveries(&self) -> Result<Vec<Delivery>, SourceError> {
        if let Some(remote) = self.remote() {
            return remote
                .map_err(|p| SourceError::Config(vec![p]))?
                .deliveries()
                .await;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.local_deliveries())
            .await
            .map_err(|e| SourceError::Internal(format!("listing thread failed: {e}")))?
    }

    /// The local files waiting (a path, a glob or a drop folder).
    pub fn local_deliveries(&self) -> Result<Vec<Delivery>, SourceError> {
        Ok(self
            .files()?
            .into_iter()
            .map(|f| Delivery::File(Box::new(f)))
            .collect())
    }

    fn files(&self) -> Result<Vec<FileDelivery>, SourceError> {
        let paths = match (&self.path, &self.drop_folder) {
            (Some(pattern), _) => self.glob_paths(pattern)?,
            (None, Some(folder)) => self.folder_paths(folder)?,
            (None, None) => Vec::new(),
        };
        paths.into_iter().map(|p| self.delivery(p)).collect()
    }

    fn glob_paths(&self, pattern: &str) -> Result<Vec<PathBuf>, SourceError> {
        let is_glob = pattern.contains(['*', '?', '[']);
        if !is_glob {
            let path = PathBuf::from(pattern);
            if !path.is_file() {
                return Err(SourceError::input(
                    display_name(&path),
                    "no such file (or not a regular file)",
                ));
            }
            return Ok(vec![path]);
        }
        let mut paths: Vec<PathBuf> = glob::glob(pattern)
            .map_err(|e| SourceError::Config(vec![format!("path {pattern:?}: {e}")]))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        Ok(paths)
    }

    fn folder_paths(&self, folder: &Path) -> Result<Vec<PathBuf>, SourceError> {
        let pattern = name_pattern(self.pattern.as_deref())?;
        let settle = Duration::from_secs(self.settle_seconds.unwrap_or(10));
        let now = SystemTime::now();
        let entries = std::fs::read_dir(folder).map_err(|e| SourceError::Unreachable {
            source_name: folder.display().to_string(),
            message: format!("cannot list the drop folder: {}", e.kind()),
        })?;
        let mut paths = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if !meta.is_file() || name.starts_with('.') {
                continue;
            }
            if pattern.as_ref().is_some_and(|p| !p.matches(&name)) {
                continue;
            }
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if age < settle {
                tracing::debug!(file = %name, "left for the next run: still settling");
                continue;
            }
            paths.push(path);
        }
        paths.sort();
        Ok(paths)
    }

    fn delivery(&self, path: PathBuf) -> Result<FileDelivery, SourceError> {
        let name = display_name(&path);
        let format = match self.format {
            Some(f) => Ok(f),
            None if is_zip(&name) => zip_member_format(&path, &name, self.max_unzipped_bytes),
            None => Format::from_file_name(&name).ok_or_else(|| {
                SourceError::input(
                    &name,
                    "cannot tell the format from the extension; set format in the source file (--format on the command line)",
                )
            }),
        };
        let (format, refused) = match format {
            Ok(f) => (f, None),
            Err(SourceError::Input { message, .. }) => (Format::Csv, Some(message)),
            Err(other) => return Err(other),
        };
        Ok(FileDelivery {
            name,
            path,
            format,
            options: self.options.clone(),
            refused,
        })
    }
}

/// The `pattern` option compiled: a glob on file names.
pub(crate) fn name_pattern(pattern: Option<&str>) -> Result<Option<glob::Pattern>, SourceError> {
    pattern
        .map(glob::Pattern::new)
        .transpose()
        .map_err(|e| SourceError::Config(vec![format!("pattern: {e}")]))
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

pub fn is_zip(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}

fn is_member(name: &str) -> bool {
    !name.ends_with('/')
        && !name.starts_with("__MACOSX/")
        && !name.rsplit('/').next().unwrap_or("").starts_with('.')
}

/// The format of a zip's data members (they must agree), after checking
/// the archive's declared sizes.
fn zip_member_format(path: &Path, name: &str, max: Option<u64>) -> Result<Format, SourceError> {
    // Several members are one delivery, each read with its own header
    // (formats::read_file).
    let members = zip_members(path, name, max)?;
    let mut format = None;
    for member in &members {
        let f = Format::from_file_name(member).ok_or_else(|| {
            SourceError::input(
                format!("{name}:{member}"),
                "cannot tell the member's format",
            )
        })?;
        if format.is_some_and(|seen| seen != f) {
            return Err(SourceError::input(name, "the archive mixes formats"));
        }
        format = Some(f);
    }
    format.ok_or_else(|| SourceError::input(name, "the archive holds no data file"))
}

fn zip_members(path: &Path, name: &str, max: Option<u64>) -> Result<Vec<String>, SourceError> {
    let file = std::fs::File::open(path)
        .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
    let compressed = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| SourceError::input(name, format!("not a readable zip archive: {e}")))?;
    let mut members = Vec::new();
    let mut declared = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| SourceError::input(name, format!("unreadable member {i}: {e}")))?;
        let member = entry
            .name()
            .map_err(|e| {
                SourceError::input(name, format!("member {i} has an unreadable name: {e}"))
            })?
            .into_owned();
        if is_member(&member) {
            declared = declared.saturating_add(entry.size());
            members.push(member);
        }
    }
    let max = max.unwrap_or(64 << 30);
    if declared > max {
        return Err(SourceError::input(
            name,
            format!("the archive expands to {declared} bytes, over the {max}-byte limit"),
        ));
    }
    if declared > ZIP_RATIO_FLOOR && declared / compressed.max(1) > MAX_ZIP_RATIO {
        return Err(SourceError::input(
            name,
            format!(
                "the archive expands {}-fold (zip bomb?); refused",
                declared / compressed.max(1)
            ),
        ));
    }
    members.sort();
    Ok(members)
}

/// Streams the data members of a zip one after another, each checked
/// against its declared size, through a bounded pipe fed by a thread (a
/// zip member borrows its archive, a stream must not).
pub fn open_zip_stream(
    path: &Path,
    name: &str,
    max: Option<u64>,
) -> Result<Box<dyn std::io::Read + Send>, SourceError> {
    let members = zip_members(path, name, max)?;
    open_zip_members(path, name, members)
}

/// The data members of a zip, in the order they are read, after checking
/// the archive's declared sizes.
pub fn zip_member_names(
    path: &Path,
    name: &str,
    max: Option<u64>,
) -> Result<Vec<String>, SourceError> {
    zip_members(path, name, max)
}

/// Streams the given members of a zip one after another.
pub fn open_zip_members(
    path: &Path,
    name: &str,
    members: Vec<String>,
) -> Result<Box<dyn std::io::Read + Send>, SourceError> {
    let file = std::fs::File::open(path)
        .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
    let (mut tx, rx) = crate::pipe::pipe(4);
    let shown = name.to_owned();
    std::thread::Builder::new()
        .name("lagoa-unzip".into())
        .spawn(move || {
            let result = (|| -> std::io::Result<()> {
                let mut archive = zip::ZipArchive::new(file).map_err(std::io::Error::other)?;
                for member in members {
                    let mut entry = archive.by_name(&member).map_err(std::io::Error::other)?;
                    let declared = entry.size();
                    let mut total = 0u64;
                    let mut chunk = vec![0u8; 256 * 1024];
                    loop {
                        let n = std::io::Read::read(&mut entry, &mut chunk)?;
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                        if total > declared {
                            return Err(std::io::Error::other(format!(
                                "member {member} expands beyond its declared size"
                            )));
                        }
                        if std::io::Write::write_all(&mut tx, &chunk[..n]).is_err() {
                            // The reader stopped early.
                            return Ok(());
                        }
                    }
                }
                Ok(())
            })();
            if let Err(e) = result {
                tx.fail(std::io::Error::other(format!("{shown}: {e}")));
            }
        })
        .map_err(|e| SourceError::Internal(format!("cannot start the unzip thread: {e}")))?;
    Ok(Box::new(rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn config(path: Option<String>, folder: Option<PathBuf>) -> FileSourceConfig {
        FileSourceConfig {
            path,
            drop_folder: folder,
            url: None,
            pattern: None,
            auth: None,
            s3: None,
            read_timeout_seconds: None,
            format: None,
            settle_seconds: Some(0),
            max_unzipped_bytes: None,
            options: FormatOptions::default(),
        }
    }

    fn rows(delivery: &FileDelivery) -> usize {
        delivery
            .batches(100)
            .unwrap()
            .map(|b| b.unwrap().batch.num_rows())
            .sum()
    }

    #[test]
    fn a_glob_lists_files_in_order_with_their_formats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.csv"), "a\n1\n").unwrap();
        std::fs::write(dir.path().join("a.csv"), "a\n1\n2\n").unwrap();
        std::fs::write(dir.path().join("c.txt.bak"), "x").unwrap();
        let pattern = format!("{}/*.csv", dir.path().display());
        let files = config(Some(pattern), None).files().unwrap();
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["a.csv", "b.csv"]);
        assert_eq!(rows(&files[0]), 2);
    }

    #[test]
    fn a_drop_folder_leaves_settling_and_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.csv"), "a\n1\n").unwrap();
        std::fs::write(dir.path().join(".partial.csv"), "a\n1\n").unwrap();
        let mut c = config(None, Some(dir.path().to_owned()));
        assert_eq!(c.files().unwrap().len(), 1);
        c.settle_seconds = Some(3600);
        assert_eq!(c.files().unwrap().len(), 0);
    }

    #[test]
    fn gzip_and_zip_deliveries_stream() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("x.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(b"a;b\n1;2\n3;4\n").unwrap();
        enc.finish().unwrap();
        let files = config(Some(gz.display().to_string()), None)
            .files()
            .unwrap();
        assert_eq!(files[0].format, Format::Csv);
        assert_eq!(rows(&files[0]), 2);

        let zpath = dir.path().join("entrega.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zpath).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("parte1.csv", opts).unwrap();
        zip.write_all(b"a;b\n1;2\n").unwrap();
        zip.start_file("parte2.csv", opts).unwrap();
        zip.write_all(b"a;b\n3;4\n5;6\n").unwrap();
        zip.finish().unwrap();
        let files = config(Some(zpath.display().to_string()), None)
            .files()
            .unwrap();
        // Several files are one delivery, each read with its own header.
        assert_eq!(files[0].format, Format::Csv);
        assert_eq!(rows(&files[0]), 3);

        let zpath = dir.path().join("uma.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zpath).unwrap());
        zip.start_file("dados.csv", opts).unwrap();
        zip.write_all(b"a;b\n3;4\n5;6\n").unwrap();
        zip.finish().unwrap();
        let files = config(Some(zpath.display().to_string()), None)
            .files()
            .unwrap();
        assert_eq!(files[0].format, Format::Csv);
        assert_eq!(rows(&files[0]), 2);
    }

    #[test]
    fn a_zip_bomb_is_refused_before_expanding() {
        let dir = tempfile::tempdir().unwrap();
        let zpath = dir.path().join("bomba.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zpath).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("dados.csv", opts).unwrap();
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..100 {
            zip.write_all(&zeros).unwrap();
        }
        zip.finish().unwrap();
        let files = config(Some(zpath.display().to_string()), None)
            .files()
            .unwrap();
        // Listed, so that the run keeps its bytes, but refused to read.
        let err = files[0].batches(10).err().unwrap().to_string();
        assert!(err.contains("zip bomb"), "{err}");
    }

    #[test]
    fn every_problem_is_reported() {
        let mut c = config(Some("[".into()), None);
        c.pattern = Some("[".into());
        assert_eq!(c.problems().len(), 3, "{:?}", c.problems());
    }
}
