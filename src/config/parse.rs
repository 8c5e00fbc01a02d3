//! Reading the configuration file (a regular file, bounded, opened non-blocking) into a
//! [`Config`], an error naming the dotted key at fault, and the text forms of modes,
//! durations and sizes.

use super::schema::Config;
use crate::error::{Error, Result};
use crate::fsx::read_regular;
use std::path::Path;
use std::time::Duration;

/// The largest configuration or key file read.
pub const MAX_CONFIG_SIZE: u64 = 16 << 20;

pub(super) fn read_config(path: &Path) -> Result<String> {
    let bad = |why: String| Error::Config {
        file: path.to_path_buf(),
        key: "<file>".into(),
        why,
    };
    let bytes =
        read_regular(path, MAX_CONFIG_SIZE).map_err(|e| bad(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| bad("cannot read: it is not valid UTF-8".into()))
}

pub(super) fn parse_config(path: &Path, text: &str) -> Result<Config> {
    let bad = |key: String, why: String| Error::Config {
        file: path.to_path_buf(),
        key,
        why,
    };
    if !text.trim_start().starts_with('{') {
        return Err(bad(
            "<document>".into(),
            "the configuration must be one JSON object".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let config: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let why = e.inner().to_string();
        bad(error_key(&e.path().to_string(), &why), why)
    })?;
    de.end()
        .map_err(|e| bad("<document>".into(), e.to_string()))?;
    Ok(config)
}

/// The dotted key an error is about: the path where it happened, plus the field that
/// serde names as unknown or missing ("unknown field `x`"), so the message leads with it.
fn error_key(path: &str, why: &str) -> String {
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| why.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match (path, field) {
        (".", Some(f)) => f.to_string(),
        (".", None) => "<document>".to_string(),
        (p, Some(f)) if !p.ends_with(f) => format!("{p}.{f}"),
        (p, _) => p.to_string(),
    }
}

/// Parses `"0755"`-style octal modes (3 or 4 digits, at most 0o7777).
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_permissions(text: &str) -> std::result::Result<u32, String> {
    let ok = (3..=4).contains(&text.len()) && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(text, 8) {
        Ok(m) if ok => Ok(m),
        _ => Err(format!("{text:?} is not an octal mode like \"0644\"")),
    }
}

/// Parses durations like `"600s"`, `"10m"`, `"1h"`, `"7d"`, `"250ms"`.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("{text:?} is not a duration like \"600s\", \"10m\", \"1h\", \"7d\"")
    })?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (use ms, s, m, h or d)"
            ))
        }
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses sizes like `"512MiB"`, `"1GiB"`, `"4096"`.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size like \"512MiB\""))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (use B, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn units() {
        assert_eq!(parse_duration("600s"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("1PB").is_err());
        assert_eq!(parse_permissions("0755"), Ok(0o755));
        assert!(parse_permissions("0855").is_err());
        assert!(parse_permissions("75").is_err());
    }
}
