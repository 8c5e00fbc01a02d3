//! Backup object vectors (SPEC.md section 2): a full object, a delta
//! against it, and deltas a reader must refuse. `vectors/objects/MANIFEST.json` gives each
//! file's name (the SHA-256 of its content), the recorded content size and the outcome of
//! reading it by the section's rules: `ok`, or the reason it is refused. The test reads
//! them with zstd as the rules say (header, limits, base as a full object, prefix decode,
//! digest). `UPDATE_VECTORS=1` rewrites the files from the builders below; without it the
//! committed headers must equal the builders' (the compressed frames may differ between
//! zstd versions; what they decode to may not).

#![allow(clippy::disallowed_methods)] // writes vectors under UPDATE_VECTORS, never a state root

use journal_format::*;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/objects")
}

fn sha(bytes: &[u8]) -> Digest {
    Digest(Sha256::digest(bytes).into())
}

/// The base's content: a positions file of 60 records.
fn base_content() -> Vec<u8> {
    let recs: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "{{\"symbol\": \"BTC-USDT\", \"order_id\": \"o{i}\", \"size\": {}.5}}",
                i * 3
            )
        })
        .collect();
    format!("{{\"closed_positions\": [{}]}}", recs.join(", ")).into_bytes()
}

/// The delta's content: the base cut inside its last record, then closed (a salvage).
fn delta_content() -> Vec<u8> {
    let base = base_content();
    let cut = base.len() - 40;
    let mut v = base[..cut].to_vec();
    v.truncate(v.iter().rposition(|&b| b == b'}').expect("a record") + 1);
    v.extend_from_slice(b"]}");
    v
}

fn full(content: &[u8]) -> Vec<u8> {
    let mut c = zstd::bulk::Compressor::new(3).expect("cctx");
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .expect("checksum");
    c.compress(content).expect("compress")
}

fn delta(content: &[u8], base: &[u8], header: DeltaHeader) -> Vec<u8> {
    use zstd::zstd_safe::CParameter as P;
    let mut cctx = zstd::zstd_safe::CCtx::create();
    let window = delta_window_log(content.len() as u64, base.len() as u64);
    for p in [
        P::CompressionLevel(3),
        P::ChecksumFlag(true),
        P::ContentSizeFlag(true),
        P::WindowLog(window),
        P::EnableLongDistanceMatching(true),
    ] {
        cctx.set_parameter(p).expect("parameter");
    }
    cctx.ref_prefix(base).expect("prefix");
    let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(content.len()));
    cctx.compress2(&mut frame, content).expect("compress");
    let mut out = header.encode().to_vec();
    out.extend_from_slice(&frame);
    out
}

/// Every vector: file name -> (bytes, name digest, recorded size, outcome).
fn build() -> BTreeMap<&'static str, (Vec<u8>, Digest, u64, &'static str)> {
    let (base, content) = (base_content(), delta_content());
    let (base_sha, content_sha) = (sha(&base), sha(&content));
    let size = content.len() as u64;
    let header = DeltaHeader {
        base: base_sha,
        base_size: base.len() as u64,
    };
    let good = delta(&content, &base, header);
    let with_header = |h: [u8; DELTA_HEADER_LEN]| {
        let mut v = h.to_vec();
        v.extend_from_slice(good.get(DELTA_HEADER_LEN..).expect("frame"));
        v
    };
    let mut kind = header.encode();
    kind[8] = 2;
    let mut len = header.encode();
    len[4] = 40;
    let self_base = DeltaHeader {
        base: content_sha,
        ..header
    };
    let too_large = DeltaHeader {
        base_size: size * MAX_BASE_RATIO + 1,
        ..header
    };
    let mut flipped = good.clone();
    if let Some(b) = flipped.last_mut() {
        *b ^= 1;
    }
    let base_size = base.len() as u64;
    BTreeMap::from([
        ("base.zst", (full(&base), base_sha, base_size, "ok")),
        ("delta.zst", (good.clone(), content_sha, size, "ok")),
        (
            "delta-unknown-kind.zst",
            (with_header(kind), content_sha, size, "unknown_kind"),
        ),
        (
            "delta-bad-length.zst",
            (with_header(len), content_sha, size, "bad_length"),
        ),
        (
            "delta-truncated-header.zst",
            (good[..20].to_vec(), content_sha, size, "truncated"),
        ),
        (
            "delta-self-base.zst",
            (
                with_header(self_base.encode()),
                content_sha,
                size,
                "self_base",
            ),
        ),
        (
            "delta-base-too-large.zst",
            (
                with_header(too_large.encode()),
                content_sha,
                size,
                "base_too_large",
            ),
        ),
        (
            "delta-flipped-bit.zst",
            (flipped, content_sha, size, "decode"),
        ),
    ])
}

/// Reads object `bytes` named `name` of `size` bytes by SPEC.md's rules, with `base` the
/// full object file of the base vector: `ok` or why not.
fn read(bytes: &[u8], name: &Digest, size: u64, base: &[u8]) -> &'static str {
    let decoded = match parse_object(bytes) {
        Err(ObjectError::Truncated) => return "truncated",
        Err(ObjectError::BadLength(_)) => return "bad_length",
        Err(ObjectError::UnknownKind(_)) => return "unknown_kind",
        Err(_) => return "other",
        Ok(ObjectKind::Full(frame)) => zstd::bulk::decompress(frame, size as usize + 1),
        Ok(ObjectKind::Delta(h, frame)) => {
            match check_delta(&h, name, size) {
                Err(ObjectError::SelfBase) => return "self_base",
                Err(ObjectError::BaseTooLarge { .. }) => return "base_too_large",
                Err(_) => return "other",
                Ok(()) => {}
            }
            let Ok(ObjectKind::Full(base_frame)) = parse_object(base) else {
                return "base_not_full";
            };
            let base = zstd::bulk::decompress(base_frame, h.base_size as usize).expect("base");
            assert_eq!(sha(&base), h.base, "the base vector is the delta's base");
            let mut dctx = zstd::zstd_safe::DCtx::create();
            dctx.ref_prefix(&base).expect("prefix");
            let mut out = Vec::with_capacity(size as usize);
            match dctx.decompress(&mut out, frame) {
                Ok(_) => Ok(out),
                Err(_) => return "decode",
            }
        }
    };
    match decoded {
        Ok(out) if out.len() as u64 == size && sha(&out) == *name => "ok",
        Ok(_) => "checksum",
        Err(_) => "decode",
    }
}

#[test]
fn object_vectors() {
    let built = build();
    let update = std::env::var_os("UPDATE_VECTORS").is_some();
    let manifest: BTreeMap<String, Value> = built
        .iter()
        .map(|(name, (_, sha, size, outcome))| {
            let v = json!({"name": sha.to_hex(), "size": size, "outcome": outcome});
            (name.to_string(), v)
        })
        .collect();
    if update {
        std::fs::create_dir_all(dir()).expect("dir");
        for (name, (bytes, ..)) in &built {
            std::fs::write(dir().join(name), bytes).expect("write vector");
        }
        let text = serde_json::to_string_pretty(&manifest).expect("json") + "\n";
        std::fs::write(dir().join("MANIFEST.json"), text).expect("write manifest");
    }
    let committed: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(dir().join("MANIFEST.json")).expect("manifest"))
            .expect("manifest json");
    assert_eq!(committed, manifest, "MANIFEST.json matches the builders");
    let base = std::fs::read(dir().join("base.zst")).expect("base vector");
    for (name, (bytes, sha, size, outcome)) in &built {
        let file = std::fs::read(dir().join(name)).expect("vector");
        let head = |b: &[u8]| b.get(..DELTA_HEADER_LEN.min(b.len())).map(<[u8]>::to_vec);
        assert_eq!(head(&file), head(bytes), "{name}: header as built");
        assert_eq!(read(&file, sha, *size, &base), *outcome, "{name}");
    }
}
