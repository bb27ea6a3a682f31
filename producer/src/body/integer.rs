//! Integers in a request body, as JSON Schema counts them.

use serde::Deserialize;

/// A JSON integer: as JSON Schema counts them, `2.0` is one (a client's
/// JSON library may write a whole number so).
pub(super) fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    number
        .as_i64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                // Whole and within i64: the cast is exact.
                .map(|f| f as i64)
        })
        .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {number}")))
}

/// An optional [`integer`]; `null` is the same as left out.
pub(super) fn optional_integer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Integer(#[serde(deserialize_with = "integer")] i64);
    Ok(Option::<Integer>::deserialize(deserializer)?.map(|Integer(n)| n))
}
