//! The strict scanner against serde_json and on its own edge cases.

use super::strings::unescape;
use super::words::{fast_f64, has_special, non_digits};
use crate::jsondoc::{Extract, Spec, Val};

use super::*;

fn ok(text: &str) -> bool {
    document(text.as_bytes(), &Spec::default()).is_ok()
}

/// The scanner accepts and refuses exactly what serde_json does, on a table of edge cases.
#[test]
fn agrees_with_serde_json() {
    let cases = [
        "{}",
        "{\"a\":1}",
        "{\"a\":-0.5e+10}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":\"\\u00e9\\n\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":[1,2,]}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":tru}",
        "{\"a\":true}",
        "{\"a\":null} x",
        "{\"a\":1}\n",
        " {\"a\":[{},[]]} ",
        "{\"a\":\"é\"}",
        "[1,2]",
        "\"s\"",
        "3",
        "{\"a\":1e5}",
    ];
    for c in cases {
        let serde = serde_json::from_str::<serde_json::Value>(c).is_ok();
        assert_eq!(ok(c), serde, "input: {c:?}");
    }
    assert!(document(b"{\"a\":\"\xff\"}", &Spec::default()).is_err());
}

/// Python's `NaN`, `Infinity` and `-Infinity` are numbers; nothing else spelled like
/// them is, and a cut token is broken.
#[test]
fn python_non_finite_numbers() {
    let ex = Extract {
        fields: vec!["p".into()],
        sub_fields: vec![Vec::new()],
        common: 1,
    };
    let arrays = vec!["r".to_string()];
    let spec = Spec {
        record_arrays: &arrays,
        extract: Some(&ex),
        ..Spec::default()
    };
    for (token, want) in [
        ("NaN", f64::NAN),
        ("Infinity", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
    ] {
        let text = format!("{{\"t\":{token},\"r\":[{{\"p\": {token}}}, [{token}]]}}");
        let Ok(Top::Object(doc)) = document(text.as_bytes(), &spec) else {
            panic!("{text} is valid");
        };
        let got = doc.top("t").as_num().unwrap_or(0.0);
        assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        let rec = doc.records("r").and_then(|r| r.first()).cloned();
        let p = rec.and_then(|r| r.values.first().and_then(Val::as_num));
        assert_eq!(p.map(f64::to_bits), Some(want.to_bits()), "{text}");
        assert!(ok(&format!("{{\"a\": [{token}, 1]}}")), "{token} skipped");
        assert!(matches!(
            document(token.as_bytes(), &spec),
            Ok(Top::NotObject("a number"))
        ));
    }
    for bad in [
        "{\"a\":nan}",
        "{\"a\":-NaN}",
        "{\"a\":+Infinity}",
        "{\"a\":infinity}",
        "{\"a\":Inf}",
        "{\"a\":NaNa}",
        "{\"a\":Infinity1}",
        "{\"a\":--Infinity}",
        "{\"a\":[1,Nan]}",
        "{NaN:1}",
    ] {
        let e = document(bad.as_bytes(), &Spec::default()).err();
        assert!(e.is_some_and(|e| !e.unusable), "input: {bad}");
    }
    for cut in [
        "{\"a\":Na",
        "{\"a\":-Inf",
        "{\"a\":Infinit",
        "{\"a\":N",
        "{\"a\":-",
    ] {
        let e = document(cut.as_bytes(), &Spec::default()).err();
        assert!(e.is_some_and(|e| !e.unusable), "input: {cut}");
    }
}

#[test]
fn unusable_documents() {
    for c in [
        "{\"a\":1e400}",
        "{\"a\":{\"b\":1,\"b\":2}}",
        "{\"a\":[-1e999]}",
    ] {
        let e = document(c.as_bytes(), &Spec::default()).err();
        assert!(e.is_some_and(|e| e.unusable), "input: {c}");
    }
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    assert!(document(deep.as_bytes(), &Spec::default())
        .err()
        .is_some_and(|e| e.unusable));
    let fine = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    assert!(document(fine.as_bytes(), &Spec::default()).is_ok());
}

/// A document that is cut short (or otherwise broken) after something unusable is
/// broken, never unusable: unusable means syntactically valid.
#[test]
fn broken_after_unusable_is_broken() {
    for c in [
        format!("{{\"a\":{}1", "[".repeat(200)),
        format!("{{\"a\":{}1{},", "[".repeat(200), "]".repeat(200)),
        "{\"a\":{\"b\":1,\"b\":2},\"c\":".to_string(),
        "{\"a\":1e400,\"c\":[1,".to_string(),
        "{\"a\":1,\"a\":2} x".to_string(),
    ] {
        let e = document(c.as_bytes(), &Spec::default()).err();
        assert!(e.is_some_and(|e| !e.unusable), "input: {c:.60}");
    }
}

#[test]
fn word_classes() {
    for b in 0u8..=255 {
        let mut w = [b'a'; 8];
        w[3] = b;
        let special = b < 0x20 || b == b'"' || b == b'\\' || b >= 0x80;
        assert_eq!(has_special(u64::from_le_bytes(w)), special, "byte {b}");
    }
}

#[test]
fn digit_words() {
    for b in 0u8..=255 {
        let mut w = [b'7'; 8];
        w[5] = b;
        let stop = non_digits(u64::from_le_bytes(w));
        let want = if b.is_ascii_digit() { 0 } else { 0x80 << 40 };
        assert_eq!(stop, want, "byte {b}");
    }
    let mut s = Scanner {
        b: b"1234567890123.5",
        i: 0,
        keys: Vec::new(),
        slots: Vec::new(),
        cache: Vec::new(),
        keep: false,
        spans: Vec::new(),
        cut: (Vec::new(), None),
        known: None,
    };
    s.digits();
    assert_eq!(s.i, 13);
}

/// The fast path gives exactly what the general parser gives, or steps aside.
#[test]
fn fast_numbers_are_exact() {
    let cases = [
        "0",
        "-0",
        "1",
        "0.1",
        "0.3",
        "-123.456",
        "1764600000.999",
        "9007199254740991",
        "9007199254740993",
        "0.0000000000000000000001",
        "0.00000000000000000000001",
        "12345678901234567890",
        "99999999999999999999",
        "-8888888888888888888888888",
        "1.7976931348623157",
        "1e5",
        "60000.123456",
    ];
    for c in cases {
        let want: f64 = c.parse().unwrap_or(f64::NAN);
        match fast_f64(c.as_bytes()) {
            Some(got) => assert_eq!(got.to_bits(), want.to_bits(), "{c}"),
            None => assert!(
                c.contains('e') || c.len() >= 16,
                "{c} should take the fast path"
            ),
        }
    }
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let text = format!("{}.{:0w$}", rng % 100_000, rng % 1_000_000, w = 6);
        let want: f64 = text.parse().unwrap_or(f64::NAN);
        assert_eq!(
            fast_f64(text.as_bytes()).map(f64::to_bits),
            Some(want.to_bits())
        );
    }
}

/// A record repeating the previous one's keys is still checked for duplicates, and a
/// schema change after repeats is scanned normally.
#[test]
fn repeated_schema_still_validated() {
    let arrays = vec!["r".to_string()];
    let spec = Spec {
        record_arrays: &arrays,
        ..Spec::default()
    };
    let ok = b"{\"r\":[{\"a\":1,\"b\":2},{\"a\":1,\"b\":2},{\"a\":1,\"c\":2,\"d\":3}]}";
    assert!(document(ok, &spec).is_ok());
    let dup = b"{\"r\":[{\"a\":1,\"b\":2},{\"a\":1,\"a\":2}]}";
    assert!(document(dup, &spec).err().is_some_and(|e| e.unusable));
    let dup2 = b"{\"r\":[{\"a\":1,\"b\":2},{\"a\":1,\"b\":2,\"b\":3}]}";
    assert!(document(dup2, &spec).err().is_some_and(|e| e.unusable));
    let cut = b"{\"r\":[{\"ab\":1},{\"ab";
    assert!(document(cut, &spec).is_err());
    let bad = b"{\"r\":[{\"ab\":1},{\"ab\\\":1}]}";
    assert!(document(bad, &spec).is_err());
}

#[test]
fn unescapes() {
    assert_eq!(
        unescape("a\\nb\\u00e9\\ud83d\\ude00\\ud800x"),
        "a\nbé😀\u{FFFD}x"
    );
}
