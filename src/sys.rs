//! Facts about the machine a config lands on (`ptest.sys`): CPUs, memory, load, CI system and
//! container. Reads only what it exposes — a full sysinfo scan costs tens of milliseconds — and
//! the costly part only when a config asks for it.

use std::path::Path;

/// The machine, as `ptest.sys` shows it to Lua: what every run needs, read at once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sys {
    /// Logical CPUs this process may use (affinity and cgroup quotas respected).
    pub cpus: u32,
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
    pub mem_total_mb: u64,
    pub mem_available_mb: u64,
    pub load1: f64,
    pub container: bool,
}

impl Sys {
    /// Read the machine now.
    pub(crate) fn detect() -> Sys {
        Sys {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            ci: detect_ci(|k| std::env::var(k).ok()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }
}

/// The memory available for new processes now, in bytes (0 when it cannot be read).
pub(crate) fn mem_available() -> u64 {
    match sysinfo::System::new() {
        Ok(mut s) => {
            s.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
            s.available_memory()
        }
        Err(_) => 0,
    }
}

impl Resources {
    /// Read them now; `cpus` stands in for the physical cores when they cannot be counted.
    pub(crate) fn detect(cpus: u32) -> Resources {
        let physical_cores = sysinfo::System::physical_core_count().map_or(cpus, |n| n as u32);
        let (mem_total_mb, mem_available_mb) = match sysinfo::System::new() {
            Ok(mut s) => {
                s.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
                (
                    s.total_memory() / 1_048_576,
                    s.available_memory() / 1_048_576,
                )
            }
            Err(_) => (0, 0),
        };
        let load1 = sysinfo::System::load_average().map_or(0.0, |l| l.one);
        Resources {
            physical_cores,
            mem_total_mb,
            mem_available_mb,
            load1,
            container: detect_container(),
        }
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
    } else if truthy("CI") {
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
