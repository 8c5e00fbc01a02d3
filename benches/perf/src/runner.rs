//! The benchmark scenarios of the performance budget, each printed as a ratio to a floor
//! measured in the same run (medians of several whole-process runs). `--smoke` runs every
//! scenario once on tiny inputs so CI keeps the suite working; it asserts nothing about time.

use crate::gen;
use crate::measure::{median, peak_rss, syscall_counts, time_once};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Sizes and repetitions.
pub struct Plan {
    pub open: usize,
    pub closed: usize,
    pub runs: usize,
    pub scale: Vec<usize>,
    pub stale_scale: Vec<usize>,
    pub startup_runs: usize,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            open: 1_000,
            closed: 200_000,
            runs: 5,
            scale: vec![10, 1_000, 10_000],
            stale_scale: vec![10, 100, 1_000],
            startup_runs: 21,
        }
    }

    pub fn smoke() -> Plan {
        Plan {
            open: 10,
            closed: 1_000,
            runs: 1,
            scale: vec![10, 100],
            stale_scale: vec![10],
            startup_runs: 1,
        }
    }
}

/// One line of the results table.
pub struct Row {
    pub name: String,
    pub figure: String,
    pub floor: String,
    pub ratio: Option<f64>,
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

    fn row(&mut self, name: &str, figure: Duration, floor: Duration, target: f64) {
        let ratio = figure.as_secs_f64() / floor.as_secs_f64().max(1e-9);
        self.rows.push(Row {
            name: name.into(),
            figure: format!("{:.1} ms", ms(figure)),
            floor: format!("{:.1} ms", ms(floor)),
            ratio: Some(ratio),
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
            target: target.into(),
            met,
        });
    }

    /// The healthy root, generated once and healed once (so later heals have nothing to do).
    fn healthy(&mut self) -> Result<PathBuf, String> {
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
            "floor (read + serde_json IgnoredAny): {:.0} MB/s",
            mb / floor.as_secs_f64()
        ));
        let args = [
            self.selfheal.display().to_string(),
            "--root".into(),
            root.display().to_string(),
            "heal".into(),
        ];
        let rss = peak_rss(&self.me, &args, &[0])?;
        self.rss_row("peak RSS, heal of healthy root", rss, size);
        Ok(root)
    }

    fn rss_row(&mut self, name: &str, rss: u64, largest: u64) {
        let ratio = rss as f64 / largest.max(1) as f64;
        self.rows.push(Row {
            name: name.into(),
            figure: format!("{:.1} MB", rss as f64 / 1e6),
            floor: format!("{:.1} MB file", largest as f64 / 1e6),
            ratio: Some(ratio),
            target: "<= 3.0x".into(),
            met: Some(ratio <= 3.0),
        });
    }

    /// A copy of the healthy root whose positions file is cut in the middle of a record.
    fn truncated(&self, healthy: &Path) -> Result<PathBuf, String> {
        let root = self.dir.join("truncated");
        copy_tree(healthy, &root)?;
        let pos = Self::positions(&root);
        let bytes = std::fs::read(&pos).map_err(|e| e.to_string())?;
        let cut = bytes.len() * 6 / 10;
        let cut = cut + bytes[cut..].iter().position(|&b| b == b':').unwrap_or(0) + 3;
        std::fs::write(&pos, &bytes[..cut]).map_err(|e| e.to_string())?;
        Ok(root)
    }

    pub fn salvage_scenarios(&mut self, healthy: &Path) -> Result<(), String> {
        let template = self.truncated(healthy)?;
        let pos = Self::positions(&template);
        let size = std::fs::metadata(&pos).map_err(|e| e.to_string())?.len();
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
        let objdir = self.dir.join("floor-objects");
        let _ = std::fs::remove_dir_all(&objdir);
        std::fs::create_dir_all(&objdir).map_err(|e| e.to_string())?;
        let pos_s = pos.display().to_string();
        let obj_s = objdir.display().to_string();
        let floor = median(
            self.plan.runs,
            |_| Ok(self.floor(&["backup", &pos_s, &obj_s])),
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
        self.row("heal, salvage of truncated file", heal, floor, 2.0);
        copy_tree(&template, &work)?;
        let args = [
            self.selfheal.display().to_string(),
            "--root".into(),
            work.display().to_string(),
            "heal".into(),
            "--mode".into(),
            "paper".into(),
        ];
        let rss = peak_rss(&self.me, &args, &[0])?;
        self.rss_row("peak RSS, salvage heal", rss, size);
        self.rollback_scenario(&healed_template, &objdir, &pos, txn)
    }

    fn rollback_scenario(
        &mut self,
        healed: &Path,
        objdir: &Path,
        original: &Path,
        txn: u64,
    ) -> Result<(), String> {
        let object = std::fs::read_dir(objdir)
            .map_err(|e| e.to_string())?
            .flatten()
            .next()
            .ok_or("no floor object")?
            .path();
        let sha = object
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("object name")?
            .to_string();
        let out = self.dir.join("floor-restored");
        let (obj_s, out_s) = (object.display().to_string(), out.display().to_string());
        let floor = median(
            self.plan.runs,
            |_| Ok(self.floor(&["restore", &obj_s, &sha, &out_s])),
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
        self.row("rollback of the salvage", rb, floor, 1.5);
        Ok(())
    }

    pub fn syscall_scenarios(&mut self, healthy: &Path) -> Result<(), String> {
        let calls = "fsync,fdatasync,rename,renameat,renameat2";
        let bin = self.selfheal.display().to_string();
        let heal = |root: &Path| {
            vec![
                bin.clone(),
                "--root".into(),
                root.display().to_string(),
                "heal".into(),
            ]
        };
        let Some(idle) = syscall_counts(&heal(healthy), calls) else {
            self.notes
                .push("strace not available: syscall counts skipped".into());
            return Ok(());
        };
        self.info(
            "fsync/rename, heal with nothing to do",
            fmt_counts(&idle),
            "journal only",
            None,
        );
        let cold = self.dir.join("cold");
        let _ = std::fs::remove_dir_all(&cold);
        std::fs::create_dir_all(cold.join("logs")).map_err(|e| e.to_string())?;
        std::fs::write(cold.join("logs/positions_futures.json"), b"").map_err(|e| e.to_string())?;
        let counts = syscall_counts(&heal(&cold), calls).unwrap_or_default();
        self.info(
            "fsync/rename, cold-start heal (9 ops)",
            fmt_counts(&counts),
            "see SPEC §8",
            None,
        );
        Ok(())
    }

    pub fn scaling_scenarios(&mut self) -> Result<(), String> {
        let now = unix_now();
        let mut per_file = Vec::new();
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
            per_file.push((n, t));
            self.info(
                &format!("heal, {n} fresh heartbeats + {n} locks"),
                format!(
                    "{:.1} ms ({:.1} µs/file)",
                    ms(t),
                    ms(t) * 1000.0 / (2 * n) as f64
                ),
                "linear",
                None,
            );
        }
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
                format!("{:.1} ms ({:.2} ms/op)", ms(t), ms(t) / (2 * n) as f64),
                "linear",
                None,
            );
        }
        if let (Some(first), Some(last)) = (per_file.first(), per_file.last()) {
            let growth = ms(last.1) / ms(first.1).max(1e-9);
            let size = last.0 as f64 / first.0 as f64;
            self.notes.push(format!(
                "fresh-file scan: {size:.0}x more files cost {growth:.1}x more time"
            ));
        }
        Ok(())
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
            format!("{:.1} ms", ms(t)),
            "report",
            None,
        );
        Ok(())
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| scenario | selfheal | floor | ratio | target | met |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for r in &self.rows {
            let ratio = r
                .ratio
                .map_or_else(|| "-".to_string(), |x| format!("{x:.2}x"));
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {ratio} | {} | {met} |",
                r.name, r.figure, r.floor, r.target
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n- {n}");
        }
        s
    }
}

fn fmt_counts(c: &[(String, u64)]) -> String {
    if c.is_empty() {
        return "none".into();
    }
    c.iter()
        .map(|(n, k)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}
