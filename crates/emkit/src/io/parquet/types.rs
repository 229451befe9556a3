//! Which Parquet columns are numbers, and how their values become `f64`.

use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
use parquet::schema::types::ColumnDescriptor;

/// How a column's stored values become `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    Bool,
    I32,
    U32,
    I64,
    U64,
    F16,
    F32,
    F64,
}

/// The kind of a leaf column, or why it is not a number.
pub(super) fn kind_of(c: &ColumnDescriptor) -> std::result::Result<Kind, String> {
    if c.path().parts().len() > 1 || c.max_rep_level() > 0 {
        return Err("a nested column (list, map or struct)".into());
    }
    let physical = c.physical_type();
    let unsigned = match c.logical_type_ref() {
        Some(LogicalType::Integer(int)) => !int.is_signed,
        Some(LogicalType::Float16) if physical == Physical::FIXED_LEN_BYTE_ARRAY => {
            return if c.type_length() == 2 {
                Ok(Kind::F16)
            } else {
                Err("a float16 column whose values are not 2 bytes long".into())
            };
        }
        Some(LogicalType::Unknown) | None => match c.converted_type() {
            ConvertedType::NONE => false,
            ConvertedType::UINT_8
            | ConvertedType::UINT_16
            | ConvertedType::UINT_32
            | ConvertedType::UINT_64 => true,
            ConvertedType::INT_8
            | ConvertedType::INT_16
            | ConvertedType::INT_32
            | ConvertedType::INT_64 => false,
            other => return Err(format!("a {other} column")),
        },
        Some(other) => return Err(format!("a {} column", logical_name(other))),
    };
    match (physical, unsigned) {
        (Physical::BOOLEAN, _) => Ok(Kind::Bool),
        (Physical::INT32, false) => Ok(Kind::I32),
        (Physical::INT32, true) => Ok(Kind::U32),
        (Physical::INT64, false) => Ok(Kind::I64),
        (Physical::INT64, true) => Ok(Kind::U64),
        (Physical::FLOAT, _) => Ok(Kind::F32),
        (Physical::DOUBLE, _) => Ok(Kind::F64),
        (Physical::BYTE_ARRAY, _) => Err("a text or binary column".into()),
        (other, _) => Err(format!("a {other} column")),
    }
}

fn logical_name(t: &LogicalType) -> &'static str {
    match t {
        LogicalType::String | LogicalType::Enum | LogicalType::Json => "text",
        LogicalType::Date => "date",
        LogicalType::Time(_) => "time-of-day",
        LogicalType::Timestamp(_) => "timestamp",
        LogicalType::Decimal(_) => "decimal",
        LogicalType::Uuid => "UUID",
        LogicalType::List | LogicalType::Map => "nested",
        _ => "non-numeric",
    }
}

/// An IEEE 754 half-precision value as `f64`.
pub(super) fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}
