//! The benchmark scenarios of the performance budget, each printed as a ratio to a floor
//! measured in the same run (medians of several whole-process runs). `--smoke` runs every
//! scenario once on tiny inputs so CI keeps the suite working; it asserts nothing about time.

use crate::gen;
use crate::measure::{median, syscall_counts, time_once, Sample};
use sha2::Digest as _;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Sizes and repetitions.
pub struct Plan {
    /// Quick cycles in the watch scenario's long run.
    pub watch_cycles: u64,
    pub open: usize,
    pub closed: usize,
    pub runs: usize,
    pub scale: Vec<usize>,
    pub stale_scale: Vec<usize>,
    pub startup_runs: usize,
    /// The short and the long journal of the journal-length scenario.
    pub journals: (u64, u64),
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            watch_cycles: 100,
            open: 1_000,
            closed: 200_000,
            runs: 5,
            scale: vec![10, 1_000, 10_000],
            stale_scale: vec![10, 100, 1_000],
            startup_runs: 21,
            journals: (10, 100_000),
        }
    }

    pub fn smoke() -> Plan {
        Plan {
            watch_cycles: 5,
            open: 10,
            closed: 1_000,
            runs: 1,
            scale: vec![10, 100],
            stale_scale: vec![10],
            startup_runs: 1,
            journals: (10, 200),
        }
    }
}

/// One line of the results table. `ratio` (wall time, the figure the target applies to)
/// and `cpu_ratio` (user + system time, steadier on a busy machine) are to the floor.
pub struct Row {
    pub name: String,
    pub figure: String,
    pub floor: String,
    pub ratio: Option<f64>,
    pub cpu_ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
}

pub struct Ctx {
    pub me: PathBuf,
    pub selfheal: PathBuf,
    pub dir: PathBuf,
    pub plan: Plan,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("cp -a {} {}", from.display(), to.display()))
    }
}

impl Ctx {
    fn selfheal(&self, root: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.selfheal);
        c.arg("--root")
            .arg(root)
            .args(args)
            .env_remove("TRADING_MODE");
        c
    }

    fn json(&self, root: &Path, args: &[&str]) -> Result<serde_json::Value, String> {
        let out = self
            .selfheal(root, &[&["--json"], args].concat())
            .output()
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    }

    fn floor(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.me);
        c.arg("floor").args(args);
        c
    }

    fn row(&mut self, name: &str, figure: Sample, floor: Sample, target: f64) {
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let ratio = r(figure.wall, floor.wall);
        self.rows.push(Row {
            name: name.into(),
            figure: format!("{:.0} ms (CPU {:.0} ms)", ms(figure.wall), ms(figure.cpu)),
            floor: format!("{:.0} ms (CPU {:.0} ms)", ms(floor.wall), ms(floor.cpu)),
            ratio: Some(ratio),
            cpu_ratio: Some(r(figure.cpu, floor.cpu)),
            target: format!("<= {target:.1}x"),
            met: Some(ratio <= target),
        });
    }

    fn info(&mut self, name: &str, figure: String, target: &str, met: Option<bool>) {
        self.rows.push(Row {
            name: name.into(),
            figure,
            floor: "-".into(),
            ratio: None,
            cpu_ratio: None,
            target: target.into(),
            met,
        });
    }

    /// The healthy root, generated once and healed once (so later heals have nothing to do).
    pub fn healthy(&mut self) -> Result<PathBuf, String> {
        let root = self.dir.join("healthy");
        let _ = std::fs::remove_dir_all(&root);
        gen::healthy_root(&root, 42, self.plan.open, self.plan.closed)
            .map_err(|e| e.to_string())?;
        let v = self.json(&root, &["heal"])?;
        if v["start_allowed"] != true || !v["critical"].as_array().is_some_and(Vec::is_empty) {
            return Err(format!("the generated root is not healthy: {v}"));
        }
        let again = self.json(&root, &["heal"])?;
        if !again["actions"].as_array().is_some_and(Vec::is_empty) {
            return Err(format!(
                "a second heal of the generated root still has work: {again}"
            ));
        }
        Ok(root)
    }

    fn positions(root: &Path) -> PathBuf {
        root.join("logs/positions_futures.json")
    }

    pub fn healthy_scenarios(&mut self) -> Result<PathBuf, String> {
        let root = self.healthy()?;
        let size = std::fs::metadata(Self::positions(&root))
            .map_err(|e| e.to_string())?
            .len();
        self.notes.push(format!(
            "positions file: {} open, {} closed, {:.1} MB",
            self.plan.open,
            self.plan.closed,
            size as f64 / 1e6
        ));
        let pos = Self::positions(&root).display().to_string();
        let port = root
            .join("logs/portfolio_futures.json")
            .display()
            .to_string();
        let floor = median(
            self.plan.runs,
            |_| Ok(self.floor(&["validate", &pos, &port])),
            &[0],
        )?;
        let heal = median(
            self.plan.runs,
            |_| Ok(self.selfheal(&root, &["heal"])),
            &[0],
        )?;
        self.row("heal, healthy root", heal, floor, 2.0);
        let check = median(
            self.plan.runs,
            |_| Ok(self.selfheal(&root, &["check"])),
            &[0],
        )?;
        self.row("check, healthy root", check, floor, 2.0);
        let mb = size as f64 / 1e6;
        self.notes.push(format!(
            "floor 1-2 (read + serde_json IgnoredAny): {:.0} MB/s wall, {:.0} MB/s CPU",
            mb / floor.wall.as_secs_f64(),
            mb / floor.cpu.as_secs_f64().max(1e-9)
        ));
        self.rss_row("peak RSS, heal of healthy root", heal.rss, size, 3.0);
        Ok(root)
    }

    fn rss_row(&mut self, name: &str, rss: u64, largest: u64, target: f64) {
        let ratio = rss as f64 / largest.max(1) as f64;
        self.rows.push(Row {
            name: name.into(),
            figure: format!("{:.1} MB", rss as f64 / 1e6),
            floor: format!("{:.1} MB file", largest as f64 / 1e6),
            ratio: Some(ratio),
            cpu_ratio: None,
            target: format!("<= {target:.1}x"),
            met: Some(ratio <= target),
        });
    }

    /// A throughput row: `bytes` processed in `figure` against `floor_bytes` in `floor`, as
    /// the ratio of the two rates (wall time: the target; CPU time beside it).
    fn rate_row(
        &mut self,
        name: &str,
        (bytes, figure): (u64, Sample),
        (floor_bytes, floor): (u64, Sample),
        target: f64,
    ) {
        let rate = |b: u64, d: Duration| b as f64 / 1e6 / d.as_secs_f64().max(1e-9);
        let ratio = rate(bytes, figure.wall) / rate(floor_bytes, floor.wall).max(1e-9);
        let cpu = rate(bytes, figure.cpu) / rate(floor_bytes, floor.cpu).max(1e-9);
        self.rows.push(Row {
            name: name.into(),
            figure: format!(
                "{:.0} MB/s ({:.0} ms, CPU {:.0} ms)",
                rate(bytes, figure.wall),
                ms(figure.wall),
                ms(figure.cpu)
            ),
            floor: format!(
                "{:.0} MB/s ({:.0} ms, CPU {:.0} ms)",
                rate(floor_bytes, floor.wall),
                ms(floor.wall),
                ms(floor.cpu)
            ),
            ratio: Some(ratio),
            cpu_ratio: Some(cpu),
            target: format!(">= {target:.1}x"),
            met: Some(ratio >= target),
        });
    }

    /// A copy of the healthy root whose positions file is cut in the middle of a record, at
    /// 90% of its bytes (a write that died near its end: the file stays ~90 MB).
    fn truncated(&self, healthy: &Path) -> Result<PathBuf, String> {
        let root = self.dir.join("truncated");
        copy_tree(healthy, &root)?;
        let pos = Self::positions(&root);
        let bytes = std::fs::read(&pos).map_err(|e| e.to_string())?;
        let cut = bytes.len() * 9 / 10;
        let cut = cut + bytes[cut..].iter().position(|&b| b == b':').unwrap_or(0) + 3;
        std::fs::write(&pos, &bytes[..cut]).map_err(|e| e.to_string())?;
        Ok(root)
    }

    pub fn salvage_scenarios(&mut self, healthy: &Path) -> Result<(), String> {
        let template = self.truncated(healthy)?;
        let pos = Self::positions(&template);
        let size = std::fs::metadata(&pos).map_err(|e| e.to_string())?.len();
        self.salvage_command(healthy, &pos)?;
        let work = self.dir.join("salvage-run");
        let heal_args = ["heal", "--mode", "paper"];
        let first = {
            copy_tree(&template, &work)?;
            self.json(&work, &heal_args)?
        };
        let repaired = first["actions"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["path"] == "logs/positions_futures.json" && x["result"] == "applied")
        });
        if !repaired {
            self.info(
                "heal, salvage of truncated file",
                "not applied".into(),
                "<= 2.0x",
                Some(false),
            );
            self.notes.push(format!(
                "the salvage heal did not rewrite the truncated file: {}",
                first["critical"]
            ));
            return Ok(());
        }
        let txn = first["transaction"].as_u64().ok_or("no transaction")?;
        let healed_template = self.dir.join("salvaged");
        copy_tree(&work, &healed_template)?;
        let out = self.dir.join("floor-written");
        let (pos_s, out_s) = (pos.display().to_string(), out.display().to_string());
        let floor = median(
            self.plan.runs,
            |_| {
                let _ = std::fs::remove_file(&out);
                Ok(self.floor(&["backup", &pos_s, &out_s]))
            },
            &[0],
        )?;
        let heal = median(
            self.plan.runs,
            |_| {
                copy_tree(&template, &work)?;
                Ok(self.selfheal(&work, &heal_args))
            },
            &[0],
        )?;
        self.row("heal, salvage of truncated file", heal, floor, 1.8);
        let salvaged = std::fs::metadata(Self::positions(&healed_template))
            .map_err(|e| e.to_string())?
            .len();
        self.rss_row("peak RSS, salvage heal", heal.rss, size.max(salvaged), 2.0);
        self.notes.push(format!(
            "salvage: the {:.1} MB truncated file becomes {:.1} MB; zstd level {} (selfheal's rule for its size, used by the floor too)",
            size as f64 / 1e6,
            salvaged as f64 / 1e6,
            selfheal::zstd_level(usize::try_from(size).unwrap_or(usize::MAX))
        ));
        self.rollback_scenario(&healed_template, &pos, txn)
    }

    /// `selfheal salvage` of the truncated positions file (the document to standard output,
    /// discarded; exit 1: records were lost) against the validation of the intact file
    /// (read + `serde_json` into `IgnoredAny`), as rates in MB/s.
    fn salvage_command(&mut self, healthy: &Path, truncated: &Path) -> Result<(), String> {
        let intact = Self::positions(healthy);
        let size = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| e.to_string())
        };
        let (intact_size, cut_size) = (size(&intact)?, size(truncated)?);
        let intact_s = intact.display().to_string();
        let floor = median(
            self.plan.runs,
            |_| Ok(self.floor(&["validate", &intact_s])),
            &[0],
        )?;
        let cmd = median(
            self.plan.runs,
            |_| {
                let mut c = Command::new(&self.selfheal);
                c.arg("salvage").arg(truncated);
                Ok(c)
            },
            &[1],
        )?;
        self.rate_row(
            "salvage command, truncated file (MB/s)",
            (cut_size, cmd),
            (intact_size, floor),
            0.6,
        );
        Ok(())
    }

    /// The backup object selfheal wrote for the truncated bytes (the one a rollback reads).
    fn object_of(root: &Path, original: &Path) -> Result<(PathBuf, String), String> {
        let bytes = std::fs::read(original).map_err(|e| e.to_string())?;
        let sha = crate::floor::hex(&sha2::Sha256::digest(&bytes));
        let (fan, rest) = sha.split_at(2);
        let object = root.join(format!("logs/backups/objects/{fan}/{rest}.zst"));
        if !object.is_file() {
            return Err(format!("no backup object {}", object.display()));
        }
        Ok((object, sha))
    }

    fn rollback_scenario(
        &mut self,
        healed: &Path,
        original: &Path,
        txn: u64,
    ) -> Result<(), String> {
        let (object, sha) = Self::object_of(healed, original)?;
        let out = self.dir.join("floor-restored");
        let (obj_s, out_s) = (object.display().to_string(), out.display().to_string());
        let floor = median(
            self.plan.runs,
            |_| {
                let _ = std::fs::remove_file(&out);
                Ok(self.floor(&["restore", &obj_s, &sha, &out_s]))
            },
            &[0],
        )?;
        let work = self.dir.join("rollback-run");
        let id = txn.to_string();
        let rb = median(
            self.plan.runs,
            |_| {
                copy_tree(healed, &work)?;
                Ok(self.selfheal(&work, &["rollback", &id]))
            },
            &[0],
        )?;
        let restored = std::fs::read(Self::positions(&work)).map_err(|e| e.to_string())?;
        if restored != std::fs::read(original).map_err(|e| e.to_string())? {
            return Err("the rollback did not restore the truncated bytes".into());
        }
        self.row("rollback of the salvage", rb, floor, 1.3);
        Ok(())
    }

    /// fsync and rename counts of whole heals under `strace -f -c`, each checked against
    /// SPEC.md section 8's formula for the transaction the heal reported.
    pub fn syscall_scenarios(&mut self, healthy: &Path) -> Result<(), String> {
        let calls = "fsync,fdatasync,rename,renameat,renameat2";
        let bin = self.selfheal.display().to_string();
        let heal = |root: &Path, extra: &[&str]| {
            let mut v = vec![bin.clone(), "--root".into(), root.display().to_string()];
            v.extend(["--json".to_string(), "heal".into()]);
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        let fans = fans(healthy);
        // The index and the run record exist already (a settled journal and one heal that
        // repeated), so the counted heal replaces the run record only.
        std::thread::sleep(Duration::from_millis(2_100));
        time_once(&mut self.selfheal(healthy, &["heal"]), &[0])?;
        let Some((idle, report)) = syscall_counts(&heal(healthy, &[]), calls) else {
            self.notes
                .push("strace not available: syscall counts skipped".into());
            return Ok(());
        };
        self.counts_row("heal with nothing to do", &idle, &report, &fans);
        let salvage = self.dir.join("strace-salvage");
        let truncated = self.truncated(healthy)?;
        copy_tree(&truncated, &salvage)?;
        let fans = self::fans(&salvage);
        if let Some((c, r)) = syscall_counts(&heal(&salvage, &["--mode", "paper"]), calls) {
            self.counts_row("salvage heal (1 file replaced)", &c, &r, &fans);
        }
        let stale = self.dir.join("strace-stale");
        let _ = std::fs::remove_dir_all(&stale);
        gen::healthy_root(&stale, 7, 1, 10).map_err(|e| e.to_string())?;
        time_once(&mut self.selfheal(&stale, &["heal"]), &[0])?;
        gen::heartbeats_and_locks(&stale, 10, unix_now(), 3_600).map_err(|e| e.to_string())?;
        let fans = self::fans(&stale);
        if let Some((c, r)) = syscall_counts(&heal(&stale, &[]), calls) {
            self.counts_row("10 stale heartbeats + 10 stale locks", &c, &r, &fans);
        }
        self.notes.push(
            "fsync/rename formula (SPEC.md section 8), per transaction: fsync = 2 + I + 2F + 2B + 2N + 2D + R + M + 1, renames = F + B + D, with I intents (applied operations), F files written, B new backup objects, N new fan-out directories of the store (`objects/<2 hex>`, at most 256 ever; the new directory and `objects/` are fsynced), D directories created (the temp directory and its parent are fsynced), R files removed, M mode changes; a file the heal leaves alone costs none".into(),
        );
        Ok(())
    }

    fn counts_row(&mut self, name: &str, counts: &[(String, u64)], report: &str, fans: &[String]) {
        let got = |names: &[&str]| -> u64 {
            counts
                .iter()
                .filter(|(n, _)| names.contains(&n.as_str()))
                .map(|(_, k)| k)
                .sum()
        };
        let fsync = got(&["fsync", "fdatasync"]);
        let renames = got(&["rename", "renameat", "renameat2"]);
        let (want, terms) = match serde_json::from_str::<serde_json::Value>(report) {
            Ok(v) => formula(&v, fans),
            Err(_) => ((0, 0), "no report".into()),
        };
        self.info(
            &format!("fsync/rename: {name}"),
            format!(
                "fsync {fsync}, rename {renames} (formula: {} / {}; {terms})",
                want.0, want.1
            ),
            "= formula",
            Some((fsync, renames) == want),
        );
    }

    /// Fresh heartbeats and locks (checked, nothing to do) at growing counts: the cost per
    /// file is the slope between the smallest and largest count, and the growth is linear
    /// when the slopes of the two steps agree.
    pub fn scaling_scenarios(&mut self) -> Result<(), String> {
        let now = unix_now();
        let mut points = Vec::new();
        for &n in &self.plan.scale.clone() {
            let root = self.dir.join(format!("scale-{n}"));
            let _ = std::fs::remove_dir_all(&root);
            gen::healthy_root(&root, 7, 1, 10).map_err(|e| e.to_string())?;
            gen::heartbeats_and_locks(&root, n, now, 0).map_err(|e| e.to_string())?;
            time_once(&mut self.selfheal(&root, &["heal"]), &[0])?;
            let t = median(
                self.plan.runs,
                |_| Ok(self.selfheal(&root, &["heal"])),
                &[0],
            )?;
            points.push((n, t));
            self.info(
                &format!("heal, {n} fresh heartbeats + {n} locks"),
                format!("{:.1} ms (CPU {:.1} ms)", ms(t.wall), ms(t.cpu)),
                "linear",
                None,
            );
        }
        self.linearity(&points);
        for &n in &self.plan.stale_scale.clone() {
            let root = self.dir.join(format!("stale-{n}"));
            let _ = std::fs::remove_dir_all(&root);
            gen::healthy_root(&root, 7, 1, 10).map_err(|e| e.to_string())?;
            time_once(&mut self.selfheal(&root, &["heal"]), &[0])?;
            let template = self.dir.join(format!("stale-{n}-template"));
            gen::heartbeats_and_locks(&root, n, now, 3_600).map_err(|e| e.to_string())?;
            copy_tree(&root, &template)?;
            let t = median(
                self.plan.runs,
                |_| {
                    copy_tree(&template, &root)?;
                    Ok(self.selfheal(&root, &["heal"]))
                },
                &[0],
            )?;
            self.info(
                &format!(
                    "heal, {n} stale heartbeats + {n} stale locks ({} ops)",
                    2 * n
                ),
                format!(
                    "{:.1} ms ({:.2} ms/op, CPU {:.2} ms/op)",
                    ms(t.wall),
                    ms(t.wall) / (2 * n) as f64,
                    ms(t.cpu) / (2 * n) as f64
                ),
                "report",
                None,
            );
        }
        Ok(())
    }

    /// The cost per file (slope) and whether the two steps' slopes agree within 2x
    /// (CPU time: wall time on a busy machine is too noisy for a per-file figure).
    fn linearity(&mut self, points: &[(usize, Sample)]) {
        let slope = |a: &(usize, Sample), b: &(usize, Sample)| {
            let files = 2.0 * (b.0 as f64 - a.0 as f64);
            (ms(b.1.cpu) - ms(a.1.cpu)) * 1000.0 / files.max(1.0)
        };
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return;
        };
        let overall = slope(first, last);
        let steps: Vec<f64> = points.windows(2).map(|w| slope(&w[0], &w[1])).collect();
        let linear = steps
            .iter()
            .all(|s| *s <= 2.0 * overall.max(1.0) && *s >= overall / 2.0 - 1.0);
        self.info(
            "cost per heartbeat or lock file",
            format!(
                "{overall:.1} µs CPU per file (steps: {})",
                steps
                    .iter()
                    .map(|s| format!("{s:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "linear",
            Some(linear),
        );
    }

    pub fn startup_scenario(&mut self) -> Result<(), String> {
        let root = self.dir.join("empty");
        let _ = std::fs::remove_dir_all(&root);
        time_once(&mut self.selfheal(&root, &["heal", "--init"]), &[0])?;
        let t = median(
            self.plan.startup_runs,
            |_| Ok(self.selfheal(&root, &["heal"])),
            &[0],
        )?;
        self.info(
            "process start to exit, healthy default root",
            format!("{:.1} ms (CPU {:.1} ms)", ms(t.wall), ms(t.cpu)),
            "report",
            None,
        );
        Ok(())
    }

    /// A `watch` cycle with nothing changed on the healthy root, CPU and wall time per
    /// cycle, against a healthy `heal` of the same root measured here: (`watch --cycles
    /// 1+K`) - (`watch --cycles 1`), divided by K, medians of each. With
    /// `watch.full_check_every` above K (a configuration outside the root) every cycle after
    /// the first is one that reads nothing again (the target); with the default 20, one in
    /// 20 reads everything (reported, amortized over 20 cycles).
    pub fn watch_scenario(&mut self, healthy: &Path) -> Result<(), String> {
        let heal = median(
            self.plan.runs,
            |_| Ok(self.selfheal(healthy, &["heal"])),
            &[0],
        )?;
        // Only a file unchanged for 2 s is carried over (the journal too): let the
        // heals above settle, so what is measured is the steady state.
        std::thread::sleep(Duration::from_secs(3));
        let config = self.dir.join("watch-never-full.json");
        std::fs::write(&config, r#"{"watch": {"full_check_every": 1000000}}"#)
            .map_err(|e| e.to_string())?;
        let config = config.display().to_string();
        let k = self.plan.watch_cycles;
        let quick = self.per_cycle(healthy, Some(&config), k)?;
        self.fraction_row(
            "watch cycle, nothing changed (per cycle)",
            quick,
            heal,
            0.05,
        );
        let every = self.per_cycle(healthy, None, 20)?;
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        self.info(
            "watch cycle, default full_check_every 20 (amortized)",
            format!(
                "{:.1} ms (CPU {:.1} ms; {:.3}x heal CPU)",
                ms(every.wall),
                ms(every.cpu),
                r(every.cpu, heal.cpu)
            ),
            "report",
            None,
        );
        self.notes.push(format!(
            "watch: per cycle = (median of `watch --cycles {}` - median of `watch --cycles 1`) / {k}, --interval 0s, {} runs each; the floor is a healthy heal of the same root in this group",
            k + 1,
            self.plan.runs
        ));
        Ok(())
    }

    /// A row whose floor is a whole `heal` and whose target is a fraction of its CPU time.
    fn fraction_row(&mut self, name: &str, figure: Sample, heal: Sample, target: f64) {
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let cpu_ratio = r(figure.cpu, heal.cpu);
        self.rows.push(Row {
            name: name.into(),
            figure: format!("{:.2} ms (CPU {:.2} ms)", ms(figure.wall), ms(figure.cpu)),
            floor: format!("heal {:.0} ms (CPU {:.0} ms)", ms(heal.wall), ms(heal.cpu)),
            ratio: Some(r(figure.wall, heal.wall)),
            cpu_ratio: Some(cpu_ratio),
            target: format!("<= {target}x (CPU)"),
            met: Some(cpu_ratio <= target),
        });
    }

    /// The wall and CPU time of one watch cycle after the first, over `k` cycles.
    fn per_cycle(&self, root: &Path, config: Option<&str>, k: u64) -> Result<Sample, String> {
        let run = |cycles: u64| {
            let n = cycles.to_string();
            let mut args = Vec::new();
            if let Some(c) = config {
                args.extend(["--config", c]);
            }
            args.extend(["watch", "--cycles", &n, "--interval", "0s"]);
            median(self.plan.runs, |_| Ok(self.selfheal(root, &args)), &[0])
        };
        let one = run(1)?;
        let many = run(1 + k)?;
        let per = |a: Duration, b: Duration| a.saturating_sub(b) / u32::try_from(k).unwrap_or(1);
        Ok(Sample {
            wall: per(many.wall, one.wall),
            cpu: per(many.cpu, one.cpu),
            rss: many.rss,
        })
    }

    /// A default healthy root whose journal holds `n` transactions (a restart loop's
    /// history), healed until its index holds; returns the root.
    fn journal_root(&self, n: u64) -> Result<PathBuf, String> {
        let root = self.dir.join(format!("journal-{n}"));
        let _ = std::fs::remove_dir_all(&root);
        time_once(&mut self.selfheal(&root, &["heal", "--init"]), &[0])?;
        // Retention would bound the journal (retention.max_transactions): lifted, so that
        // the long journal stays long while it is measured.
        std::fs::write(
            root.join("config/selfheal.json"),
            r#"{"retention": {"max_transactions": 1000000}}"#,
        )
        .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(root.join("logs/backups/journal"));
        crate::history::write(&root, n, unix_now() - 3_600, 5).map_err(|e| e.to_string())?;
        // The first heal decides otherwise (healthy) and commits; the next repeats it. The
        // index is written by a heal that repeats once the journal directory is settled.
        time_once(&mut self.selfheal(&root, &["heal"]), &[0])?;
        std::thread::sleep(Duration::from_millis(2_100));
        time_once(&mut self.selfheal(&root, &["heal"]), &[0])?;
        if !root.join("logs/backups/meta/index.jsonl").is_file() {
            return Err(format!("no journal index written in {}", root.display()));
        }
        let files = std::fs::read_dir(root.join("logs/backups/journal"))
            .map_err(|e| e.to_string())?
            .count() as u64;
        if files < n {
            return Err(format!(
                "{}: {files} transactions, {n} written",
                root.display()
            ));
        }
        Ok(root)
    }

    /// The start costs the same after a year: a heal of a healthy root whose journal holds
    /// a few transactions against one holding a long restart loop's, in the same run
    /// (runs alternated); target <= 1.2x wall time and peak RSS.
    pub fn journal_scenario(&mut self) -> Result<(), String> {
        let (short, long) = self.plan.journals;
        let gen = std::time::Instant::now();
        let a = self.journal_root(short)?;
        let b = self.journal_root(long)?;
        self.notes.push(format!(
            "journal length: {short} and {long} transactions written with the format crate and healed until indexed in {:.1} s",
            gen.elapsed().as_secs_f64()
        ));
        let runs = self.plan.runs * 2 + 1;
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            xs.push(time_once(&mut self.selfheal(&a, &["heal"]), &[0])?);
            ys.push(time_once(&mut self.selfheal(&b, &["heal"]), &[0])?);
        }
        let (x, y) = (mid(&mut xs), mid(&mut ys));
        let name = format!("heal, healthy root, journal of {long} vs {short} transactions");
        self.row(&name, y, x, 1.2);
        let rss = y.rss as f64 / x.rss.max(1) as f64;
        self.rows.push(Row {
            name: format!("peak RSS, journal of {long} vs {short} transactions"),
            figure: format!("{:.1} MB", y.rss as f64 / 1e6),
            floor: format!("{:.1} MB", x.rss as f64 / 1e6),
            ratio: Some(rss),
            cpu_ratio: None,
            target: "<= 1.2x".into(),
            met: Some(rss <= 1.2),
        });
        println!(
            "journal length: heal {:.1} ms vs {:.1} ms ({:.2}x wall, {:.2}x CPU), RSS {:.1} MB vs {:.1} MB ({rss:.2}x)",
            ms(y.wall),
            ms(x.wall),
            y.wall.as_secs_f64() / x.wall.as_secs_f64().max(1e-9),
            y.cpu.as_secs_f64() / x.cpu.as_secs_f64().max(1e-9),
            y.rss as f64 / 1e6,
            x.rss as f64 / 1e6
        );
        Ok(())
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| scenario | selfheal | floor | ratio (wall) | ratio (CPU) | target | met |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let ratio = r.ratio.map_or_else(|| "-".to_string(), times);
            let cpu = r.cpu_ratio.map_or_else(|| "-".to_string(), times);
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {ratio} | {cpu} | {} | {met} |",
                r.name, r.figure, r.floor, r.target
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n- {n}");
        }
        s
    }
}

/// A ratio as `1.23x`, with three decimals below 0.1 (`0.008x`).
fn times(x: f64) -> String {
    if x < 0.1 {
        format!("{x:.3}x")
    } else {
        format!("{x:.2}x")
    }
}

/// The fan-out directories of a root's backup store (before a run).
fn fans(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("logs/backups/objects"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The fsync and rename counts SPEC.md section 8 gives for the transaction of a heal report,
/// and its terms.
fn formula(report: &serde_json::Value, fans: &[String]) -> ((u64, u64), String) {
    let applied: Vec<&serde_json::Value> = report["actions"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["result"] == "applied").collect())
        .unwrap_or_default();
    let count = |kinds: &[&str]| -> u64 {
        applied
            .iter()
            .filter(|a| kinds.iter().any(|k| a["kind"] == *k))
            .count() as u64
    };
    let i = applied.len() as u64;
    let f = count(&["create_file", "replace_file"]);
    let d = count(&["create_dir"]);
    let r = count(&["remove_file", "remove_dir"]);
    let m = count(&["set_mode"]);
    // New backup objects: one per distinct content replaced or removed (the store is
    // content-addressed; these roots had none of them before).
    let objects = applied
        .iter()
        .filter(|a| a["kind"] == "replace_file" || a["kind"] == "remove_file")
        .filter_map(|a| a["before_sha256"].as_str())
        .collect::<std::collections::BTreeSet<_>>();
    let b = objects.len() as u64;
    let n = objects
        .iter()
        .filter_map(|sha| sha.get(..2))
        .filter(|fan| !fans.iter().any(|f| f == fan))
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    // A heal that commits no transaction replaces the run record: fsync of its temp file
    // and of its directory, one rename (SPEC.md section 11).
    if !report["transaction"].is_u64() {
        return ((2, 1), "no transaction: the run record".into());
    }
    let fsync = 2 + i + 2 * f + 2 * b + 2 * n + 2 * d + r + m + 1;
    let renames = f + b + d;
    (
        (fsync, renames),
        format!("I={i} F={f} B={b} N={n} D={d} R={r} M={m}"),
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// The medians of wall time, CPU time and peak RSS, each on its own.
fn mid(all: &mut [Sample]) -> Sample {
    let m = all.len() / 2;
    all.sort_by_key(|s| s.wall);
    let wall = all[m].wall;
    all.sort_by_key(|s| s.cpu);
    let cpu = all[m].cpu;
    all.sort_by_key(|s| s.rss);
    Sample {
        wall,
        cpu,
        rss: all[m].rss,
    }
}
