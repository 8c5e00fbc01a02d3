//! Text copied from state files into messages, alerts and the terminal. Everything a file
//! can contain is untrusted: [`clean`] turns every control character (C0, DEL, C1) into a
//! visible escape so none reaches a log line or a terminal, and [`excerpt`] also bounds the
//! length. Nothing here allocates more than the bounded output. [`count`] words a number
//! with its noun in the right number, for every count a user reads.

/// Replaces every control character with a visible escape (`\n`, `\u{1b}`, ...).
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`clean`], cut to at most `max` characters of the original (`...` marks the cut).
pub fn excerpt(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    let mut out = clean(&head);
    if chars.next().is_some() {
        out.push_str("...");
    }
    out
}

/// `1 issue`, `2 issues`, `0 issues`: a count with its noun in the right number.
pub fn count(n: impl std::fmt::Display, one: &str, many: &str) -> String {
    let n = n.to_string();
    let noun = if n == "1" { one } else { many };
    format!("{n} {noun}")
}

/// Cleans every string (keys included) inside a JSON value.
pub fn clean_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) if s.chars().any(char::is_control) => *s = clean(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(clean_json),
        serde_json::Value::Object(map) => {
            if map.keys().any(|k| k.chars().any(char::is_control)) {
                let old = std::mem::take(map);
                for (k, v) in old {
                    map.insert(clean(&k), v);
                }
            }
            map.values_mut().for_each(clean_json);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_control_character_survives() {
        let cases: &[(&str, &str)] = &[
            ("BTC-USDT", "BTC-USDT"),
            ("a\nb", "a\\nb"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("c1\u{9b}x", "c1\\u{9b}x"),
            ("del\u{7f}", "del\\u{7f}"),
            ("tab\there", "tab\\there"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), *want, "input: {input:?}");
            assert!(!clean(input).chars().any(char::is_control));
        }
    }

    #[test]
    fn counts_agree_with_their_noun() {
        let cases: &[(u64, &str)] = &[(0, "0 issues"), (1, "1 issue"), (2, "2 issues")];
        for (n, want) in cases {
            assert_eq!(count(n, "issue", "issues"), *want, "input: {n}");
        }
        assert_eq!(count(1usize, "entry", "entries"), "1 entry");
        assert_eq!(count(11usize, "entry", "entries"), "11 entries");
    }

    #[test]
    fn excerpt_bounds_length() {
        assert_eq!(excerpt("abcdef", 3), "abc...");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("\u{1b}bc", 2), "\\u{1b}b...");
    }

    #[test]
    fn json_strings_and_keys_are_cleaned() {
        let mut v = serde_json::json!({"k\u{1b}": ["x\u{9b}", {"y": "\n"}], "n": 1});
        clean_json(&mut v);
        let text = v.to_string();
        assert!(!text.chars().any(char::is_control), "{text}");
        assert_eq!(v["k\\u{1b}"][1]["y"], "\\n");
    }
}
