//! Bundle archives: a bundle directory as one deterministic `.tar.gz`, and back.
//!
//! The same directory always gives the same bytes — entries sorted by path, modes 0644, owner 0,
//! times 0, a gzip header without name or time — so that a signature made on one machine
//! verifies a build made on another, and a rebuilt bundle has the digest its signature names.
//! Reading an archive is defensive: only regular files, no absolute or `..` paths, bounded sizes.

use crate::policy::bundle::{Bundle, BundleError, SourceFile};
use flate2::read::GzDecoder;
use flate2::{Compression, GzBuilder};
use std::io::{Read, Write};
use std::path::Path;

/// Largest uncompressed bundle accepted when reading an archive.
pub const MAX_UNPACKED: u64 = 64 << 20;
/// Most entries accepted when reading an archive.
pub const MAX_ENTRIES: usize = 10_000;

/// Why an archive could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot write the archive: {0}")]
    Write(std::io::Error),
    #[error("not a bundle archive: {0}")]
    Read(String),
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// The files of a bundle directory that go into its archive, sorted by path. The directory must
/// hold a valid bundle.
pub fn files_of(dir: &Path) -> Result<Vec<SourceFile>, BundleError> {
    let files = crate::policy::bundle::read_files(dir)?;
    Bundle::from_files(&dir.display().to_string(), files.clone())?;
    Ok(files)
}

/// Write `files` as a deterministic `.tar.gz`.
pub fn pack(files: &[SourceFile]) -> Result<Vec<u8>, ArchiveError> {
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let gz = GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::new(9));
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for file in sorted {
        let mut header = tar::Header::new_ustar();
        header.set_size(u64::try_from(file.text.len()).unwrap_or(u64::MAX));
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &file.path, file.text.as_bytes()).map_err(ArchiveError::Write)?;
    }
    let gz = tar.into_inner().map_err(ArchiveError::Write)?;
    let mut bytes = gz.finish().map_err(ArchiveError::Write)?;
    bytes.flush().map_err(ArchiveError::Write)?;
    Ok(bytes)
}

/// Read the files of a `.tar.gz` bundle archive.
pub fn unpack(bytes: &[u8]) -> Result<Vec<SourceFile>, ArchiveError> {
    let bad = |m: String| ArchiveError::Read(m);
    let limited = GzDecoder::new(bytes).take(MAX_UNPACKED.saturating_add(1));
    let mut archive = tar::Archive::new(limited);
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./").trim_start_matches('/').to_owned();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("{path}: only regular files may be in a bundle")));
        }
        if path.is_empty() || path.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(bad(format!("{path:?}: not a relative path inside the bundle")));
        }
        if files.len() >= MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} entries")));
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).map_err(|e| bad(format!("{path}: {e}")))?;
        total = total.saturating_add(u64::try_from(text.len()).unwrap_or(u64::MAX));
        if total > MAX_UNPACKED {
            return Err(bad(format!("larger than {MAX_UNPACKED} bytes unpacked")));
        }
        files.push(SourceFile { path, text });
    }
    Ok(files)
}

/// Load a bundle from archive bytes; `source` names it in messages.
pub fn load(source: &str, bytes: &[u8]) -> Result<Bundle, ArchiveError> {
    let files = unpack(bytes)?;
    let wanted = files.into_iter().filter(|f| crate::policy::bundle::is_bundle_file(&f.path)).collect();
    Ok(Bundle::from_files(source, wanted)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile { path: path.into(), text: text.into() }
    }

    #[test]
    fn packing_is_deterministic_and_round_trips() {
        let files =
            vec![file("b.rego", "package b\n"), file(".manifest", "{\"revision\":\"r\"}"), file("a/data.json", "{}")];
        let mut reversed = files.clone();
        reversed.reverse();
        let one = pack(&files).unwrap();
        assert_eq!(one, pack(&reversed).unwrap(), "input order must not matter");
        let mut back = unpack(&one).unwrap();
        back.sort_by(|a, b| a.path.cmp(&b.path));
        let mut expected = files;
        expected.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(back, expected);
    }

    fn archive_with(path: &str, kind: tar::EntryType) -> Vec<u8> {
        let gz = GzBuilder::new().write(Vec::new(), Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(0);
        header.set_mode(0o644);
        // write the name bytes directly: append_data would refuse `..`
        let name = header.as_old_mut();
        name.name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        tar.append(&header, std::io::empty()).unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn refuses_escapes_and_links() {
        assert!(unpack(&archive_with("../etc/passwd", tar::EntryType::Regular)).is_err());
        assert!(unpack(&archive_with("a/../../x.rego", tar::EntryType::Regular)).is_err());
        assert!(unpack(&archive_with("link.rego", tar::EntryType::Symlink)).is_err());
        assert!(unpack(b"not gzip at all").is_err());
    }
}
