//! The root's `.env` file read the way python-dotenv (1.x, `load_dotenv` with its defaults)
//! reads it, so that selfheal and the reference bot agree on `TRADING_MODE`. Pure: the
//! caller reads the file and passes its text and the process environment.
//!
//! The bot asks for `python-dotenv>=1.0.0`, and two grammars of that range differ on edge
//! cases ([`Dialect`]): a caller that must not guess evaluates both and treats a
//! disagreement as doubt.
//!
//! The grammar is python-dotenv's, line by line: optional `export `, a key (unquoted, or in
//! single quotes), optional whitespace around `=`, a value that is unquoted (everything to
//! the end of the line, cut at a ` #` comment, trailing whitespace removed), single-quoted
//! (`\\` and `\'` decoded) or double-quoted (`\\ \' \" \a \b \f \n \r \t \v` decoded;
//! quoted values may span lines), then an optional comment. A line that does not parse is
//! skipped. A key without `=` has no value and is not set. Values then go through
//! python-dotenv's interpolation (`${NAME}` and `${NAME:-default}`, looked up in the
//! process environment first, then in the values defined above). The last definition of a
//! key wins. The text is read as Python's text mode reads it: UTF-8 (a byte order mark is
//! kept as a character), `\r\n` and `\r` turned into `\n`; "whitespace" is Python's
//! `str.isspace`.

use std::collections::HashMap;

/// The python-dotenv grammars of the 1.x range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// 1.0.0 to 1.2.2: a byte order mark is part of the first key; a quoted value closes at
    /// the first quote not preceded by a backslash (else at the last one); `KEY= #c` is the
    /// value `#c`.
    Legacy,
    /// 1.2.3 and later: a leading byte order mark is dropped; a backslash escapes any
    /// character inside quotes; `KEY= #c` (whitespace before `#`) is the empty value.
    Current,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 2] = [Dialect::Legacy, Dialect::Current];
}

/// What the file defines for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `KEY=value`: the value after decoding and interpolation.
    Set(String),
    /// `KEY` alone: python-dotenv sets nothing.
    Unset,
}

/// A parse that python-dotenv would turn into an exception when it sets the variables
/// (a NUL, or a `=` in a name): the bot would not start with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unloadable(pub String);

/// The value of `key` in `text` as `load_dotenv` would set it, with `env` looking up the
/// process environment (`None`: not set). `Ok(None)`: the file does not define `key`.
///
/// # Errors
/// [`Unloadable`] when loading the file would raise (python-dotenv refuses to set a name
/// holding `=` or NUL, or a value holding NUL, for any key not already in `env`).
pub fn lookup(
    text: &str,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    dialect: Dialect,
) -> Result<Option<Value>, Unloadable> {
    let mut defined: HashMap<String, Option<String>> = HashMap::new();
    for (name, raw) in parse(text, dialect)? {
        let value = raw.map(|v| interpolate(&v, &defined, env));
        if env(&name).is_none() {
            check_loadable(&name, value.as_deref())?;
        }
        defined.insert(name, value);
    }
    Ok(defined
        .remove(key)
        .map(|v| v.map_or(Value::Unset, Value::Set)))
}

fn check_loadable(name: &str, value: Option<&str>) -> Result<(), Unloadable> {
    if name.contains(['=', '\0']) {
        return Err(Unloadable(format!(
            "the name {name:?} cannot be set in the environment"
        )));
    }
    if value.is_some_and(|v| v.contains('\0')) {
        return Err(Unloadable(format!("the value of {name:?} holds a NUL")));
    }
    Ok(())
}

/// Python's `str.isspace`.
fn space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Whitespace within a line (`[^\S\r\n]`).
fn inline_space(c: char) -> bool {
    space(c) && c != '\n' && c != '\r'
}

/// Every binding of `text` with a key, in order: `(key, raw value)`.
///
/// # Errors
/// [`Unloadable`] when the text makes the quoted-value scans exceed a linear budget (a
/// file python-dotenv itself would take quadratic time over).
pub fn parse(text: &str, dialect: Dialect) -> Result<Vec<(String, Option<String>)>, Unloadable> {
    let mut normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    if dialect == Dialect::Current && normalized.starts_with('\u{feff}') {
        normalized.remove(0);
    }
    let chars: Vec<char> = normalized.chars().collect();
    let mut r = Reader {
        budget: chars.len().saturating_mul(SCAN_BUDGET).saturating_add(4096),
        chars,
        pos: 0,
        dialect,
    };
    let mut out = Vec::new();
    while r.pos < r.chars.len() {
        r.skip(space);
        if r.pos >= r.chars.len() {
            break;
        }
        match r.binding() {
            Ok(Some(b)) => out.push(b),
            Ok(None) => {}
            Err(()) => r.rest_of_line(),
        }
        if r.budget == 0 {
            return Err(Unloadable(
                "its quoted values are too tangled to read".into(),
            ));
        }
    }
    Ok(out)
}

/// Characters the quoted-value scans may visit per character of the file.
const SCAN_BUDGET: usize = 16;

struct Reader {
    chars: Vec<char>,
    pos: usize,
    dialect: Dialect,
    /// What the quoted-value scans may still visit (0: exhausted, stop).
    budget: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip(&mut self, f: fn(char) -> bool) {
        while self.peek().is_some_and(f) {
            self.pos += 1;
        }
    }

    fn rest_of_line(&mut self) {
        self.skip(|c| c != '\n');
        if self.peek() == Some('\n') {
            self.pos += 1;
        }
    }

    fn starts_with(&self, word: &str) -> bool {
        (self.pos..)
            .zip(word.chars())
            .all(|(i, w)| self.chars.get(i) == Some(&w))
    }

    /// One binding from the current position (leading whitespace already skipped).
    fn binding(&mut self) -> Result<Option<(String, Option<String>)>, ()> {
        if self.starts_with("export")
            && self
                .chars
                .get(self.pos + 6)
                .is_some_and(|c| inline_space(*c))
        {
            self.pos += 6;
            self.skip(inline_space);
        }
        let key = self.key()?;
        self.skip(inline_space);
        let value = if self.peek() == Some('=') {
            self.pos += 1;
            let after = self.pos;
            self.skip(inline_space);
            let spaced = self.pos > after;
            if spaced && self.peek() == Some('#') && self.dialect == Dialect::Current {
                Some(String::new())
            } else {
                Some(self.value()?)
            }
        } else {
            None
        };
        self.comment();
        self.skip(inline_space);
        match self.peek() {
            None => {}
            Some('\n') => self.pos += 1,
            Some(_) => return Err(()),
        }
        Ok(key.map(|k| (k, value)))
    }

    fn key(&mut self) -> Result<Option<String>, ()> {
        match self.peek() {
            Some('#') => Ok(None),
            Some('\'') => {
                let start = self.pos + 1;
                let len = self.chars[start..]
                    .iter()
                    .position(|c| *c == '\'')
                    .ok_or(())?;
                if len == 0 {
                    return Err(());
                }
                self.pos = start + len + 1;
                Ok(Some(self.chars[start..start + len].iter().collect()))
            }
            _ => {
                let start = self.pos;
                self.skip(|c| c != '=' && c != '#' && !space(c));
                if self.pos == start {
                    return Err(());
                }
                Ok(Some(self.chars[start..self.pos].iter().collect()))
            }
        }
    }

    fn value(&mut self) -> Result<String, ()> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                let body = self.quoted(q)?;
                Ok(if q == '\'' {
                    unescape(&body, "\\'")
                } else {
                    unescape(&body, "\\'\"abfnrtv")
                })
            }
            None | Some('\n') => Ok(String::new()),
            Some(_) => {
                let start = self.pos;
                self.skip(|c| c != '\n');
                let part: Vec<char> = self.chars[start..self.pos].to_vec();
                Ok(strip_comment(&part))
            }
        }
    }

    /// The body of `'…'` / `"…"` and the position after its closing quote.
    fn quoted(&mut self, q: char) -> Result<String, ()> {
        let open = self.pos;
        let close = match self.dialect {
            Dialect::Legacy => self.legacy_close(q),
            Dialect::Current => self.current_close(q),
        }
        .ok_or(())?;
        self.pos = close + 1;
        Ok(self.chars[open + 1..close].iter().collect())
    }

    /// Counts one step of a quoted-value scan; false once the budget is spent.
    fn step(&mut self) -> bool {
        self.budget = self.budget.saturating_sub(1);
        self.budget > 0
    }

    /// Where the regex `q((?:\\q|[^q])*)q` closes: at the first quote not preceded by a
    /// backslash, else (backtracking) at the last quote.
    fn legacy_close(&mut self, q: char) -> Option<usize> {
        let mut last = None;
        let mut i = self.pos + 1;
        while i < self.chars.len() && self.step() {
            if self.chars[i] == q {
                if i == self.pos + 1 || self.chars[i - 1] != '\\' {
                    return Some(i);
                }
                last = Some(i);
            }
            i += 1;
        }
        last.filter(|_| self.budget > 0)
    }

    /// Where the regex `q((?:\\.|[^q\\])*)q` closes: a backslash escapes any character.
    fn current_close(&mut self, q: char) -> Option<usize> {
        let mut i = self.pos + 1;
        while self.step() {
            match self.chars.get(i)? {
                '\\' => i += 2,
                c if *c == q => return Some(i),
                _ => i += 1,
            }
        }
        None
    }

    /// `(?:[^\S\r\n]*#[^\r\n]*)?`
    fn comment(&mut self) {
        let save = self.pos;
        self.skip(inline_space);
        if self.peek() == Some('#') {
            self.skip(|c| c != '\n');
        } else {
            self.pos = save;
        }
    }
}

/// `re.sub(r"\s+#.*", "", part).rstrip()`
fn strip_comment(part: &[char]) -> String {
    let cut = (0..part.len())
        .find(|&k| {
            space(part[k]) && {
                let next = part[k..].iter().position(|c| !space(*c));
                next.is_some_and(|n| part[k + n] == '#')
            }
        })
        .unwrap_or(part.len());
    let kept: String = part[..cut].iter().collect();
    kept.trim_end_matches(space).to_string()
}

/// Decodes `\x` for every `x` in `known` (python-dotenv's escape regexes).
fn unescape(body: &str, known: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut it = body.chars().peekable();
    while let Some(c) = it.next() {
        let next = it.peek().copied();
        match next.filter(|n| c == '\\' && known.contains(*n)) {
            Some(n) => {
                it.next();
                out.push(match n {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    other => other,
                });
            }
            None => out.push(c),
        }
    }
    out
}

/// python-dotenv's interpolation of `${NAME}` and `${NAME:-default}`: the process
/// environment first, then the values defined above (`KEY` alone counts as empty).
fn interpolate(
    value: &str,
    defined: &HashMap<String, Option<String>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    let chars: Vec<char> = value.chars().collect();
    let stops = Stops::of(&chars);
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < chars.len() {
        match variable(&chars, i, &stops) {
            Some((name, default, end)) => {
                let found = env(&name).map(Some).or_else(|| defined.get(&name).cloned());
                let text = match found {
                    Some(v) => v.unwrap_or_default(),
                    None => default.unwrap_or_default(),
                };
                out.push_str(&text);
                i = end;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// For each position, the next `}` or `:` and the next `}` at or after it (the length when
/// there is none): each `${` is then matched in constant time.
struct Stops {
    name_end: Vec<usize>,
    brace: Vec<usize>,
}

impl Stops {
    fn of(chars: &[char]) -> Stops {
        let n = chars.len();
        let (mut name_end, mut brace) = (vec![n; n + 1], vec![n; n + 1]);
        for i in (0..n).rev() {
            brace[i] = if chars[i] == '}' { i } else { brace[i + 1] };
            name_end[i] = if matches!(chars[i], '}' | ':') {
                i
            } else {
                name_end[i + 1]
            };
        }
        Stops { name_end, brace }
    }
}

/// `\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}` at `i`: name, default, end.
fn variable(chars: &[char], i: usize, stops: &Stops) -> Option<(String, Option<String>, usize)> {
    if chars.get(i) != Some(&'$') || chars.get(i + 1) != Some(&'{') {
        return None;
    }
    let start = i + 2;
    let after = stops.name_end[start];
    let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    match chars.get(after) {
        Some('}') => Some((text(start, after), None, after + 1)),
        Some(':') if chars.get(after + 1) == Some(&'-') => {
            let d = after + 2;
            let close = stops.brace[d];
            (close < chars.len()).then(|| (text(start, after), Some(text(d, close)), close + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Env<'a> = &'a [(&'a str, &'a str)];

    fn get(text: &str, env: Env<'_>, dialect: Dialect) -> Option<Value> {
        let look = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        lookup(text, "TRADING_MODE", &look, dialect).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    fn s(v: &str) -> Option<Value> {
        Some(Value::Set(v.to_string()))
    }

    const U: Option<Value> = Some(Value::Unset);

    /// `(text, environment, legacy, current)`: the expected values are what python-dotenv
    /// 1.2.1 and 1.2.4 (`DotEnv(path, override=False).dict()`) give for the same file.
    #[test]
    fn python_dotenv_table() {
        let cases: &[(&str, Env<'_>, Option<Value>, Option<Value>)] = &[
            ("TRADING_MODE=paper\n", &[], s("paper"), s("paper")),
            ("TRADING_MODE=paper", &[], s("paper"), s("paper")),
            ("TRADING_MODE = paper \n", &[], s("paper"), s("paper")),
            ("export TRADING_MODE=PAPER\n", &[], s("PAPER"), s("PAPER")),
            ("export\tTRADING_MODE=paper\n", &[], s("paper"), s("paper")),
            ("exportTRADING_MODE=paper\n", &[], None, None),
            ("TRADING_MODE='paper '\n", &[], s("paper "), s("paper ")),
            ("TRADING_MODE=' paper'\n", &[], s(" paper"), s(" paper")),
            ("TRADING_MODE=\"paper\" # c\n", &[], s("paper"), s("paper")),
            ("TRADING_MODE=\"paper\"x\n", &[], None, None),
            (
                "TRADING_MODE=paper # comment\n",
                &[],
                s("paper"),
                s("paper"),
            ),
            ("TRADING_MODE=paper#x\n", &[], s("paper#x"), s("paper#x")),
            ("TRADING_MODE=paper\t#x\n", &[], s("paper"), s("paper")),
            ("TRADING_MODE= # comment\n", &[], s("# comment"), s("")),
            ("TRADING_MODE= #paper\n", &[], s("#paper"), s("")),
            ("TRADING_MODE=#paper\n", &[], s("#paper"), s("#paper")),
            (
                "# TRADING_MODE=real\nTRADING_MODE=paper\n",
                &[],
                s("paper"),
                s("paper"),
            ),
            (
                "TRADING_MODE=real\nTRADING_MODE=paper\n",
                &[],
                s("paper"),
                s("paper"),
            ),
            (
                "TRADING_MODE=paper\nTRADING_MODE=real\n",
                &[],
                s("real"),
                s("real"),
            ),
            ("TRADING_MODE=paper\nTRADING_MODE\n", &[], U, U),
            ("TRADING_MODE\n", &[], U, U),
            ("TRADING_MODE=\n", &[], s(""), s("")),
            ("TRADING_MODE paper\n", &[], None, None),
            ("'TRADING_MODE'=paper\n", &[], s("paper"), s("paper")),
            ("\u{feff}TRADING_MODE=paper\n", &[], None, s("paper")),
            ("\u{feff}TRADING_MODE=real\n", &[], None, s("real")),
            ("TRADING_MODE=paper\r\n", &[], s("paper"), s("paper")),
            ("X=1\rTRADING_MODE=paper\r", &[], s("paper"), s("paper")),
            (
                "TRADING_MODE=\"pa\\\"per\"\n",
                &[],
                s("pa\"per"),
                s("pa\"per"),
            ),
            (
                "TRADING_MODE=\"pa\\nper\"\n",
                &[],
                s("pa\nper"),
                s("pa\nper"),
            ),
            ("TRADING_MODE='pa\\'per'\n", &[], s("pa'per"), s("pa'per")),
            (
                "TRADING_MODE=\"multi\nline\"\n",
                &[],
                s("multi\nline"),
                s("multi\nline"),
            ),
            ("TRADING_MODE=\"unterminated\nX=1\n", &[], None, None),
            ("TRADING_MODE=\"a\\\"\n", &[], s("a\\"), None),
            (
                "TRADING_MODE=\"paper\\\\\"\n",
                &[],
                s("paper\\"),
                s("paper\\"),
            ),
            ("TRADING_MODE=\"x\\\\\" y\"\n", &[], s("x\\\" y"), None),
            ("M=paper\nTRADING_MODE=${M}\n", &[], s("paper"), s("paper")),
            ("TRADING_MODE=${NOPE:-paper}\n", &[], s("paper"), s("paper")),
            (
                "TRADING_MODE='${NOPE:-paper}'\n",
                &[],
                s("paper"),
                s("paper"),
            ),
            (
                "TRADING_MODE=${NOPE:x}\n",
                &[],
                s("${NOPE:x}"),
                s("${NOPE:x}"),
            ),
            ("TRADING_MODE=${NOPE}paper\n", &[], s("paper"), s("paper")),
            (
                "TRADING_MODE=paper \u{a0}# c\n",
                &[],
                s("paper"),
                s("paper"),
            ),
            ("TRADING_MODE=paper\u{1c}\n", &[], s("paper"), s("paper")),
            ("   \n\n  TRADING_MODE=paper", &[], s("paper"), s("paper")),
            ("=paper\nTRADING_MODE=real\n", &[], s("real"), s("real")),
            (
                "M=real\nTRADING_MODE=${M}\n",
                &[("M", "paper")],
                s("paper"),
                s("paper"),
            ),
            ("M=real\nTRADING_MODE=${M}\n", &[], s("real"), s("real")),
            ("M\nTRADING_MODE=${M:-paper}\n", &[], s(""), s("")),
            ("TRADING_MODE=Paper\n", &[], s("Paper"), s("Paper")),
            ("trading_mode=paper\n", &[], None, None),
        ];
        for (text, env, legacy, current) in cases {
            assert_eq!(&get(text, env, Dialect::Legacy), legacy, "legacy {text:?}");
            assert_eq!(
                &get(text, env, Dialect::Current),
                current,
                "current {text:?}"
            );
        }
    }

    #[test]
    fn adversarial_files_stay_linear() {
        let none = |_: &str| None;
        let escaped = "A=\"\\\"\n".repeat(100_000);
        let t = std::time::Instant::now();
        for d in Dialect::ALL {
            let _ = lookup(&escaped, "TRADING_MODE", &none, d);
        }
        let vars = format!("TRADING_MODE={}\n", "${".repeat(200_000));
        assert_eq!(
            lookup(&vars, "TRADING_MODE", &none, Dialect::Current),
            Ok(Some(Value::Set("${".repeat(200_000))))
        );
        let keys: String = (0..100_000).map(|i| format!("K{i}=v\n")).collect();
        assert_eq!(
            lookup(&keys, "K99999", &none, Dialect::Legacy),
            Ok(Some(Value::Set("v".into())))
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn unloadable_files() {
        let none = |_: &str| None;
        let d = Dialect::Current;
        assert!(lookup("'A=B'=1\n", "TRADING_MODE", &none, d).is_err());
        assert!(lookup("A=\"x\\0\"\n", "TRADING_MODE", &none, d).is_ok());
        assert!(lookup("A=\"x\0\"\n", "TRADING_MODE", &none, d).is_err());
        let a_set = |k: &str| (k == "A").then(|| "1".to_string());
        assert!(lookup("A=\"x\0\"\n", "TRADING_MODE", &a_set, d).is_ok());
    }
}
