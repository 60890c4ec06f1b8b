//! Facts about the machine a config lands on (`ptest.sys`): CPUs, memory, load, CI system and
//! container, with the limits a container or CI runner puts on this process (its cgroup's CPU
//! quota and memory limit). Reads only what it exposes — a full sysinfo scan costs tens of
//! milliseconds — and the costly part only when a config asks for it.

use std::path::Path;

/// The machine, as `ptest.sys` shows it to Lua: what every run needs, read at once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sys {
    /// CPUs this process may use: its affinity mask, capped by its cgroup's CPU quota rounded
    /// up (the default worker count).
    pub cpus: u32,
    /// The cgroup CPU quota in CPUs (`1.5` for 150 ms per 100 ms), the tightest on the way up
    /// the hierarchy; `None` when there is none.
    pub cpu_quota: Option<f64>,
    pub ci: Option<&'static str>,
    pub os: &'static str,
    pub arch: &'static str,
}

/// The rest of `ptest.sys`, read when a config first looks at one of these fields: counting
/// physical cores reads `/proc/cpuinfo`, which on a virtual machine asks every vCPU for its
/// clock (an interrupt to each idle one), and with memory, load and the container check it was
/// a tenth of the time from ptest's start to its first suite.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resources {
    pub physical_cores: u32,
    /// The machine's memory, or the cgroup's limit when that is lower.
    pub mem_total_mb: u64,
    /// What new processes may still take: the machine's available memory, or the room left
    /// under the cgroup's limit when that is less.
    pub mem_available_mb: u64,
    /// The cgroup memory limit (`memory.max` or `memory.high`, v1's `memory.limit_in_bytes`),
    /// the tightest on the way up; `None` when there is none.
    pub mem_limit_mb: Option<u64>,
    pub load1: f64,
    pub container: bool,
}

/// What real files are read from: the machine's own `/proc` and `/sys`.
const ROOT: &str = "/";

const MB: u64 = 1_048_576;

impl Sys {
    /// Read the machine now.
    pub(crate) fn detect() -> Sys {
        let cpu_quota = cgroup::cpu_quota(Path::new(ROOT));
        Sys {
            cpus: effective_cpus(affinity(), cpu_quota),
            cpu_quota,
            ci: detect_ci(|k| std::env::var(k).ok()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }
}

/// CPUs to plan for: the affinity mask's count, capped by the quota rounded up (a quota of 1.5
/// CPUs keeps two processes busy, each throttled a little, as Go's and the JVM's runtimes
/// count it; the standard library's `available_parallelism` rounds down instead).
pub(crate) fn effective_cpus(affinity: u32, quota: Option<f64>) -> u32 {
    let affinity = affinity.max(1);
    match quota {
        Some(q) if q.is_finite() && q > 0.0 => affinity
            .min(q.ceil().min(f64::from(u32::MAX)) as u32)
            .max(1),
        _ => affinity,
    }
}

/// The CPUs this process may run on (`sched_getaffinity`: taskset, cpusets, a container's
/// `--cpuset-cpus`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn affinity() -> u32 {
    let count = rustix::thread::sched_getaffinity(None).map_or(0, |set| set.count());
    match count {
        n if n > 0 => n,
        // More CPUs than a `cpu_set_t` holds (over 1024), or an old kernel's empty mask.
        _ => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn affinity() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The machine's memory figures (bytes) with the cgroup's applied: (total, available, limit).
fn with_limit(total: u64, available: u64, cg: Option<cgroup::Memory>) -> (u64, u64, Option<u64>) {
    match cg {
        Some(m) => (
            total.min(m.limit),
            available.min(m.available),
            Some(m.limit),
        ),
        None => (total, available, None),
    }
}

/// The memory available for new processes now, in bytes, the cgroup's room included (the
/// cgroup's alone when the machine's cannot be read, 0 when neither can): the default memory
/// budget (DESIGN §12).
pub(crate) fn mem_available() -> u64 {
    let host = match sysinfo::System::new() {
        Ok(mut s) => {
            s.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
            Some(s.available_memory()).filter(|&b| b > 0)
        }
        Err(_) => None,
    };
    match with_limit(
        u64::MAX,
        host.unwrap_or(u64::MAX),
        cgroup::memory(Path::new(ROOT)),
    )
    .1
    {
        u64::MAX => 0,
        b => b,
    }
}

impl Resources {
    /// Read them now; `cpus` stands in for the physical cores when they cannot be counted, and
    /// caps them.
    pub(crate) fn detect(cpus: u32) -> Resources {
        // No more than this process may use: a quota or an affinity mask leaves it fewer.
        let physical_cores = sysinfo::System::physical_core_count()
            .map_or(cpus, |n| n as u32)
            .clamp(1, cpus.max(1));
        let (total, available) = match sysinfo::System::new() {
            Ok(mut s) => {
                s.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
                (s.total_memory(), s.available_memory())
            }
            Err(_) => (0, 0),
        };
        let cg = cgroup::memory(Path::new(ROOT));
        // Without the machine's figures, the cgroup's alone.
        let (total, available) = if total == 0 {
            (u64::MAX, u64::MAX)
        } else {
            (total, available)
        };
        let (total, available, limit) = with_limit(total, available, cg);
        let mb = |b: u64| if b == u64::MAX { 0 } else { b / MB };
        let load1 = sysinfo::System::load_average().map_or(0.0, |l| l.one);
        Resources {
            physical_cores,
            mem_total_mb: mb(total),
            mem_available_mb: mb(available),
            mem_limit_mb: limit.map(|l| l / MB),
            load1,
            container: detect_container(),
        }
    }
}

/// The limits a Linux control group puts on this process: what `docker run --cpus/--memory`, a
/// Kubernetes pod's `limits`, a CI runner's resource class or systemd's `CPUQuota=`/`MemoryMax=`
/// set. Read from files under a root (`/` on a real machine; unit tests build fake trees):
/// `/proc/self/cgroup` names the process's cgroup, `/proc/self/mountinfo` where its hierarchy
/// is mounted, and the limit files are read from that cgroup's folder up to the mount's top, the
/// tightest winning. cgroup v2 (`cpu.max`, `memory.max`, `memory.high`) and v1
/// (`cpu.cfs_quota_us`/`cpu.cfs_period_us`, `memory.limit_in_bytes`), also both at once (a
/// v1 controller wins over the unified hierarchy, as the kernel uses it). Where the files do
/// not exist (macOS, no cgroups) nothing is limited.
pub(crate) mod cgroup {
    use std::path::{Component, Path, PathBuf};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Version {
        V1,
        V2,
    }

    /// A memory limit and the room left under it, in bytes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Memory {
        /// The tightest limit.
        pub limit: u64,
        /// The least room at any limited level: its limit minus its working set (usage less
        /// the inactive page cache the kernel reclaims first, as `docker stats` counts it).
        pub available: u64,
    }

    /// v1's "no limit" is the largest page-aligned signed 64-bit number; anything this large is
    /// none.
    const UNLIMITED: u64 = 1 << 62;

    /// The CPU quota in CPUs, or `None` without one.
    pub(crate) fn cpu_quota(root: &Path) -> Option<f64> {
        let (version, dirs) = find(root, "cpu")?;
        dirs.iter()
            .filter_map(|d| match version {
                Version::V2 => {
                    let text = read(&d.join("cpu.max"))?;
                    let mut f = text.split_whitespace();
                    let (max, period) = (f.next()?, f.next()?);
                    ratio(max.parse().ok()?, period.parse().ok()?)
                }
                Version::V1 => {
                    // -1: no quota.
                    let max: i64 = read(&d.join("cpu.cfs_quota_us"))?.trim().parse().ok()?;
                    let period = read(&d.join("cpu.cfs_period_us"))?.trim().parse().ok()?;
                    ratio(u64::try_from(max).ok()?, period)
                }
            })
            .reduce(f64::min)
    }

    fn ratio(max: u64, period: u64) -> Option<f64> {
        (max > 0 && period > 0).then(|| max as f64 / period as f64)
    }

    /// The memory limit and the room under it, or `None` without a limit.
    pub(crate) fn memory(root: &Path) -> Option<Memory> {
        let (version, dirs) = find(root, "memory")?;
        dirs.iter()
            .filter_map(|d| {
                let (limit, usage, inactive) = match version {
                    Version::V2 => {
                        let high = bytes(&d.join("memory.high"));
                        let max = bytes(&d.join("memory.max"));
                        let limit = match (high, max) {
                            (Some(a), Some(b)) => a.min(b),
                            (a, b) => a.or(b)?,
                        };
                        (
                            limit,
                            bytes(&d.join("memory.current")),
                            stat(d, &["inactive_file"]),
                        )
                    }
                    Version::V1 => (
                        bytes(&d.join("memory.limit_in_bytes"))?,
                        bytes(&d.join("memory.usage_in_bytes")),
                        stat(d, &["total_inactive_file", "inactive_file"]),
                    ),
                };
                let working = usage.unwrap_or(0).saturating_sub(inactive.unwrap_or(0));
                Some(Memory {
                    limit,
                    available: limit.saturating_sub(working),
                })
            })
            .reduce(|a, b| Memory {
                limit: a.limit.min(b.limit),
                available: a.available.min(b.available),
            })
    }

    /// A size file: a number of bytes, or `max` (v2) or a huge number (v1) for none.
    fn bytes(path: &Path) -> Option<u64> {
        let n: u64 = read(path)?.trim().parse().ok()?;
        (n < UNLIMITED).then_some(n)
    }

    /// The first of `keys` in the folder's `memory.stat`.
    fn stat(dir: &Path, keys: &[&str]) -> Option<u64> {
        let text = read(&dir.join("memory.stat"))?;
        keys.iter().find_map(|k| {
            text.lines().find_map(|l| {
                let (name, value) = l.split_once(' ')?;
                (name == *k).then(|| value.trim().parse().ok()).flatten()
            })
        })
    }

    fn read(path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    /// The folders whose limits apply to this process for `controller`, its own cgroup's first
    /// and the mount's top last, with the hierarchy's version.
    fn find(root: &Path, controller: &str) -> Option<(Version, Vec<PathBuf>)> {
        let cgroups = read(&root.join("proc/self/cgroup"))?;
        // `ID:CONTROLLERS:PATH`; v2's line is `0::PATH`.
        let mut v1 = None;
        let mut v2 = None;
        for line in cgroups.lines() {
            let mut f = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if id == "0" && controllers.is_empty() {
                v2 = Some(path);
            } else if controllers.split(',').any(|c| c == controller) {
                v1 = Some((controllers, path));
            }
        }
        // The usual mount points first (cgroups(7), file-hierarchy(7)): the kernel makes
        // mountinfo afresh on each read, and that took longer than the rest together.
        let usual = root.join("sys/fs/cgroup");
        let found = v1.and_then(|(controllers, path)| {
            [controllers, controller]
                .iter()
                .find_map(|name| at_usual(&usual.join(name), path))
                .or_else(|| mounted(root, Version::V1, controller, path))
                .map(|dirs| (Version::V1, dirs))
        });
        found.or_else(|| {
            let path = v2?;
            usual
                .join("cgroup.controllers")
                .exists()
                .then(|| at_usual(&usual, path))
                .flatten()
                .or_else(|| mounted(root, Version::V2, controller, path))
                .map(|dirs| (Version::V2, dirs))
        })
    }

    /// The folders from `top` down to `path` when `top` is its hierarchy's mount (the cgroup's
    /// folder is there).
    fn at_usual(top: &Path, path: &str) -> Option<Vec<PathBuf>> {
        let rel = inside(Path::new(path), Path::new("/"))?;
        top.join(rel).is_dir().then(|| chain(top, Some(rel)))
    }

    /// The folders for `path` in the hierarchy's mount that `/proc/self/mountinfo` names.
    fn mounted(
        root: &Path,
        version: Version,
        controller: &str,
        path: &str,
    ) -> Option<Vec<PathBuf>> {
        let mounts = read(&root.join("proc/self/mountinfo"))?;
        let mounts: Vec<Mount> = mounts
            .lines()
            .filter_map(Mount::parse)
            .filter(|m| match version {
                Version::V1 => {
                    m.fs_type == "cgroup" && m.super_options.split(',').any(|o| o == controller)
                }
                Version::V2 => m.fs_type == "cgroup2",
            })
            .collect();
        // A bind mount of a sub-folder (a container's own cgroup) shows only the cgroups under
        // it: the mount whose root holds the path, else the first.
        let mount = mounts
            .iter()
            .find(|m| Path::new(path).starts_with(&m.root))
            .or(mounts.first())?;
        let top = root.join(mount.point.trim_start_matches('/'));
        Some(chain(&top, inside(Path::new(path), &mount.root)))
    }

    /// `path` relative to the mount's `root`; `None` outside it (a path from another cgroup
    /// namespace, `/../..`), where only the mount's top is known to apply.
    fn inside<'a>(path: &'a Path, root: &Path) -> Option<&'a Path> {
        path.strip_prefix(root)
            .ok()
            .filter(|r| r.components().all(|c| matches!(c, Component::Normal(_))))
    }

    /// `top/rel`, then each parent up to `top`.
    fn chain(top: &Path, rel: Option<&Path>) -> Vec<PathBuf> {
        let mut dirs = vec![top.to_path_buf()];
        for c in rel.into_iter().flat_map(Path::components) {
            let next = dirs.last().expect("top is there").join(c);
            dirs.push(next);
        }
        dirs.reverse();
        dirs
    }

    /// One line of `/proc/self/mountinfo`: `36 35 98:0 ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE
    /// SUPER_OPTIONS`, with spaces and such in paths written as octal escapes (`\040`).
    struct Mount {
        root: PathBuf,
        point: String,
        fs_type: String,
        super_options: String,
    }

    impl Mount {
        fn parse(line: &str) -> Option<Mount> {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().skip(6).position(|f| *f == "-")? + 6;
            Some(Mount {
                root: PathBuf::from(unescape(fields.get(3)?)),
                point: unescape(fields.get(4)?),
                fs_type: (*fields.get(dash + 1)?).to_owned(),
                super_options: (*fields.get(dash + 3)?).to_owned(),
            })
        }
    }

    /// The kernel writes a space, tab, newline and backslash in a path as `\040`, `\011`,
    /// `\012`, `\134`.
    fn unescape(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let octal = b
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
            match octal {
                Some(d) if b[i] == b'\\' && d[0] <= b'3' => {
                    out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                    i += 4;
                }
                _ => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Which CI system we run under, from its documented environment variables.
pub(crate) fn detect_ci(var: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
    let set = |k: &str| var(k).is_some_and(|v| !v.is_empty());
    let truthy = |k: &str| var(k).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    if truthy("GITHUB_ACTIONS") {
        Some("github")
    } else if set("GITLAB_CI") {
        Some("gitlab")
    } else if set("CIRCLECI") {
        Some("circleci")
    } else if set("BUILDKITE") {
        Some("buildkite")
    } else if set("JENKINS_URL") {
        Some("jenkins")
    } else if set("TF_BUILD") {
        Some("azure")
    } else if var("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0") {
        // As the terminal decides it is on CI: Woodpecker sets `CI=woodpecker`.
        Some("generic")
    } else {
        None
    }
}

fn detect_container() -> bool {
    if Path::new("/.dockerenv").exists()
        || Path::new("/run/.containerenv").exists()
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
    {
        return true;
    }
    std::fs::read_to_string("/proc/1/cgroup").is_ok_and(|c| {
        ["docker", "kubepods", "containerd", "libpod", "lxc"]
            .iter()
            .any(|k| c.contains(k))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| pairs.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn ci_detection() {
        assert_eq!(detect_ci(env(&[])), None);
        assert_eq!(detect_ci(env(&[("CI", "true")])), Some("generic"));
        assert_eq!(detect_ci(env(&[("CI", "false")])), None);
        assert_eq!(
            detect_ci(env(&[("CI", "true"), ("GITHUB_ACTIONS", "true")])),
            Some("github")
        );
        assert_eq!(detect_ci(env(&[("GITLAB_CI", "true")])), Some("gitlab"));
        assert_eq!(
            detect_ci(env(&[("JENKINS_URL", "http://j")])),
            Some("jenkins")
        );
        assert_eq!(detect_ci(env(&[("TF_BUILD", "True")])), Some("azure"));
        assert_eq!(detect_ci(env(&[("CIRCLECI", "true")])), Some("circleci"));
        assert_eq!(detect_ci(env(&[("BUILDKITE", "true")])), Some("buildkite"));
        assert_eq!(detect_ci(env(&[("CI", "woodpecker")])), Some("generic"));
        assert_eq!(detect_ci(env(&[("CI", "1")])), Some("generic"));
        assert_eq!(detect_ci(env(&[("CI", "0")])), None);
        assert_eq!(detect_ci(env(&[("CI", "")])), None);
        // GitHub's variable must say true; an empty vendor variable is not that vendor.
        assert_eq!(detect_ci(env(&[("GITHUB_ACTIONS", "false")])), None);
        assert_eq!(
            detect_ci(env(&[("GITLAB_CI", ""), ("CI", "true")])),
            Some("generic")
        );
    }

    /// A fake machine: `/proc/self/cgroup`, `/proc/self/mountinfo` and cgroup files under a
    /// temp folder, as [`cgroup`] reads them.
    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new(cgroup: &str, mountinfo: &str) -> Tree {
            let t = Tree(tempfile::tempdir().unwrap());
            t.file("proc/self/cgroup", cgroup)
                .file("proc/self/mountinfo", mountinfo);
            t
        }

        fn file(&self, rel: &str, text: &str) -> &Tree {
            let p = self.0.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
            self
        }

        fn quota(&self) -> Option<f64> {
            cgroup::cpu_quota(self.0.path())
        }

        fn memory(&self) -> Option<(u64, u64)> {
            cgroup::memory(self.0.path()).map(|m| (m.limit, m.available))
        }
    }

    const V2_MOUNT: &str = "22 1 0:5 / /proc rw - proc proc rw\n\
        30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
    const MIB: u64 = 1 << 20;

    #[test]
    fn cgroup_v2_in_a_container_with_its_own_namespace() {
        // docker run --cpus 1.5 --memory 2g: the container's cgroup is the mount's top.
        let t = Tree::new("0::/\n", V2_MOUNT);
        t.file("sys/fs/cgroup/cpu.max", "150000 100000\n")
            .file("sys/fs/cgroup/memory.max", "2147483648\n")
            .file("sys/fs/cgroup/memory.high", "max\n")
            .file("sys/fs/cgroup/memory.current", &format!("{}\n", 1024 * MIB))
            .file(
                "sys/fs/cgroup/memory.stat",
                &format!(
                    "anon 1000\nfile 5000\ninactive_anon 7\ninactive_file {}\n",
                    256 * MIB
                ),
            );
        assert_eq!(t.quota(), Some(1.5));
        // The limit less the working set (usage without the inactive page cache).
        assert_eq!(t.memory(), Some((2048 * MIB, (2048 - 1024 + 256) * MIB)));
    }

    #[test]
    fn cgroup_v2_nested_takes_the_tightest_level_on_the_way_up() {
        let t = Tree::new("0::/user.slice/user-1000.slice/session-3.scope\n", V2_MOUNT);
        let d = "sys/fs/cgroup/user.slice";
        t.file(&format!("{d}/cpu.max"), "200000 100000\n")
            .file(&format!("{d}/memory.max"), &format!("{}\n", 4096 * MIB))
            .file(&format!("{d}/memory.current"), &format!("{}\n", 3584 * MIB))
            .file(&format!("{d}/user-1000.slice/cpu.max"), "max 100000\n")
            .file(
                &format!("{d}/user-1000.slice/memory.high"),
                &format!("{}\n", 1024 * MIB),
            )
            .file(&format!("{d}/user-1000.slice/memory.max"), "max\n")
            .file(
                &format!("{d}/user-1000.slice/memory.current"),
                &format!("{}\n", 100 * MIB),
            )
            .file(
                &format!("{d}/user-1000.slice/session-3.scope/cpu.max"),
                "300000 100000\n",
            )
            .file(
                &format!("{d}/user-1000.slice/session-3.scope/memory.max"),
                "max\n",
            )
            // A limit above the mount is not ours: the machine's root has no cpu.max anyway.
            .file("sys/cpu.max", "10000 100000\n");
        assert_eq!(t.quota(), Some(2.0));
        // The tightest limit is memory.high one level up; the least room is at the top, where
        // other sessions use 3.5 GiB of 4.
        assert_eq!(t.memory(), Some((1024 * MIB, 512 * MIB)));
    }

    #[test]
    fn cgroup_v2_max_everywhere_is_no_limit() {
        let t = Tree::new("0::/a\n", V2_MOUNT);
        t.file("sys/fs/cgroup/a/cpu.max", "max 100000\n")
            .file("sys/fs/cgroup/a/memory.max", "max\n")
            .file("sys/fs/cgroup/a/memory.high", "max\n")
            .file("sys/fs/cgroup/a/memory.current", "12345\n");
        assert_eq!((t.quota(), t.memory()), (None, None));
        // Nonsense in a file is no limit either, never a crash.
        t.file("sys/fs/cgroup/a/cpu.max", "lots\n")
            .file("sys/fs/cgroup/a/memory.max", "-5\n");
        assert_eq!((t.quota(), t.memory()), (None, None));
        t.file("sys/fs/cgroup/a/cpu.max", "100000 0\n");
        assert_eq!(t.quota(), None);
    }

    #[test]
    fn cgroup_v1_bind_mounted_into_a_container() {
        // Docker on cgroup v1 without a cgroup namespace: /proc/self/cgroup names the host's
        // path, and the container's own cgroup is bind-mounted at each controller's folder.
        let t = Tree::new(
            "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n",
            "40 31 0:33 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:9 - cgroup cgroup rw,cpu,cpuacct\n\
             41 31 0:34 /docker/abc /sys/fs/cgroup/memory ro,nosuid master:10 - cgroup cgroup rw,memory\n\
             42 31 0:35 /docker/abc /sys/fs/cgroup/systemd ro master:11 - cgroup cgroup rw,xattr,name=systemd\n",
        );
        t.file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n")
            .file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
            .file(
                "sys/fs/cgroup/memory/memory.limit_in_bytes",
                &format!("{}\n", 512 * MIB),
            )
            .file(
                "sys/fs/cgroup/memory/memory.usage_in_bytes",
                &format!("{}\n", 100 * MIB),
            )
            .file(
                "sys/fs/cgroup/memory/memory.stat",
                &format!(
                    "inactive_file 1\nhierarchical_memory_limit 1\ntotal_inactive_file {}\n",
                    20 * MIB
                ),
            );
        assert_eq!(t.quota(), Some(0.5));
        assert_eq!(t.memory(), Some((512 * MIB, (512 - 80) * MIB)));
    }

    #[test]
    fn cgroup_v1_unlimited_nested_and_hybrid() {
        // This machine's shape: v1 controllers, a per-job memory cgroup, the unified hierarchy
        // beside them with no controllers.
        let t = Tree::new(
            "4:memory:/jobs/7\n1:cpu:/\n0::/\n",
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
        );
        t.file("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n")
            .file("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
            .file(
                "sys/fs/cgroup/memory/memory.limit_in_bytes",
                "9223372036854771712\n",
            )
            .file(
                "sys/fs/cgroup/memory/jobs/7/memory.limit_in_bytes",
                "9223372036854771712\n",
            )
            .file(
                "sys/fs/cgroup/memory/jobs/7/memory.usage_in_bytes",
                "3915776\n",
            )
            // The unified hierarchy's files are not the ones in force for v1 controllers.
            .file("sys/fs/cgroup/unified/cpu.max", "100000 100000\n");
        assert_eq!((t.quota(), t.memory()), (None, None));
        // A limit on the parent of the job's cgroup applies to it.
        t.file(
            "sys/fs/cgroup/memory/jobs/memory.limit_in_bytes",
            &format!("{}\n", 300 * MIB),
        )
        .file(
            "sys/fs/cgroup/memory/jobs/memory.usage_in_bytes",
            &format!("{}\n", 200 * MIB),
        );
        assert_eq!(t.memory(), Some((300 * MIB, 100 * MIB)));
        // A controller v1 does not hold is read from the unified hierarchy.
        let t = Tree::new(
            "4:memory:/\n0::/ci\n",
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        t.file("sys/fs/cgroup/unified/ci/cpu.max", "400000 100000\n");
        assert_eq!(t.quota(), Some(4.0));
    }

    #[test]
    fn cgroup_at_the_usual_mount_points_needs_no_mountinfo() {
        // /sys/fs/cgroup holding the v2 root (its cgroup.controllers), or v1's controller
        // folders: mountinfo is not read at all (here it does not even exist).
        let t = Tree(tempfile::tempdir().unwrap());
        t.file("proc/self/cgroup", "0::/ci/job\n")
            .file("sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
            .file("sys/fs/cgroup/ci/cpu.max", "250000 100000\n")
            .file(
                "sys/fs/cgroup/ci/job/memory.max",
                &format!("{}\n", 64 * MIB),
            );
        assert_eq!(t.quota(), Some(2.5));
        assert_eq!(t.memory(), Some((64 * MIB, 64 * MIB)));
        let t = Tree(tempfile::tempdir().unwrap());
        t.file(
            "proc/self/cgroup",
            "3:cpu,cpuacct:/build\n2:memory:/build\n0::/\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/build/cpu.cfs_quota_us",
            "300000\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/build/cpu.cfs_period_us",
            "100000\n",
        )
        .file(
            "sys/fs/cgroup/memory/build/memory.limit_in_bytes",
            &format!("{}\n", 8 * MIB),
        );
        assert_eq!(t.quota(), Some(3.0));
        assert_eq!(t.memory(), Some((8 * MIB, 8 * MIB)));
    }

    #[test]
    fn cgroup_missing_or_strange_is_no_limit() {
        // No /proc at all (macOS), or no cgroup mounted.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(cgroup::cpu_quota(empty.path()), None);
        assert_eq!(cgroup::memory(empty.path()), None);
        let t = Tree::new("0::/\n", "22 1 0:5 / /proc rw - proc proc rw\n");
        assert_eq!((t.quota(), t.memory()), (None, None));
        // Garbage lines are skipped.
        let t = Tree::new("junk\n\n0::/\n", &format!("nonsense\n- - -\n{V2_MOUNT}"));
        t.file("sys/fs/cgroup/cpu.max", "25000 100000\n");
        assert_eq!(t.quota(), Some(0.25));
        // A path from outside our cgroup namespace: only the mount's top is known to apply,
        // and nothing above the mount is read.
        let t = Tree::new("0::/../../elsewhere\n", V2_MOUNT);
        t.file("sys/fs/cgroup/cpu.max", "300000 100000\n")
            .file("sys/elsewhere/cpu.max", "1000 100000\n");
        assert_eq!(t.quota(), Some(3.0));
        // A mount point with a space, as mountinfo escapes it.
        let t = Tree::new(
            "0::/\n",
            "30 23 0:26 / /sys/fs/cg\\040roup rw - cgroup2 cgroup2 rw\n",
        );
        t.file("sys/fs/cg roup/cpu.max", "100000 100000\n");
        assert_eq!(t.quota(), Some(1.0));
    }

    #[test]
    fn cpus_are_the_affinity_capped_by_the_quota_rounded_up() {
        assert_eq!(effective_cpus(4, None), 4);
        assert_eq!(effective_cpus(4, Some(1.5)), 2);
        assert_eq!(effective_cpus(4, Some(2.0)), 2);
        assert_eq!(effective_cpus(4, Some(0.1)), 1);
        assert_eq!(effective_cpus(2, Some(16.0)), 2);
        assert_eq!(effective_cpus(0, None), 1);
        assert_eq!(effective_cpus(8, Some(f64::NAN)), 8);
        assert_eq!(effective_cpus(8, Some(1e300)), 8);
    }

    #[test]
    fn memory_figures_take_the_cgroup_where_it_is_tighter() {
        let m = |limit, available| Some(cgroup::Memory { limit, available });
        assert_eq!(with_limit(16, 10, None), (16, 10, None));
        assert_eq!(with_limit(16, 10, m(4, 3)), (4, 3, Some(4)));
        // A limit above the machine's memory: the machine's figures, the limit still told.
        assert_eq!(with_limit(16, 10, m(64, 60)), (16, 10, Some(64)));
        // The machine is short of memory even though the cgroup has room.
        assert_eq!(with_limit(16, 2, m(8, 7)), (8, 2, Some(8)));
    }

    #[test]
    fn detect_is_sane() {
        let s = Sys::detect();
        assert!(s.cpus >= 1);
        let r = Resources::detect(s.cpus);
        assert!(r.physical_cores >= 1);
        assert!(r.mem_total_mb >= r.mem_available_mb);
    }
}
