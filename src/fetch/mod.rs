//! Data and weights from their sources: a spec's `data.source` and each pretrained node's
//! `weights_source` are resolved here, in one place, into local paths.
//!
//! [`resolve`] looks at each source in turn. When the local path (`data.root`, `weights`)
//! exists it is used as it is. Otherwise the download in runner's cache ([`cache`]) is used,
//! after it is fetched when the caller allows: downloaded with resume ([`http`]), checked
//! against its SHA-256 or SHA256SUMS listing ([`checksum`]), extracted atomically and safely
//! ([`archive`]). The returned spec names the paths actually used (absolute cache paths where
//! the cache is used), so the rest of runner only ever sees local files, and the run folder's
//! resolved spec records where the data came from.
//!
//! Every failure is a [`FetchError`] naming the URL, what went wrong, and where to put the
//! file by hand instead.
//!
//! Crates, and why: `ureq` (blocking HTTP/1.1 with rustls and bundled web PKI roots: no
//! OpenSSL or system certificates needed, no async runtime, small; it reports a body cut
//! short of its `Content-Length` as an error, which resuming relies on); `zip` and `tar` +
//! `flate2` (the maintained pure-Rust readers; Burn's PyTorch reader already builds the same
//! versions, so they cost no build time); `dirs` (the platform's user cache folder; also
//! already built, by plotters' font lookup); `sha2` (already used for run ids). Together
//! they add about a minute of release build on 2 cores, nearly all of it rustls and ring.

pub mod archive;
pub mod cache;
pub mod checksum;
pub mod http;

use crate::spec::diagnostic::{Diagnostic, Report};
use crate::spec::source::DataSource;
use crate::spec::{LoadedSpec, NodeSpec};
use std::path::{Path, PathBuf};

/// How far [`resolve`] may go for a source whose local path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// Use only what is on disk (the local path or a complete download in the cache); never
    /// touch the network (`runner validate`).
    Never,
    /// Download what is missing (`runner run`, `runner data`...).
    Missing,
    /// Download what is missing, and also check local copies and earlier downloads against
    /// their checksums where the spec gives one for them (`runner fetch`).
    Verify,
}

/// Where one source's files came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The local path exists and is used.
    Local,
    /// A complete earlier download in the cache is used.
    Cached,
    /// Downloaded (and verified) now.
    Downloaded,
    /// Neither on disk nor downloaded ([`Fetch::Never`]).
    Missing,
}

impl Origin {
    /// Whether the files used are in the cache (so the spec's path is replaced by theirs).
    pub fn in_cache(&self) -> bool {
        matches!(self, Origin::Cached | Origin::Downloaded)
    }
}

/// What happened to one source.
#[derive(Debug, Clone)]
pub struct Item {
    /// `data`, or `weights of node \`base\``.
    pub what: String,
    /// The source's URL.
    pub url: String,
    /// The path used (or, when missing, the path it would have in the cache).
    pub path: PathBuf,
    /// Where it came from.
    pub origin: Origin,
    /// JSON pointer of the source in the spec, for locating messages.
    pub pointer: String,
    /// What was checked, e.g. `3000 files match the listing` (empty when nothing was).
    pub checked: String,
}

/// The spec with every source resolved, and what was done for each.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The spec, with `data.root` and `weights` replaced by the (absolute) cache paths where
    /// the cache is used; local paths are left as written.
    pub spec: LoadedSpec,
    /// One item per source, data first.
    pub items: Vec<Item>,
}

/// A source that could not be fetched or did not check out.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct FetchError {
    /// What was being fetched, with its URL: `cannot fetch data from https://...`.
    pub what: String,
    /// What went wrong.
    pub problem: Box<Problem>,
    /// How to put the file in place by hand instead.
    pub by_hand: String,
    /// JSON pointer of the spec value the error is about.
    pub pointer: String,
}

impl FetchError {
    /// The error as a diagnostic located in `loaded`'s text.
    pub fn diagnostic(&self, loaded: &LoadedSpec) -> Diagnostic {
        Diagnostic::error(self.to_string(), loaded.source.value_span(&self.pointer))
            .with_label("from this source")
            .with_help(self.by_hand.clone())
    }
}

/// What went wrong with a source.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The source itself is incomplete (no checksum...).
    #[error("{0}")]
    Spec(String),
    /// The download failed.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// The archive could not be extracted.
    #[error("{0}; the download was removed")]
    Archive(#[from] archive::ArchiveError),
    /// A file's SHA-256 is not the spec's.
    #[error("{file} has SHA-256 {actual}, but the spec says {expected}{consequence}")]
    Checksum {
        /// The file checked (a path, or the URL of a download).
        file: String,
        /// The spec's checksum.
        expected: String,
        /// The file's.
        actual: String,
        /// What was done about it.
        consequence: &'static str,
    },
    /// Files do not match the SHA256SUMS listing.
    #[error("{folder}: {detail} (listing: {listing})")]
    Listing {
        /// The folder checked.
        folder: PathBuf,
        /// The listing's file or URL.
        listing: String,
        /// What differs, or why the listing cannot be read.
        detail: String,
    },
    /// The cache folder cannot be used.
    #[error("{0}")]
    Cache(String),
}

/// Resolves every source of `loaded` as `fetch` allows.
pub fn resolve(loaded: &LoadedSpec, fetch: Fetch) -> Result<Resolved, FetchError> {
    let mut spec = loaded.clone();
    let mut items = Vec::new();
    if let Some(source) = &loaded.spec.data.source {
        let item = resolve_data(loaded, source, fetch)?;
        if item.origin.in_cache() {
            spec.spec.data.root = item.path.clone();
        }
        items.push(item);
    }
    for (i, node) in loaded.spec.model.nodes.iter().enumerate() {
        if let NodeSpec::Pretrained(p) = node
            && let Some(source) = &p.weights_source
        {
            let local = p.weights.as_deref().map(|w| loaded.resolve(w));
            let item = resolve_file(
                FileJob {
                    what: format!("weights of node `{}`", p.name),
                    url: &source.url,
                    sha256: &source.sha256,
                    local: local.as_deref(),
                    pointer: format!("/model/nodes/{i}/weights_source/url"),
                    local_key: "weights",
                },
                fetch,
            )?;
            if item.origin.in_cache()
                && let NodeSpec::Pretrained(p) = &mut spec.spec.model.nodes[i]
            {
                p.weights = Some(item.path.clone());
            }
            items.push(item);
        }
    }
    Ok(Resolved { spec, items })
}

/// [`resolve`], with a failure reported against the spec (located at the source it concerns),
/// as planning reports its problems: the step before [`crate::plan::plan`].
pub fn prepare(loaded: &LoadedSpec, fetch: Fetch) -> Result<Resolved, Vec<Report>> {
    resolve(loaded, fetch).map_err(|e| vec![loaded.report(vec![e.diagnostic(loaded)])])
}

/// The absolute cache root.
fn cache_root(what: &str, url: &str, pointer: &str, by_hand: &str) -> Result<PathBuf, FetchError> {
    cache::root()
        .and_then(|r| std::path::absolute(&r).map_err(|e| format!("{}: {e}", r.display())))
        .map_err(|e| FetchError {
            what: format!("cannot fetch {what} from {url}"),
            problem: Box::new(Problem::Cache(e)),
            by_hand: by_hand.to_string(),
            pointer: pointer.to_string(),
        })
}

/// Where the data of `source` is, downloading it as `fetch` allows.
/// Long by design: the places data can come from (local folder, cache, download) are tried in
/// order, each checked as `fetch` allows.
fn resolve_data(
    loaded: &LoadedSpec,
    source: &DataSource,
    fetch: Fetch,
) -> Result<Item, FetchError> {
    let url = &source.url;
    let root = loaded.resolve(&loaded.spec.data.root);
    let inner = match &source.subdir {
        Some(s) => format!("its folder `{}`", s.display()),
        None => "its contents".into(),
    };
    let by_hand = format!(
        "or download {url} yourself, extract it, and put {inner} at {} (where `data.root` \
         points; or point elsewhere with `--set data.root=PATH`)",
        shown(&root).display()
    );
    let fail = |pointer: &str, problem: Problem| FetchError {
        what: format!("cannot fetch the data from {url}"),
        problem: Box::new(problem),
        by_hand: by_hand.clone(),
        pointer: pointer.to_string(),
    };
    source
        .check()
        .map_err(|e| fail("/data/source", Problem::Spec(e)))?;
    let item = |path: PathBuf, origin: Origin, checked: String| Item {
        what: "data".into(),
        url: url.clone(),
        path,
        origin,
        pointer: "/data/source/url".into(),
        checked,
    };
    let listing = || {
        source
            .sha256sums
            .as_ref()
            .map(|l| read_listing(loaded, l, &root))
            .transpose()
            .map_err(|p| fail("/data/source/sha256sums", p))
    };
    if root.exists() {
        let checked = if fetch == Fetch::Verify {
            check_tree(&root, &listing()?).map_err(|p| fail("/data/root", p))?
        } else {
            String::new()
        };
        return Ok(item(root, Origin::Local, checked));
    }
    let cache = cache_root("the data", url, "/data/source/url", &by_hand)?;
    let sha256 = source.sha256.as_deref();
    let target = cache::data_path(&cache, url, sha256);
    let data_dir = match &source.subdir {
        Some(s) => target.join(s),
        None => target.clone(),
    };
    if target.is_dir() {
        let checked = if fetch == Fetch::Verify {
            check_tree(&data_dir, &listing()?).map_err(|p| fail("/data/source/sha256sums", p))?
        } else {
            String::new()
        };
        return Ok(item(data_dir, Origin::Cached, checked));
    }
    if fetch == Fetch::Never {
        return Ok(item(data_dir, Origin::Missing, String::new()));
    }
    let listing = listing()?;
    let archive = download_verified(url, sha256, &cache::file_path(&cache, url, sha256), "data")
        .map_err(|p| fail("/data/source/url", p))?;
    let extracted = install(
        &archive,
        &target,
        source.subdir.as_deref(),
        (&listing, sha256.is_some()),
    );
    // The archive is not needed once extracted, and is not trusted when extraction failed.
    let _ = std::fs::remove_file(&archive);
    let checked = extracted.map_err(|p| {
        let pointer = match p {
            Problem::Listing { .. } => "/data/source/sha256sums",
            Problem::Spec(_) => "/data/source/subdir",
            _ => "/data/source/url",
        };
        fail(pointer, p)
    })?;
    tracing::info!("data from {url}: {checked}, in {}", data_dir.display());
    Ok(item(data_dir, Origin::Downloaded, checked))
}

/// A SHA256SUMS listing, when the source has one: its file or URL (for messages) and its
/// entries.
type Listing = Option<(String, Vec<checksum::Entry>)>;

/// Checks `folder` against `listing`; says what matched (nothing without a listing).
fn check_tree(folder: &Path, listing: &Listing) -> Result<String, Problem> {
    let Some((name, entries)) = listing else {
        return Ok(String::new());
    };
    let bad = checksum::verify_tree(folder, entries);
    if bad.is_empty() {
        Ok(format!("{} files match the listing", entries.len()))
    } else {
        Err(Problem::Listing {
            folder: folder.to_path_buf(),
            listing: name.clone(),
            detail: checksum::describe(&bad, entries.len()),
        })
    }
}

/// Extracts `archive` into a temporary folder next to `target`, checks that it holds
/// `subdir` and that its files match `listing`, then renames it to `target`. When the listing
/// is all that vouches for the files (the archive itself had no checksum, `archive_checked`
/// false), files it does not name are removed, not used. Says what was extracted and checked,
/// naming the removed files.
fn install(
    archive: &Path,
    target: &Path,
    subdir: Option<&Path>,
    (listing, archive_checked): (&Listing, bool),
) -> Result<String, Problem> {
    let staging = cache::Staging::new(target).map_err(|e| {
        Problem::Cache(format!(
            "cannot make a folder next to {}: {e}",
            target.display()
        ))
    })?;
    let files = archive::extract(archive, staging.path())?;
    let data = staging.path().join(subdir.unwrap_or(Path::new("")));
    if !data.is_dir() {
        return Err(Problem::Spec(format!(
            "the archive has no folder `{}`; its top level holds: {}",
            subdir.unwrap_or(Path::new("")).display(),
            top_level(staging.path())
        )));
    }
    let mut checked = check_tree(&data, listing)?;
    if let (Some((_, entries)), false) = (listing, archive_checked) {
        let unlisted = checksum::unlisted(&data, entries);
        for file in &unlisted {
            std::fs::remove_file(data.join(file)).map_err(|e| {
                Problem::Cache(format!("cannot remove {}: {e}", data.join(file).display()))
            })?;
        }
        if !unlisted.is_empty() {
            let named: Vec<String> = unlisted
                .iter()
                .take(5)
                .map(|p| p.display().to_string())
                .collect();
            let more = if unlisted.len() > 5 { ", ..." } else { "" };
            let note = format!(
                "{} file(s) the listing does not name were removed, not used ({}{more})",
                unlisted.len(),
                named.join(", ")
            );
            tracing::warn!("{note}");
            checked = format!("{checked}; {note}");
        }
    }
    staging
        .finish()
        .map_err(|e| Problem::Cache(format!("cannot rename into {}: {e}", target.display())))?;
    Ok(if checked.is_empty() {
        format!("{files} files extracted")
    } else {
        format!("{files} files extracted, {checked}")
    })
}

/// `path` made absolute with `.` and `..` folded away, for messages telling where to put a
/// file.
fn shown(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Names of the entries of `dir`, for an error message.
fn top_level(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// Reads a SHA256SUMS listing from a file (relative to the spec's folder) or a URL; returns
/// its name for messages and its entries.
fn read_listing(
    loaded: &LoadedSpec,
    listing: &str,
    root: &Path,
) -> Result<(String, Vec<checksum::Entry>), Problem> {
    let unusable = |detail: String| Problem::Listing {
        folder: root.to_path_buf(),
        listing: listing.to_string(),
        detail,
    };
    let text = if listing.starts_with("http://") || listing.starts_with("https://") {
        let cache = cache::root().map_err(Problem::Cache)?;
        let part = cache::file_path(&cache, listing, None).with_extension("part");
        let _ = std::fs::remove_file(&part);
        http::download(listing, &part, "checksums")?;
        let text = std::fs::read_to_string(&part);
        let _ = std::fs::remove_file(&part);
        text.map_err(|e| unusable(format!("the downloaded listing is not text: {e}")))?
    } else {
        let path = loaded.resolve(Path::new(listing));
        std::fs::read_to_string(&path)
            .map_err(|e| unusable(format!("cannot read {}: {e}", path.display())))?
    };
    let entries = checksum::parse_sums(&text).map_err(unusable)?;
    Ok((listing.to_string(), entries))
}

/// Downloads `url` to `dest` (through `dest.part`, resumed when present) and checks its
/// SHA-256 when given; a file that does not match is removed.
fn download_verified(
    url: &str,
    sha256: Option<&str>,
    dest: &Path,
    label: &str,
) -> Result<PathBuf, Problem> {
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    tracing::info!("downloading {url} into {}", dest.display());
    http::download(url, &part, label)?;
    if let Some(expected) = sha256 {
        let actual = checksum::sha256_file(&part)
            .map_err(|e| Problem::Cache(format!("cannot read {}: {e}", part.display())))?;
        if !actual.eq_ignore_ascii_case(expected) {
            let _ = std::fs::remove_file(&part);
            return Err(Problem::Checksum {
                file: url.to_string(),
                expected: expected.to_ascii_lowercase(),
                actual,
                consequence: "; the download was removed (if the file changed at its source \
                              on purpose, update the checksum in the spec)",
            });
        }
    }
    std::fs::rename(&part, dest)
        .map_err(|e| Problem::Cache(format!("cannot rename {}: {e}", part.display())))?;
    Ok(dest.to_path_buf())
}

/// One file to resolve.
struct FileJob<'a> {
    what: String,
    url: &'a str,
    sha256: &'a str,
    local: Option<&'a Path>,
    pointer: String,
    local_key: &'static str,
}

fn resolve_file(job: FileJob, fetch: Fetch) -> Result<Item, FetchError> {
    let FileJob {
        what,
        url,
        sha256,
        local,
        pointer,
        local_key,
    } = job;
    let by_hand = match local {
        Some(path) => format!(
            "or download {url} yourself and save it as {} (the node's `{local_key}`)",
            shown(path).display()
        ),
        None => format!(
            "or download {url} yourself, save it, and give its path as the node's `{local_key}`"
        ),
    };
    let fail = |problem: Problem| FetchError {
        what: format!("cannot fetch the {what} from {url}"),
        problem: Box::new(problem),
        by_hand: by_hand.clone(),
        pointer: pointer.clone(),
    };
    let item = |path: PathBuf, origin: Origin, checked: String| Item {
        what: what.clone(),
        url: url.to_string(),
        path,
        origin,
        pointer: pointer.clone(),
        checked,
    };
    let verify = |path: &Path, consequence: &'static str| -> Result<String, FetchError> {
        let actual = checksum::sha256_file(path).map_err(|e| {
            fail(Problem::Cache(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        })?;
        if actual.eq_ignore_ascii_case(sha256) {
            Ok("SHA-256 matches".into())
        } else {
            Err(fail(Problem::Checksum {
                file: path.display().to_string(),
                expected: sha256.to_ascii_lowercase(),
                actual,
                consequence,
            }))
        }
    };
    if let Some(path) = local.filter(|p| p.exists()) {
        let checked = if fetch == Fetch::Verify {
            verify(path, "")?
        } else {
            String::new()
        };
        return Ok(item(path.to_path_buf(), Origin::Local, checked));
    }
    let cache = cache_root(&what, url, &pointer, &by_hand)?;
    let dest = cache::file_path(&cache, url, Some(sha256));
    if dest.is_file() {
        let checked = if fetch == Fetch::Verify {
            verify(&dest, "; remove it, and `runner fetch` downloads it again")?
        } else {
            String::new()
        };
        return Ok(item(dest, Origin::Cached, checked));
    }
    if fetch == Fetch::Never {
        return Ok(item(dest, Origin::Missing, String::new()));
    }
    download_verified(url, Some(sha256), &dest, &what).map_err(fail)?;
    Ok(item(dest, Origin::Downloaded, "SHA-256 matches".into()))
}
