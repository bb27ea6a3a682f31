//! Reading a decoded Avro record by field name, each field checked into
//! the type it must have (a field missing or of another type is a
//! [`DomainError`] naming it).

use apache_avro::types::Value;
use chrono::{DateTime, TimeZone, Utc};
use rfq_core::{DomainError, GeoPoint};
use std::collections::HashMap;

/// The fields of a decoded Avro record, taken out by name.
pub(super) struct Fields(pub(super) HashMap<String, Value>);

impl Fields {
    pub(super) fn of(value: Value) -> Result<Fields, DomainError> {
        match value {
            Value::Record(fields) => Ok(Fields(fields.into_iter().collect())),
            other => Err(DomainError::new(
                "",
                format!("expected a record, got {other:?}"),
            )),
        }
    }

    pub(super) fn take(&mut self, name: &str) -> Result<Value, DomainError> {
        self.0
            .remove(name)
            .ok_or_else(|| DomainError::new(name, "missing"))
    }

    pub(super) fn string(&mut self, name: &str) -> Result<String, DomainError> {
        match self.take(name)? {
            Value::String(text) => Ok(text),
            other => Err(wrong(name, "a string", &other)),
        }
    }

    pub(super) fn long(&mut self, name: &str) -> Result<i64, DomainError> {
        match self.take(name)? {
            Value::Long(n) | Value::TimestampMillis(n) => Ok(n),
            Value::Int(n) => Ok(i64::from(n)),
            other => Err(wrong(name, "a long", &other)),
        }
    }

    pub(super) fn int(&mut self, name: &str) -> Result<i32, DomainError> {
        match self.take(name)? {
            Value::Int(n) => Ok(n),
            other => Err(wrong(name, "an int", &other)),
        }
    }

    pub(super) fn double(&mut self, name: &str) -> Result<f64, DomainError> {
        match self.take(name)? {
            Value::Double(x) => Ok(x),
            Value::Float(x) => Ok(f64::from(x)),
            other => Err(wrong(name, "a double", &other)),
        }
    }

    /// An optional field: a `["null", T]` union, or absent.
    pub(super) fn optional(&mut self, name: &str) -> Option<Value> {
        match self.0.remove(name) {
            Some(Value::Union(_, inner)) => match *inner {
                Value::Null => None,
                value => Some(value),
            },
            Some(Value::Null) | None => None,
            Some(value) => Some(value),
        }
    }

    pub(super) fn record(&mut self, name: &str) -> Result<Fields, DomainError> {
        let value = self.take(name)?;
        Fields::of(value).map_err(|error| error.within(name))
    }

    pub(super) fn time(&mut self, name: &str) -> Result<DateTime<Utc>, DomainError> {
        let millis = self.long(name)?;
        Utc.timestamp_millis_opt(millis)
            .single()
            .ok_or_else(|| DomainError::new(name, format!("timestamp out of range: {millis}")))
    }

    pub(super) fn point(&mut self, name: &str) -> Result<GeoPoint, DomainError> {
        let mut point = self.record(name)?;
        let lat = point.double("lat").map_err(|e| e.within(name))?;
        let lon = point.double("lon").map_err(|e| e.within(name))?;
        GeoPoint::new(lat, lon).map_err(|e| e.within(name))
    }
}

pub(super) fn wrong(name: &str, expected: &str, got: &Value) -> DomainError {
    DomainError::new(name, format!("expected {expected}, got {got:?}"))
}
