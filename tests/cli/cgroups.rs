//! `ptest.sys` against the machine the tests run on: the CPUs, CPU quota and memory limit ptest
//! reads from its cgroup agree with what `/proc` and `/sys/fs/cgroup` say here, and the default
//! worker count and memory budget follow them. The reader itself is unit-tested on fake trees
//! (v1, v2, nested, `max`, missing) in `src/sys.rs`; this reads the real files a second, simpler
//! way (the usual mount points only) and compares.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::Project;

const MIB: f64 = 1_048_576.0;

/// What `ptest.sys` says, field by field (`nil` for none).
fn sys_fields() -> BTreeMap<String, String> {
    let p = Project::new(
        "local s = ptest.sys\n\
         for _, k in ipairs { 'cpus', 'cpu_quota', 'mem_total_mb', 'mem_available_mb', 'mem_limit_mb' } do\n\
           print(k .. '=' .. tostring(s[k]))\n\
         end\n\
         ptest.suite { name = 'a', cmd = 'true' }\n",
    );
    let out = p.run(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stderr
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn num(fields: &BTreeMap<String, String>, k: &str) -> Option<f64> {
    fields[k].parse().ok()
}

/// The CPUs in this process's affinity mask, from `/proc/self/status` (`Cpus_allowed_list: 0-3,8`).
fn affinity() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    list.split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<u32>().unwrap() - a.parse::<u32>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

/// The folders from this process's cgroup up to its hierarchy's top for `controller`, at the
/// usual mount points; `None` when the hierarchy is not there.
fn cgroup_dirs(controller: &str) -> Option<(bool, Vec<PathBuf>)> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let top = Path::new("/sys/fs/cgroup");
    let walk = |top: PathBuf, path: &str| -> Option<Vec<PathBuf>> {
        let mut at = top.join(path.trim_start_matches('/'));
        if !at.is_dir() {
            return None;
        }
        let mut dirs = vec![at.clone()];
        while at != top && at.pop() {
            dirs.push(at.clone());
        }
        Some(dirs)
    };
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        if controllers.split(',').any(|c| c == controller) {
            return walk(top.join(controllers), path)
                .or_else(|| walk(top.join(controller), path))
                .map(|d| (true, d));
        }
    }
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    if !top.join("cgroup.controllers").exists() {
        return None;
    }
    walk(top.to_path_buf(), path).map(|d| (false, d))
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The tightest CPU quota on the way up, in CPUs, as `cat cpu.max` (v2) or
/// `cpu.cfs_quota_us`/`cpu.cfs_period_us` (v1) show it.
fn machine_quota(v1: bool, dirs: &[PathBuf]) -> Option<f64> {
    dirs.iter()
        .filter_map(|d| {
            let (max, period) = if v1 {
                (read(d, "cpu.cfs_quota_us")?, read(d, "cpu.cfs_period_us")?)
            } else {
                let line = read(d, "cpu.max")?;
                let (a, b) = line.split_once(' ')?;
                (a.to_owned(), b.to_owned())
            };
            let (max, period): (f64, f64) = (max.parse().ok()?, period.parse().ok()?);
            (max > 0.0 && period > 0.0).then_some(max / period)
        })
        .reduce(f64::min)
}

/// The tightest memory limit on the way up, in bytes.
fn machine_memory_limit(v1: bool, dirs: &[PathBuf]) -> Option<f64> {
    let files: &[&str] = if v1 {
        &["memory.limit_in_bytes"]
    } else {
        &["memory.max", "memory.high"]
    };
    dirs.iter()
        .flat_map(|d| files.iter().filter_map(move |f| read(d, f)))
        .filter_map(|v| v.parse::<f64>().ok())
        .filter(|&b| b < 2f64.powi(62))
        .reduce(f64::min)
}

fn meminfo_mb(key: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

#[test]
fn sys_agrees_with_the_machines_cgroup_files() {
    if !cfg!(target_os = "linux") {
        println!("skipped: cgroups are Linux's");
        return;
    }
    let sys = sys_fields();
    let cpus = num(&sys, "cpus").unwrap();
    let quota = num(&sys, "cpu_quota");
    let affinity = f64::from(affinity());
    // Never more than the affinity mask, never fewer than the standard library's count (which
    // rounds the quota down where ptest rounds it up).
    let std_count = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(
        cpus <= affinity && cpus >= std_count,
        "{sys:?}, affinity {affinity}"
    );
    let expected = quota.map_or(affinity, |q| affinity.min(q.ceil()));
    assert!(
        (cpus - expected).abs() < 0.5,
        "{sys:?}: expected {expected}"
    );

    match cgroup_dirs("cpu") {
        Some((v1, dirs)) => {
            let machine = machine_quota(v1, &dirs);
            assert_eq!(quota, machine, "{sys:?} against {dirs:?} (v1: {v1})");
            println!("cpu quota {machine:?} from {}", dirs[0].display());
        }
        None => println!("skipped: no cpu cgroup at /sys/fs/cgroup to compare with"),
    }

    let total = num(&sys, "mem_total_mb").unwrap();
    let available = num(&sys, "mem_available_mb").unwrap();
    let limit = num(&sys, "mem_limit_mb");
    let physical = meminfo_mb("MemTotal:");
    match cgroup_dirs("memory") {
        Some((v1, dirs)) => {
            let machine = machine_memory_limit(v1, &dirs).map(|b| (b / MIB).floor());
            assert_eq!(limit, machine, "{sys:?} against {dirs:?} (v1: {v1})");
            println!("memory limit {machine:?} MiB from {}", dirs[0].display());
        }
        None => println!("skipped: no memory cgroup at /sys/fs/cgroup to compare with"),
    }
    // sysinfo reads MemTotal too; the cgroup's limit caps it.
    let expected_total = limit.map_or(physical, |l| l.min(physical)).floor();
    assert!(
        (total - expected_total).abs() <= 1.0,
        "{sys:?}: total {total} MiB, MemTotal {physical} MiB"
    );
    assert!(available <= total, "{sys:?}");

    // The defaults follow: `auto` workers are `cpus`, and the memory budget is at most what is
    // there to take.
    let p = Project::new("ptest.suite { name = 'a', cmd = 'true', memory = '1MB' }\n");
    let out = p.run(&["plan"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("workers:   {cpus} (auto")),
        "{}",
        out.stdout
    );
    let budget = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("memory:    budget "))
        .and_then(|l| l.split_once(" ("))
        .and_then(|(size, _)| {
            let (n, unit) = size.split_once(' ')?;
            let per_mib = match unit {
                "GB" => 1024.0,
                "MB" => 1.0,
                _ => return None,
            };
            Some(n.parse::<f64>().ok()? * per_mib)
        })
        .unwrap_or_else(|| panic!("no budget in MB or GB in {}", out.stdout));
    assert!(budget <= total + 100.0, "budget {budget} MiB of {total}");
}

/// `ci.workers` reads only `ptest.sys`: given a container's figures (a quota of 1.5 CPUs is
/// `cpus = 2`, 700 MB left under a memory limit), it plans for them, not for the host.
#[test]
fn the_ci_preset_plans_for_the_figures_sys_gives_it() {
    let p = Project::new(
        "local ci = require('ptest.presets.ci')\n\
         local container = { cpus = 2, cpu_quota = 1.5, mem_available_mb = 700, mem_limit_mb = 1024, ci = 'circleci' }\n\
         print(ci.workers {}(container), ci.workers { mem_per_worker_mb = 256 }(container),\n\
               ci.workers { mem_per_worker_mb = 256, ci_max = 1 }(container))\n\
         local s = ptest.sys\n\
         print(ci.workers {}(s) == math.max(1, math.min(s.cpus, s.mem_available_mb // 1024)))\n\
         ptest.suite { name = 'a', cmd = 'true' }\n",
    );
    let out = p.run(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    // 700 MB is no 1024 MB worker (at least one runs), two of 256 MB; ci_max caps on CI.
    assert_eq!(lines[..2], ["1\t2\t1", "true"], "{}", out.stderr);
}
