//! The built site's files (`/pkg/`: the WebAssembly and its chunks, their JavaScript loaders, the
//! stylesheet) under a path that names their content, `/assets/<id>/pkg/<file>`, where `<id>` is a hash of
//! every file the build wrote. Pages link them there, so a browser may keep them for a year without asking
//! again (`immutable`): a release has another id, so its pages link other URLs.
//!
//! Why one id for the whole directory rather than a hash in each file's name: the split WebAssembly's
//! loader fetches its chunks relative to its own URL, by the names the build gave them. One prefix keeps
//! every such reference intact without rewriting the files cargo-leptos wrote, and a page can never load
//! one build's loader with another build's chunks.
//!
//! The id is computed once per process, from the files as they are when the server starts (a rebuild means
//! a restart). Only the files hashed are served under it: a file that appears later (a deploy copying a new
//! build into place under a running server) is not, or it would be cached for a year under the old id.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use leptos::prelude::LeptosOptions;
use sha2::{Digest, Sha256};

/// The path every id is under.
pub const PREFIX: &str = "/assets";

/// How long a browser may keep a file served under its id: a year, the longest caches honour.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The build's files and the id naming them.
#[derive(Debug)]
pub struct SiteFiles {
    id: String,
    /// `/assets/<id>`: what goes before `/pkg/` in the page's links (Leptos's `root`).
    root: String,
    /// The files hashed, relative to the pkg directory, `/`-separated.
    files: BTreeSet<String>,
}

impl SiteFiles {
    /// Hashes every file under `dir` (names and contents, in name order). A missing directory is a site
    /// with no files (the tests' servers, a server started before its first build).
    pub fn read(dir: &Path) -> SiteFiles {
        let mut files = BTreeSet::new();
        collect(dir, "", &mut files);
        let mut hash = Sha256::new();
        files.retain(|name| match std::fs::read(dir.join(name)) {
            Ok(bytes) => {
                // Length-prefixed, so no two different sets of files hash the same bytes.
                hash.update((name.len() as u64).to_le_bytes());
                hash.update(name.as_bytes());
                hash.update((bytes.len() as u64).to_le_bytes());
                hash.update(&bytes);
                true
            }
            Err(e) => {
                tracing::warn!(file = %name, error = %e, "a file of the built site could not be read: not served");
                false
            }
        });
        let digest = hash.finalize();
        // 64 bits: the id only has to differ between this deployment's releases.
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        SiteFiles { root: format!("{PREFIX}/{id}"), id, files }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `/assets/<id>`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// True if `file` (relative to the pkg directory) is one of the build's files and `id` is this build's.
    pub fn serves(&self, id: &str, file: &str) -> bool {
        id == self.id && self.files.contains(file)
    }
}

/// Adds the files under `dir/prefix` to `out`, as `/`-separated paths relative to the first `dir`.
fn collect(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir.join(prefix)) else { return };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect(dir, &path, out),
            Ok(t) if t.is_file() => {
                out.insert(path);
            }
            _ => {}
        }
    }
}

/// This process's build: the files under the site's pkg directory, read on first use. (Process-wide, as
/// Leptos keeps the split manifest it reads with this root: every server of a process serves one build.)
pub fn site_files(options: &LeptosOptions) -> &'static SiteFiles {
    static FILES: OnceLock<SiteFiles> = OnceLock::new();
    FILES.get_or_init(|| SiteFiles::read(&Path::new(&*options.site_root).join(&*options.site_pkg_dir)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A directory removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn site(files: &[(&str, &str)]) -> (TempDir, SiteFiles) {
        let dir = TempDir(std::env::temp_dir().join(format!("ezs-site-{}", uuid::Uuid::new_v4().simple())));
        std::fs::create_dir_all(dir.path()).unwrap();
        for (name, body) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let files = SiteFiles::read(dir.path());
        (dir, files)
    }

    #[test]
    fn the_id_names_the_content_of_every_file() {
        let (_d, a) = site(&[("ezscale.wasm", "one"), ("chunk_1.wasm", "two"), ("sub/x.js", "three")]);
        assert_eq!(a.id().len(), 16);
        assert_eq!(a.root(), format!("/assets/{}", a.id()));
        // Same files, written in another order and at another time: the same id.
        let (_d, same) = site(&[("sub/x.js", "three"), ("chunk_1.wasm", "two"), ("ezscale.wasm", "one")]);
        assert_eq!(a.id(), same.id());
        // One byte of one file, a renamed file, one more file, bytes moved from a name to another: new ids.
        for other in [
            vec![("ezscale.wasm", "one"), ("chunk_1.wasm", "twO"), ("sub/x.js", "three")],
            vec![("ezscale.wasm", "one"), ("chunk_2.wasm", "two"), ("sub/x.js", "three")],
            vec![("ezscale.wasm", "one"), ("chunk_1.wasm", "two"), ("sub/x.js", "three"), ("y", "")],
            vec![("ezscale.wasm", "onet"), ("chunk_1.wasm", "wo"), ("sub/x.js", "three")],
        ] {
            let (_d, b) = site(&other);
            assert_ne!(a.id(), b.id(), "{other:?}");
        }
    }

    #[test]
    fn only_the_builds_files_are_served_under_its_id() {
        let (dir, files) = site(&[("ezscale.wasm", "one"), ("sub/x.js", "three")]);
        assert!(files.serves(files.id(), "ezscale.wasm"));
        assert!(files.serves(files.id(), "sub/x.js"));
        assert!(!files.serves("0000000000000000", "ezscale.wasm"), "another build's id");
        assert!(!files.serves(files.id(), "missing.wasm"));
        assert!(!files.serves(files.id(), "../secret"));
        assert!(!files.serves(files.id(), "sub"), "a directory");
        // A file written after the id was computed is not served under it.
        std::fs::write(dir.path().join("late.wasm"), "late").unwrap();
        assert!(!files.serves(files.id(), "late.wasm"));
    }

    #[test]
    fn a_site_with_no_files_has_an_id_and_serves_nothing() {
        let files = SiteFiles::read(Path::new("/nonexistent/ezscale/site/pkg"));
        assert_eq!(files.id().len(), 16);
        assert!(!files.serves(files.id(), "ezscale.wasm"));
    }
}
