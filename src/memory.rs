//! How much memory new jobs can have, for `--memfree`: the kernel's
//! `MemAvailable`, or less when parx runs inside a memory cgroup (a
//! container, a Slurm job, a systemd unit) whose limit leaves less. GNU
//! parallel reads only /proc/meminfo, so inside a container its `--memfree`
//! sees the host's memory; parx looks at both.
//!
//! For each cgroup from parx's own up to the root of the hierarchy, what is
//! left is its limit less the memory charged to it, counting inactive file
//! cache (which the kernel reclaims before it would kill anything) as free.
//! Both cgroup v2 (`memory.max`, `memory.current`) and v1
//! (`memory.limit_in_bytes`, `memory.usage_in_bytes`) are read.

// Some of these serve only the command-line program (the `cli` feature).
#![cfg_attr(not(feature = "cli"), allow(dead_code))]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Memory available for new work, in bytes: the smaller of the machine's
/// and the cgroups' (`None` when neither can be read).
pub(crate) fn available() -> Option<u64> {
    let machine = meminfo("MemAvailable:");
    let cgroups = cgroup_available();
    match (machine, cgroups) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// All the machine's memory (MemTotal), in bytes.
pub(crate) fn total() -> Option<u64> {
    meminfo("MemTotal:")
}

fn meminfo(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Where parx's memory cgroup is, and which version's files it has.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cgroup {
    /// parx's own cgroup directory.
    dir: PathBuf,
    /// The hierarchy's mount point: the walk up stops there.
    top: PathBuf,
    v2: bool,
}

/// The smallest room left among parx's cgroup and its ancestors.
fn cgroup_available() -> Option<u64> {
    // parx does not move between cgroups: find its own once.
    static FOUND: OnceLock<Option<Cgroup>> = OnceLock::new();
    let cgroup = FOUND.get_or_init(find_cgroup).as_ref()?;
    let mut least: Option<u64> = None;
    let mut dir = cgroup.dir.as_path();
    loop {
        if let Some(room) = room_in(dir, cgroup.v2) {
            least = Some(least.map_or(room, |l| l.min(room)));
        }
        if dir == cgroup.top {
            break;
        }
        match dir.parent() {
            Some(parent) if parent.starts_with(&cgroup.top) => dir = parent,
            _ => break,
        }
    }
    least
}

/// What is left under one cgroup's limit, or `None` without a limit.
fn room_in(dir: &Path, v2: bool) -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let (limit, usage, inactive) = if v2 {
        ("memory.max", "memory.current", "inactive_file")
    } else {
        // total_: counted over the cgroup's descendants too.
        (
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            "total_inactive_file",
        )
    };
    // "max" (v2) or a number near 2^63 (v1) means no limit.
    let limit: u64 = read(limit)?.trim().parse().ok()?;
    if limit >= 1 << 60 {
        return None;
    }
    let usage: u64 = read(usage)?.trim().parse().ok()?;
    let reclaimable = read("memory.stat")
        .and_then(|stat| stat_field(&stat, inactive))
        .unwrap_or(0);
    Some(limit.saturating_sub(usage.saturating_sub(reclaimable)))
}

fn stat_field(stat: &str, name: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

fn find_cgroup() -> Option<Cgroup> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    locate(&own, &mounts)
}

/// Finds the memory cgroup directory from /proc/self/cgroup and
/// /proc/self/mountinfo: the v1 `memory` hierarchy if there is one (its
/// limits are the ones enforced then), else the v2 unified one.
fn locate(own: &str, mounts: &str) -> Option<Cgroup> {
    // Lines are "ID:CONTROLLERS:PATH"; v2's is "0::PATH".
    let path_of = |v2: bool| {
        own.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let wanted = if v2 {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == "memory")
            };
            wanted.then(|| path.to_string())
        })
    };
    for v2 in [false, true] {
        let Some(path) = path_of(v2) else { continue };
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPEROPTS
        for line in mounts.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mut right = right.split(' ');
            let (fstype, _, superopts) = (right.next()?, right.next()?, right.next().unwrap_or(""));
            let ours = if v2 {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && superopts.split(',').any(|o| o == "memory")
            };
            if !ours {
                continue;
            }
            let left: Vec<&str> = left.split(' ').collect();
            let (Some(root), Some(point)) = (left.get(3), left.get(4)) else {
                continue;
            };
            // A container sees its own cgroup as the mount's root.
            let inside = Path::new(&path)
                .strip_prefix(root)
                .unwrap_or(Path::new(&path));
            let top = PathBuf::from(unescape_mount(point));
            let dir = top.join(inside.strip_prefix("/").unwrap_or(inside));
            return Some(Cgroup { dir, top, v2 });
        }
    }
    None
}

/// mountinfo writes spaces and other odd bytes in paths as octal escapes.
fn unescape_mount(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            d.iter()
                .all(|b| (b'0'..=b'7').contains(b))
                .then(|| d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')))
        });
        match (bytes[i], octal) {
            (b'\\', Some(n)) if n <= 0xff => {
                out.push(n as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
33 25 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";

    #[test]
    fn finds_the_v1_memory_hierarchy_first() {
        let own = "5:cpu:/\n4:memory:/jobs/a\n0::/\n";
        assert_eq!(
            locate(own, MOUNTS),
            Some(Cgroup {
                dir: "/sys/fs/cgroup/memory/jobs/a".into(),
                top: "/sys/fs/cgroup/memory".into(),
                v2: false,
            })
        );
    }

    #[test]
    fn finds_v2_and_a_container_root() {
        let own = "0::/box/inner\n";
        let mounts = "40 1 0:30 /box /sys/fs/cgroup rw - cgroup2 cgroup2 rw";
        assert_eq!(
            locate(own, mounts),
            Some(Cgroup {
                dir: "/sys/fs/cgroup/inner".into(),
                top: "/sys/fs/cgroup".into(),
                v2: true,
            })
        );
        assert_eq!(locate("0::/x\n", "1 0 0:1 / / rw - ext4 /dev/sda rw"), None);
    }

    #[test]
    fn reads_room_under_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("memory.max", "1000\n");
        write("memory.current", "700\n");
        write(
            "memory.stat",
            "anon 500\ninactive_file 100\nactive_file 100\n",
        );
        assert_eq!(room_in(dir.path(), true), Some(400));
        write("memory.max", "max\n");
        assert_eq!(room_in(dir.path(), true), None);
        write("memory.limit_in_bytes", "9223372036854771712\n");
        assert_eq!(room_in(dir.path(), false), None);
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape_mount(r"/a\040b\\c"), r"/a b\\c");
    }
}
