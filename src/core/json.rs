//! Typed access to a JSON object with errors that name the key: a value of
//! the wrong type is a decode error (code 6), as a typed decoder would say.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

#[derive(Clone, Copy)]
pub struct Obj<'a> {
    /// Where this object sits, for messages: "ipam", "ipam.ranges[0][0]".
    pub at: &'a str,
    pub map: &'a Map<String, Value>,
}

fn type_error(at: &str, key: &str, want: &str, got: &Value) -> Error {
    let key = if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    };
    Error::decode(format!("{key}: expected {want}, got {got}"))
}

impl<'a> Obj<'a> {
    pub fn new(at: &'a str, value: &'a Value) -> Result<Obj<'a>> {
        match value {
            Value::Object(map) => Ok(Obj { at, map }),
            other => Err(Error::decode(format!(
                "{}: expected a JSON object, got {other}",
                if at.is_empty() { "configuration" } else { at }
            ))),
        }
    }

    /// A present, non-null value.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn path(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    pub fn str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(type_error(self.at, key, "a string", v)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(type_error(self.at, key, "true or false", v)),
        }
    }

    /// A non-negative integer.
    pub fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| type_error(self.at, key, "a non-negative integer", v)),
        }
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(type_error(self.at, key, "a list", v)),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(type_error(self.at, key, "an object", v)),
        }
    }

    /// Look a key up ignoring ASCII case (nerdctl sends `HostPort`).
    pub fn get_nocase(&self, key: &str) -> Option<(&'a str, &'a Value)> {
        self.map
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_null())
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// A list of strings.
pub fn strings(at: &str, v: &Value) -> Result<Vec<String>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(Error::decode(format!(
                    "{at}: expected strings, got {other}"
                ))),
            })
            .collect(),
        other => Err(Error::decode(format!(
            "{at}: expected a list of strings, got {other}"
        ))),
    }
}
