//! Values across the PostgreSQL boundary: tool parameters sent as text for the server to
//! type (as a literal in the statement would be), and result columns, which arrive in
//! PostgreSQL's binary format, returned as JSON.
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | `boolean` | `true` / `false` |
//! | `smallint`, `integer`, `bigint`, `oid` | number |
//! | `real`, `double precision` | number (`"NaN"`, `"Infinity"`, `"-Infinity"` as strings) |
//! | `numeric` | number when it has at most 15 significant digits, else its exact text |
//! | `text`, `varchar`, `char(n)`, `name`, enums, `citext` | string |
//! | `json`, `jsonb` | the JSON value itself |
//! | `bytea` | lowercase hex string (as db-server returns SQLite blobs) |
//! | `uuid` | string |
//! | `date`, `time`, `timetz`, `timestamp`, `timestamptz` | ISO 8601 string; `timestamptz` in UTC with `Z` |
//! | `interval` | ISO 8601 duration (`P1Y2M3DT4H5M6.5S`) |
//! | `inet`, `cidr` | `addr/bits` string (`inet` hosts without `/bits`) |
//! | arrays | JSON arrays (nested for several dimensions) |
//! | composite types and `record` | JSON objects (`f1`, `f2`... where unnamed) |
//! | domains | as their base type |
//! | `macaddr` | `08:00:2b:01:02:03` |
//! | anything else | `\x` and the hex of its binary form (cast to `text` in the query for PostgreSQL's rendering) |

use std::{error::Error, fmt::Write as _};

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, NaiveTime};
use postgres_protocol::types as wire;
use serde_json::{Map, Number, Value as Json};
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::value::SqlParam;

type BoxError = Box<dyn Error + Sync + Send>;

/// One tool parameter, sent in text format with the type left to PostgreSQL (`unknown`):
/// `WHERE year = $1` with `2024` types it as `integer`, `$1::date` with `"2024-01-31"` as a
/// date. `null` is SQL NULL; booleans are `true` / `false`.
#[derive(Debug)]
pub(crate) struct TextParam<'a>(pub &'a SqlParam);

impl ToSql for TextParam<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            SqlParam::Null => return Ok(IsNull::Yes),
            SqlParam::Bool(b) => out.put_slice(if *b { b"true" } else { b"false" }),
            SqlParam::Number(n) => out.put_slice(n.to_string().as_bytes()),
            SqlParam::Text(s) => out.put_slice(s.as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// A result column's value as JSON, for any type (see the module's table).
#[derive(Debug)]
pub(crate) struct PgJson(pub Json);

impl<'a> FromSql<'a> for PgJson {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode(ty, raw).map(PgJson)
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgJson(Json::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

fn decode(ty: &Type, raw: &[u8]) -> Result<Json, BoxError> {
    Ok(match *ty {
        Type::BOOL => Json::Bool(wire::bool_from_sql(raw)?),
        Type::INT2 => wire::int2_from_sql(raw)?.into(),
        Type::INT4 => wire::int4_from_sql(raw)?.into(),
        Type::INT8 => wire::int8_from_sql(raw)?.into(),
        Type::OID | Type::XID | Type::CID | Type::REGPROC | Type::REGCLASS | Type::REGTYPE => {
            wire::oid_from_sql(raw)?.into()
        }
        Type::FLOAT4 => float(f64::from(wire::float4_from_sql(raw)?)),
        Type::FLOAT8 => float(wire::float8_from_sql(raw)?),
        Type::NUMERIC => numeric(raw)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
            Json::String(wire::text_from_sql(raw)?.to_owned())
        }
        Type::CHAR => Json::String(
            char::from(u8::from_ne_bytes(wire::char_from_sql(raw)?.to_ne_bytes())).to_string(),
        ),
        Type::JSON => serde_json::from_slice(raw)?,
        Type::JSONB => match raw.split_first() {
            Some((1, body)) => serde_json::from_slice(body)?,
            _ => return Err("unsupported jsonb version".into()),
        },
        Type::BYTEA => Json::String(hex(wire::bytea_from_sql(raw))),
        Type::UUID => Json::String(uuid(wire::uuid_from_sql(raw)?)),
        Type::DATE => Json::String(date(wire::date_from_sql(raw)?)),
        Type::TIME => Json::String(time(wire::time_from_sql(raw)?)),
        Type::TIMETZ => {
            let (micros, rest) = raw.split_at_checked(8).ok_or("short timetz")?;
            let offset = wire::int4_from_sql(rest)?;
            Json::String(format!(
                "{}{}",
                time(wire::time_from_sql(micros)?),
                utc_offset(-offset)
            ))
        }
        Type::TIMESTAMP => Json::String(timestamp(wire::timestamp_from_sql(raw)?, false)),
        Type::TIMESTAMPTZ => Json::String(timestamp(wire::timestamp_from_sql(raw)?, true)),
        Type::INTERVAL => Json::String(interval(raw)?),
        Type::INET | Type::CIDR => {
            let inet = wire::inet_from_sql(raw)?;
            let full = if inet.addr().is_ipv4() { 32 } else { 128 };
            if *ty == Type::INET && inet.netmask() == full {
                Json::String(inet.addr().to_string())
            } else {
                Json::String(format!("{}/{}", inet.addr(), inet.netmask()))
            }
        }
        Type::MONEY => Json::String(money(wire::int8_from_sql(raw)?)),
        Type::MACADDR => Json::String(
            wire::macaddr_from_sql(raw)?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        ),
        _ => match ty.kind() {
            Kind::Array(element) => array(element, raw)?,
            Kind::Domain(base) => decode(base, raw)?,
            Kind::Enum(_) => Json::String(wire::text_from_sql(raw)?.to_owned()),
            Kind::Composite(fields) => {
                let fields: Vec<(&str, &Type)> =
                    fields.iter().map(|f| (f.name(), f.type_())).collect();
                record(&fields, raw)?
            }
            _ if *ty == Type::RECORD => record(&[], raw)?,
            // Extension types whose binary form is their text.
            _ if matches!(ty.name(), "citext") => {
                Json::String(wire::text_from_sql(raw)?.to_owned())
            }
            _ => fallback(raw),
        },
    })
}

/// A float as a JSON number, or its name when JSON has none for it.
fn float(value: f64) -> Json {
    Number::from_f64(value).map_or_else(
        || {
            Json::String(if value.is_nan() {
                "NaN".into()
            } else if value > 0.0 {
                "Infinity".into()
            } else {
                "-Infinity".into()
            })
        },
        Json::Number,
    )
}

/// `numeric`'s binary form: digit count, weight (of the first base-10000 digit), sign,
/// display scale, then the base-10000 digits.
fn numeric(raw: &[u8]) -> Result<Json, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        0xC000 => return Ok(Json::String("NaN".into())),
        0xD000 => return Ok(Json::String("Infinity".into())),
        0xF000 => return Ok(Json::String("-Infinity".into())),
        _ => {}
    }
    let digit = |i: i32| -> Result<u16, BoxError> {
        if i < 0 || i as usize >= ndigits {
            Ok(0)
        } else {
            word(4 + i as usize)
        }
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                write!(text, "{}", digit(i)?)?;
            } else {
                write!(text, "{:04}", digit(i)?)?;
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while fraction.len() < dscale {
            write!(fraction, "{:04}", digit(i)?)?;
            i += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    if text == "-0" || (text.starts_with("-0.") && text[3..].bytes().all(|b| b == b'0')) {
        text.remove(0);
    }
    let significant = text.bytes().filter(u8::is_ascii_digit).count();
    if dscale == 0
        && let Ok(integer) = text.parse::<i64>()
    {
        return Ok(integer.into());
    }
    if significant <= 15
        && let Ok(value) = text.parse::<f64>()
        && let Some(number) = Number::from_f64(value)
    {
        return Ok(Json::Number(number));
    }
    Ok(Json::String(text))
}

fn array(element: &Type, raw: &[u8]) -> Result<Json, BoxError> {
    use fallible_iterator::FallibleIterator;
    let array = wire::array_from_sql(raw)?;
    let lengths: Vec<usize> = array
        .dimensions()
        .map(|d| Ok(usize::try_from(d.len).unwrap_or(0)))
        .collect()?;
    let values: Vec<Json> = array
        .values()
        .map(|v| match v {
            Some(bytes) => decode(element, bytes).map_err(|e| e.to_string().into()),
            None => Ok(Json::Null),
        })
        .collect()
        .map_err(|e: BoxError| e)?;
    Ok(nest(&lengths, &mut values.into_iter()))
}

/// Rebuilds the dimensions of an array from its values in row-major order.
fn nest(lengths: &[usize], values: &mut impl Iterator<Item = Json>) -> Json {
    match lengths.split_first() {
        None => Json::Array(Vec::new()),
        Some((len, [])) => Json::Array(values.take(*len).collect()),
        Some((len, rest)) => Json::Array((0..*len).map(|_| nest(rest, values)).collect()),
    }
}

/// A composite value's binary form: field count, then each field's type, length and
/// bytes. Fields are named and typed from `fields` (a composite type's), else (`record`)
/// `f1`, `f2`... as PostgreSQL names them, typed by the OID each carries.
fn record(fields: &[(&str, &Type)], raw: &[u8]) -> Result<Json, BoxError> {
    let count = usize::try_from(wire::int4_from_sql(raw.get(..4).ok_or("short record")?)?)?;
    let mut rest = &raw[4..];
    let mut object = Map::new();
    for i in 0..count {
        let oid = wire::oid_from_sql(rest.get(..4).ok_or("short record")?)?;
        let len = wire::int4_from_sql(rest.get(4..8).ok_or("short record")?)?;
        rest = &rest[8..];
        let value = if len < 0 {
            Json::Null
        } else {
            let len = usize::try_from(len)?;
            let bytes = rest.get(..len).ok_or("short record")?;
            rest = &rest[len..];
            match (fields.get(i), Type::from_oid(oid)) {
                (Some((_, ty)), _) => decode(ty, bytes)?,
                (None, Some(ty)) => decode(&ty, bytes)?,
                (None, None) => fallback(bytes),
            }
        };
        let name = fields
            .get(i)
            .map_or_else(|| format!("f{}", i + 1), |(n, _)| (*n).to_owned());
        object.insert(name, value);
    }
    Ok(Json::Object(object))
}

/// A value of a type this module does not know: `\x` and the hex of its binary form
/// (cast the column to text, `col::text`, for PostgreSQL's own rendering).
fn fallback(raw: &[u8]) -> Json {
    Json::String(format!("\\x{}", hex(raw)))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn uuid(b: [u8; 16]) -> String {
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        days => NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|epoch| epoch.checked_add_signed(ChronoDuration::days(i64::from(days))))
            .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string()),
    }
}

fn time(micros: i64) -> String {
    if micros == 86_400_000_000 {
        return "24:00:00".into();
    }
    let seconds = u32::try_from(micros.div_euclid(1_000_000)).unwrap_or(0);
    let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0);
    NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos).map_or_else(
        || micros.to_string(),
        |t| t.format("%H:%M:%S%.f").to_string(),
    )
}

fn timestamp(micros: i64, utc: bool) -> String {
    match micros {
        i64::MAX => return "infinity".into(),
        i64::MIN => return "-infinity".into(),
        _ => {}
    }
    match DateTime::from_timestamp_micros(micros.saturating_add(PG_EPOCH_MICROS)) {
        Some(t) if utc => t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
        Some(t) => t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
        None => micros.to_string(),
    }
}

/// `+HH:MM` for an offset east of UTC in seconds.
fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// `interval`'s binary form: microseconds, days, months.
fn interval(raw: &[u8]) -> Result<String, BoxError> {
    let micros = wire::int8_from_sql(raw.get(..8).ok_or("short interval")?)?;
    let days = wire::int4_from_sql(raw.get(8..12).ok_or("short interval")?)?;
    let months = wire::int4_from_sql(raw.get(12..16).ok_or("short interval")?)?;
    let mut text = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (value, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if value != 0 {
            write!(text, "{value}{unit}")?;
        }
    }
    if micros != 0 {
        text.push('T');
        let hours = micros / 3_600_000_000;
        let minutes = (micros % 3_600_000_000) / 60_000_000;
        let rest = micros % 60_000_000;
        if hours != 0 {
            write!(text, "{hours}H")?;
        }
        if minutes != 0 {
            write!(text, "{minutes}M")?;
        }
        if rest != 0 {
            let seconds = format!("{:.6}", rest as f64 / 1e6);
            write!(
                text,
                "{}S",
                seconds.trim_end_matches('0').trim_end_matches('.')
            )?;
        }
    }
    if text == "P" {
        text.push_str("T0S");
    }
    Ok(text)
}

/// `money` in cents, as a decimal string (the currency symbol depends on the server's
/// locale, so none is added).
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, dscale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_keep_their_value() {
        // 8874945
        assert_eq!(
            numeric(&numeric_bytes(1, 0, 0, &[887, 4945])).unwrap(),
            Json::from(8_874_945)
        );
        // -12.50 (scale 2)
        assert_eq!(
            numeric(&numeric_bytes(0, 0x4000, 2, &[12, 5000])).unwrap(),
            serde_json::json!(-12.5)
        );
        // 0.0001
        assert_eq!(
            numeric(&numeric_bytes(-1, 0, 4, &[1])).unwrap(),
            serde_json::json!(0.0001)
        );
        // 0.00000001 (weight -2)
        assert_eq!(
            numeric(&numeric_bytes(-2, 0, 8, &[1])).unwrap(),
            serde_json::json!(1e-8)
        );
        // 123456789012345678901234567890 stays exact
        assert_eq!(
            numeric(&numeric_bytes(
                7,
                0,
                0,
                &[12, 3456, 7890, 1234, 5678, 9012, 3456, 7890]
            ))
            .unwrap(),
            Json::String("123456789012345678901234567890".into())
        );
        assert_eq!(
            numeric(&numeric_bytes(0, 0xC000, 0, &[])).unwrap(),
            Json::String("NaN".into())
        );
        assert_eq!(
            numeric(&numeric_bytes(0, 0, 0, &[])).unwrap(),
            Json::from(0)
        );
    }

    #[test]
    fn times_are_iso_8601() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(timestamp(0, true), "2000-01-01T00:00:00Z");
        assert_eq!(timestamp(1_500_000, false), "2000-01-01T00:00:01.500");
        assert_eq!(time(3_661_000_000), "01:01:01");
        assert_eq!(utc_offset(-5 * 3600), "-05:00");
        let mut raw = Vec::new();
        raw.extend_from_slice(&(3_723_500_000i64).to_be_bytes());
        raw.extend_from_slice(&3i32.to_be_bytes());
        raw.extend_from_slice(&14i32.to_be_bytes());
        assert_eq!(interval(&raw).unwrap(), "P1Y2M3DT1H2M3.5S");
    }

    #[test]
    fn arrays_nest_by_dimension() {
        let values: Vec<Json> = (1..=6).map(Json::from).collect();
        assert_eq!(
            nest(&[2, 3], &mut values.into_iter()),
            serde_json::json!([[1, 2, 3], [4, 5, 6]])
        );
    }

    #[test]
    fn unknown_types_fall_back_to_text_or_hex() {
        assert_eq!(fallback(b"a.b.c"), Json::String("\\x612e622e63".into()));
        assert_eq!(time(86_400_000_000), "24:00:00");
        assert_eq!(fallback(&[0, 1, 255]), Json::String("\\x0001ff".into()));
        assert_eq!(money(-1234), "-12.34");
        assert_eq!(uuid([0xab; 16]), "abababab-abab-abab-abab-abababababab");
    }
}
