//! Fields that real clients send in more shapes than their documents foresaw.
//!
//! A browser serialises `new Date()` as an ISO 8601 string where a document says
//! milliseconds; an id may come as a number. These deserializers accept every shape that
//! means the same thing and still refuse what cannot (an object where a time belongs), so a
//! handler gets one type and the client gets an error naming the field when it is wrong.

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::kit::stamp::parse_iso8601;

/// An optional text field: a string, or a number written as text; `null` or absent is `None`.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Err(D::Error::invalid_type(
            Unexpected::Bool(b),
            &"a string or a number",
        )),
        _ => Err(D::Error::invalid_type(
            Unexpected::Other("an object or array"),
            &"a string or a number",
        )),
    }
}

/// An optional instant in milliseconds since the epoch: a number of milliseconds (fractions
/// dropped), an ISO 8601 date-time string, or milliseconds written as a string; `null` or
/// absent is `None`. Anything else is an error.
pub fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    const EXPECTED: &str = "milliseconds since the epoch or an ISO 8601 date-time";
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected {EXPECTED}"))),
        Value::String(s) => {
            let s = s.trim();
            let parsed = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                parse_iso8601(s)
            };
            parsed
                .map(Some)
                .ok_or_else(|| D::Error::invalid_value(Unexpected::Str(s), &EXPECTED))
        }
        Value::Bool(b) => Err(D::Error::invalid_type(Unexpected::Bool(b), &EXPECTED)),
        _ => Err(D::Error::invalid_type(
            Unexpected::Other("an object or array"),
            &EXPECTED,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    struct Sample {
        #[serde(default, deserialize_with = "text")]
        id: Option<String>,
        #[serde(default, deserialize_with = "millis")]
        at: Option<i64>,
    }

    fn sample(v: Value) -> Result<Sample, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn a_time_is_milliseconds_or_an_iso_string() {
        let at = |v: Value| sample(json!({ "at": v })).map(|s| s.at);
        assert_eq!(at(json!(1698500000000i64)), Ok(Some(1698500000000)));
        assert_eq!(at(json!(1698500000000.7)), Ok(Some(1698500000000)));
        assert_eq!(at(json!("1698500000000")), Ok(Some(1698500000000)));
        assert_eq!(
            at(json!("2026-12-05T07:37:15.493Z")),
            Ok(Some(1_796_456_235_493))
        );
        assert_eq!(at(Value::Null), Ok(None));
        assert_eq!(sample(json!({})).unwrap().at, None);
        for bad in [json!("soon"), json!(true), json!({}), json!([1])] {
            let e = at(bad.clone()).unwrap_err();
            assert!(e.contains("ISO 8601"), "{bad}: {e}");
        }
    }

    #[test]
    fn text_takes_strings_and_numbers_only() {
        let id = |v: Value| sample(json!({ "id": v })).map(|s| s.id);
        assert_eq!(id(json!("msg_1")), Ok(Some("msg_1".into())));
        assert_eq!(id(json!(42)), Ok(Some("42".into())));
        assert_eq!(id(Value::Null), Ok(None));
        assert!(id(json!(true)).is_err());
        assert!(id(json!({"a": 1})).is_err());
    }
}
