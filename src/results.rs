//! `--results DIR`: each job's stdout, stderr and sequence number saved in
//! files under a directory tree named by its inputs, in GNU parallel's
//! layout: `DIR/1/<value 1>/2/<value 2>/{seq,stdout,stderr}`.
//!
//! In a value, `\` is written `\\` and `/` is written `\_`, as GNU parallel
//! does. Unlike GNU parallel, a value of `.` or `..` is written `\.` or
//! `\.\.`, so no input can place files outside DIR.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::output::Captured;

/// One directory name for a value.
pub fn component(value: &[u8]) -> OsString {
    let escaped: Vec<u8> = match value {
        b"." => b"\\.".to_vec(),
        b".." => b"\\.\\.".to_vec(),
        _ => {
            let mut out = Vec::with_capacity(value.len());
            for &b in value {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'/' => out.extend_from_slice(b"\\_"),
                    _ => out.push(b),
                }
            }
            out
        }
    };
    OsString::from_vec(escaped)
}

/// The directory of a job with these values (one per input source).
pub fn job_dir(root: &Path, values: &[Vec<u8>]) -> PathBuf {
    let mut dir = root.to_path_buf();
    for (i, value) in values.iter().enumerate() {
        dir.push((i + 1).to_string());
        // An empty value adds nothing, as in GNU parallel: its files land in
        // the source's number directory itself.
        if !value.is_empty() {
            dir.push(component(value));
        }
    }
    dir
}

/// Saves one job's output in its directory.
pub fn save(
    root: &Path,
    values: &[Vec<u8>],
    seq: u64,
    captured: &mut Captured,
) -> io::Result<PathBuf> {
    let dir = job_dir(root, values);
    std::fs::create_dir_all(&dir)?;
    File::create(dir.join("seq"))?.write_all(seq.to_string().as_bytes())?;
    captured
        .out
        .write_to(&mut File::create(dir.join("stdout"))?)?;
    captured
        .err
        .write_to(&mut File::create(dir.join("stderr"))?)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_gnu_parallel() {
        let values = [b"a".to_vec(), b"b/c".to_vec()];
        assert_eq!(
            job_dir(Path::new("res"), &values),
            Path::new("res/1/a/2/b\\_c")
        );
        assert_eq!(
            job_dir(Path::new("res"), &[b"x".to_vec(), Vec::new()]),
            Path::new("res/1/x/2")
        );
        assert_eq!(component(b"a\\b"), "a\\\\b");
    }

    #[test]
    fn no_value_leaves_the_directory() {
        for value in [&b"."[..], b"..", b"../..", b"/etc"] {
            let dir = job_dir(Path::new("res"), &[value.to_vec()]);
            assert!(
                dir.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{value:?} gives {dir:?}"
            );
        }
    }
}
