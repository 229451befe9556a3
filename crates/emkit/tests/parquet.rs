//! Parquet input: files written here by the `parquet` crate's own writer, in
//! many row groups and pages, every numeric type and codec, read back whole
//! and in arbitrary ranges from several threads; and the refusals.
#![cfg(feature = "parquet")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emkit::io::{read_parquet, read_table, ParquetSource, RowSource};
use emkit::Error;
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType,
    FloatType, Int32Type, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("emkit-parquet-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The eight numeric columns of [`write_all_types`]: name and the value in row `i`.
const TYPED: &str = "message m {
    required boolean flag;
    required int32 small (INTEGER(8, true));
    required int32 count (INTEGER(32, false));
    required int64 big;
    required int64 ubig (INTEGER(64, false));
    required float single;
    optional double double;
    required fixed_len_byte_array(2) half (FLOAT16);
}";

fn expected_row(i: usize) -> [f64; 8] {
    let i = i as i64;
    [
        (i % 3 == 0) as u8 as f64,
        ((i * 37) % 256 - 128) as f64,
        (u32::MAX - i as u32) as f64,
        (-(i * i * 1_000_003)) as f64,
        (u64::MAX - i as u64) as f64,
        (i as f32 * 0.25 - 3.0) as f64,
        (i as f64).sqrt() * 1e-3 - 7.0,
        // Halves: integers up to 2048 are exact.
        (i % 2048) as f64 - 1000.0,
    ]
}

/// A half-precision encoding of an integer in -1024..=1048.
fn half_bits(v: f64) -> [u8; 2] {
    assert!(v == v.trunc() && v.abs() <= 2048.0);
    if v == 0.0 {
        return [0, 0];
    }
    let sign: u16 = if v < 0.0 { 0x8000 } else { 0 };
    let a = v.abs();
    let e = a.log2().floor() as i32;
    let frac = ((a / 2f64.powi(e) - 1.0) * 1024.0).round() as u16;
    let bits = sign | (((e + 15) as u16) << 10) | frac;
    bits.to_le_bytes()
}

/// Writes `n` rows of [`TYPED`] in row groups of `group` rows and pages of
/// `page` rows.
fn write_all_types(path: &Path, n: usize, group: usize, page: usize, codec: Compression) {
    let schema = Arc::new(parse_message_type(TYPED).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(codec)
            .set_data_page_row_count_limit(page)
            .set_write_batch_size(page)
            .build(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
    for start in (0..n).step_by(group) {
        let rows: Vec<[f64; 8]> = (start..(start + group).min(n)).map(expected_row).collect();
        let col = |j: usize| rows.iter().map(move |r| r[j]);
        let mut rg = writer.next_row_group().unwrap();
        let mut j = 0;
        while let Some(mut c) = rg.next_column().unwrap() {
            match j {
                0 => {
                    let v: Vec<bool> = col(0).map(|x| x == 1.0).collect();
                    c.typed::<BoolType>().write_batch(&v, None, None).unwrap();
                }
                1 => {
                    let v: Vec<i32> = col(1).map(|x| x as i32).collect();
                    c.typed::<Int32Type>().write_batch(&v, None, None).unwrap();
                }
                2 => {
                    let v: Vec<i32> = col(2).map(|x| x as u32 as i32).collect();
                    c.typed::<Int32Type>().write_batch(&v, None, None).unwrap();
                }
                3 => {
                    let v: Vec<i64> = col(3).map(|x| x as i64).collect();
                    c.typed::<Int64Type>().write_batch(&v, None, None).unwrap();
                }
                4 => {
                    let v: Vec<i64> = (start..start + rows.len())
                        .map(|i| (u64::MAX - i as u64) as i64)
                        .collect();
                    c.typed::<Int64Type>().write_batch(&v, None, None).unwrap();
                }
                5 => {
                    let v: Vec<f32> = col(5).map(|x| x as f32).collect();
                    c.typed::<FloatType>().write_batch(&v, None, None).unwrap();
                }
                6 => {
                    // Optional, with no nulls: definition levels all 1.
                    let v: Vec<f64> = col(6).collect();
                    let def = vec![1i16; v.len()];
                    c.typed::<DoubleType>()
                        .write_batch(&v, Some(&def), None)
                        .unwrap();
                }
                _ => {
                    let v: Vec<FixedLenByteArray> = col(7)
                        .map(|x| FixedLenByteArray::from(ByteArray::from(half_bits(x).to_vec())))
                        .collect();
                    c.typed::<FixedLenByteArrayType>()
                        .write_batch(&v, None, None)
                        .unwrap();
                }
            }
            c.close().unwrap();
            j += 1;
        }
        rg.close().unwrap();
    }
    writer.close().unwrap();
}

fn expected(n: usize) -> Vec<f64> {
    (0..n).flat_map(expected_row).collect()
}

#[test]
fn every_numeric_type_and_codec_reads_back_exactly() {
    let dir = Dir::new("types");
    let codecs = [
        ("none", Compression::UNCOMPRESSED),
        ("snappy", Compression::SNAPPY),
        ("zstd", Compression::ZSTD(ZstdLevel::default())),
        ("gzip", Compression::GZIP(Default::default())),
        ("lz4", Compression::LZ4_RAW),
    ];
    for (name, codec) in codecs {
        let path = dir.path(&format!("{name}.parquet"));
        // 1000 rows: row groups of 300 (the last one short), pages of 7 rows.
        write_all_types(&path, 1000, 300, 7, codec);
        let t = read_parquet(&path, None).unwrap();
        assert_eq!(
            t.names,
            ["flag", "small", "count", "big", "ubig", "single", "double", "half"]
        );
        assert_eq!((t.data.n_rows(), t.data.n_cols()), (1000, 8));
        assert_eq!(t.data.values(), &expected(1000)[..], "{name}");
        // read_table dispatches on the extension, and picks columns by name.
        let picked = vec!["half".to_string(), "flag".to_string()];
        let t = read_table(&path, Some(&picked)).unwrap();
        let want: Vec<f64> = (0..1000)
            .flat_map(|i| {
                let r = expected_row(i);
                [r[7], r[0]]
            })
            .collect();
        assert_eq!(t.data.values(), &want[..]);
    }
}

#[test]
fn any_range_from_any_thread_is_the_same_rows() {
    let dir = Dir::new("ranges");
    let path = dir.path("r.parquet");
    let n = 5000;
    write_all_types(&path, n, 1100, 64, Compression::SNAPPY);
    let src = ParquetSource::open(&path, None).unwrap();
    assert_eq!(src.n_row_groups(), 5);
    assert_eq!((src.n_rows(), src.n_cols()), (n, 8));
    let all = expected(n);
    // Ranges inside a page, across pages, across row groups, backwards,
    // repeated, and continuing where the last one stopped.
    let ranges = [
        (0, 1),
        (1, 63),
        (64, 1100),
        (1099, 2),
        (4999, 1),
        (10, 4990),
        (2000, 500),
        (2500, 500),
        (3, 3),
        (0, n),
    ];
    let mut out = Vec::new();
    for (start, rows) in ranges {
        src.read_rows(start, rows, &mut out).unwrap();
        assert_eq!(out, all[start * 8..(start + rows) * 8], "{start}+{rows}");
    }
    // Four threads reading interleaved blocks in order, as E-step tasks do.
    std::thread::scope(|s| {
        for t in 0..4 {
            let (src, all) = (&src, &all);
            s.spawn(move || {
                let mut out = Vec::new();
                for pass in 0..2 {
                    let mut start = t * 1250;
                    while start < (t + 1) * 1250 {
                        let rows = 97.min((t + 1) * 1250 - start);
                        src.read_rows(start, rows, &mut out).unwrap();
                        assert_eq!(out, all[start * 8..(start + rows) * 8], "pass {pass}");
                        start += rows;
                    }
                }
            });
        }
    });
}

/// Writes one optional double column `x` (null where `values` is `None`) and
/// a text column `label`.
fn write_nullable(path: &Path, values: &[Option<f64>]) {
    let schema = Arc::new(
        parse_message_type("message m { optional double x; required binary label (STRING); }")
            .unwrap(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, Default::default()).unwrap();
    let mut rg = writer.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let def: Vec<i16> = values.iter().map(|v| v.is_some() as i16).collect();
    c.typed::<DoubleType>()
        .write_batch(&present, Some(&def), None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    let labels: Vec<ByteArray> = values.iter().map(|_| ByteArray::from("a")).collect();
    c.typed::<ByteArrayType>()
        .write_batch(&labels, None, None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    writer.close().unwrap();
}

fn parquet_problem(e: Error) -> String {
    match e {
        Error::Parquet { problem } => problem,
        other => panic!("expected a Parquet error, got {other:?}"),
    }
}

#[test]
fn nulls_text_columns_and_bad_names_are_refused_by_name() {
    let dir = Dir::new("refuse");
    let path = dir.path("n.parquet");
    write_nullable(&path, &[Some(1.0), Some(2.0), None, Some(4.0)]);
    let x = vec!["x".to_string()];
    let p = parquet_problem(read_parquet(&path, Some(&x)).unwrap_err());
    assert!(
        p.contains("row 2 (0-based)") && p.contains("\"x\" is null"),
        "{p}"
    );
    // Without --columns the text column is named, with the numeric ones.
    let p = parquet_problem(read_parquet(&path, None).unwrap_err());
    assert!(
        p.contains("\"label\" is a text column") && p.contains("numeric ones: \"x\""),
        "{p}"
    );
    for (names, says) in [
        (
            vec!["y"],
            "no column named \"y\"; its columns are \"x\", \"label\"",
        ),
        (vec!["x", "x"], "selected twice"),
        (vec![], "no columns were selected"),
    ] {
        let names: Vec<String> = names.into_iter().map(String::from).collect();
        let p = parquet_problem(ParquetSource::open(&path, Some(&names)).unwrap_err());
        assert!(p.contains(says), "{p}");
    }
    // An optional column without nulls reads.
    write_nullable(&path, &[Some(1.0), Some(f64::MAX)]);
    assert_eq!(
        read_parquet(&path, Some(&x)).unwrap().data.values(),
        &[1.0, f64::MAX]
    );
    // NaN and infinities are named too (missing values are not yet supported).
    write_nullable(&path, &[Some(1.0), Some(f64::NAN)]);
    let p = parquet_problem(read_parquet(&path, Some(&x)).unwrap_err());
    assert!(p.contains("row 1 (0-based), column \"x\" is NaN"), "{p}");
}

#[test]
fn nested_columns_are_refused() {
    let dir = Dir::new("nested");
    let path = dir.path("l.parquet");
    let schema = Arc::new(
        parse_message_type(
            "message m { required double a; optional group l (LIST) { repeated group list { \
             optional double element; } } }",
        )
        .unwrap(),
    );
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, Default::default()).unwrap();
    let mut rg = writer.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<DoubleType>()
        .write_batch(&[1.0], None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<DoubleType>()
        .write_batch(&[2.0], Some(&[3]), Some(&[0]))
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    writer.close().unwrap();
    let p = parquet_problem(read_parquet(&path, None).unwrap_err());
    assert!(p.contains("\"l\" is a nested column"), "{p}");
    let a = vec!["a".to_string()];
    assert_eq!(read_parquet(&path, Some(&a)).unwrap().data.values(), &[1.0]);
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let dir = Dir::new("damaged");
    let good = dir.path("good.parquet");
    write_all_types(&good, 400, 100, 16, Compression::SNAPPY);
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path("bad.parquet");
    std::fs::write(&bad, b"a,b\n1,2\n").unwrap();
    let p = parquet_problem(read_parquet(&bad, None).unwrap_err());
    assert!(p.contains("not a Parquet file"), "{p}");
    // Cut anywhere, or with bytes flipped in the middle, every file is
    // refused or read; none panics.
    for cut in (0..bytes.len()).step_by(97) {
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        assert!(read_parquet(&bad, None).is_err(), "cut at {cut}");
    }
    for at in (4..bytes.len() - 8).step_by(53) {
        let mut b = bytes.clone();
        b[at] ^= 0x5a;
        std::fs::write(&bad, &b).unwrap();
        let _ = read_parquet(&bad, None);
    }
    let err = read_parquet(&dir.path("missing.parquet"), None).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}

/// A fixture written by pyarrow (see `tests/parquet/make.py`).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parquet")
        .join(name)
}

fn repo_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

#[test]
fn files_written_by_pyarrow_read_as_their_csv_twins() {
    let iris = read_table(&repo_data("iris.csv"), None).unwrap();
    // Snappy with dictionary pages in three row groups; gzip in v2 data pages.
    for name in ["iris.parquet", "iris_v2_gzip.parquet"] {
        let t = read_table(&fixture(name), None).unwrap();
        assert_eq!(t, iris, "{name}");
    }
    // Every integer width and sign, float16/32, booleans, a dictionary-encoded
    // float column, and two non-numeric columns left out by name.
    let twin = read_table(&fixture("types.csv"), None).unwrap();
    let t = read_table(&fixture("types_zstd.parquet"), Some(&twin.names)).unwrap();
    assert_eq!(t.names, twin.names);
    assert_eq!(t.data.values(), twin.data.values());
    let p = parquet_problem(read_parquet(&fixture("types_zstd.parquet"), None).unwrap_err());
    assert!(p.contains("\"label\" is a text column"), "{p}");
    let when = vec!["when".to_string()];
    let p = parquet_problem(read_parquet(&fixture("types_zstd.parquet"), Some(&when)).unwrap_err());
    assert!(p.contains("\"when\" is a timestamp column"), "{p}");
    let p = parquet_problem(read_parquet(&fixture("nulls.parquet"), None).unwrap_err());
    assert!(p.contains("row 5 (0-based), column \"b\" is null"), "{p}");
    let p =
        parquet_problem(ParquetSource::open(&fixture("iris_brotli.parquet"), None).unwrap_err());
    assert!(p.contains("compressed with Brotli"), "{p}");
}
