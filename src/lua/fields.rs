//! Typed readers for constructor tables: each knows its known keys (unknown ones are errors with
//! a suggestion), and each type error says what was expected, by example, and what it got.

use std::collections::BTreeMap;
use std::time::Duration;

use mlua::{Table, Value};

use super::handle::{Handle, Kind};
use crate::error::{ConfigError, Origin};
use crate::{duration, suggest};

/// A config error raised from inside a Lua callback; `evaluate` finds it again by downcasting.
pub fn raise(e: ConfigError) -> mlua::Error {
    mlua::Error::external(e)
}

/// What a value is, for messages: numbers and (short) strings by value, handles by kind and
/// name (`phase "core"`), anything else by type (`boolean`, `table`).
pub fn describe(v: &Value) -> String {
    match v {
        Value::UserData(ud) => match ud.borrow::<Handle>() {
            Ok(h) => h.describe(),
            Err(_) => "userdata".into(),
        },
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let text = s.to_string_lossy();
            if text.chars().count() > 40 {
                let short: String = text.chars().take(37).collect();
                format!("\"{short}...\"")
            } else {
                format!("\"{text}\"")
            }
        }
        other => other.type_name().to_owned(),
    }
}

pub struct Reader<'a> {
    pub table: &'a Table,
    /// `suite "deposits"`, `config`, ...
    pub context: String,
    pub origin: Origin,
}

impl<'a> Reader<'a> {
    pub fn new(table: &'a Table, context: String, origin: Origin) -> Self {
        Reader {
            table,
            context,
            origin,
        }
    }

    pub fn err(&self, message: impl Into<String>) -> mlua::Error {
        raise(ConfigError::new(
            Some(self.origin.clone()),
            Some(self.context.clone()),
            message,
        ))
    }

    fn type_err(&self, key: &str, expected: &str, got: &Value) -> mlua::Error {
        self.err(format!("{key}: expected {expected}, got {}", describe(got)))
    }

    /// Every key must be a known field name.
    pub fn check_keys(&self, known: &[&str]) -> mlua::Result<()> {
        let mut bad: Vec<String> = Vec::new();
        for pair in self.table.pairs::<Value, Value>() {
            let (k, _) = pair?;
            match &k {
                Value::String(s) if known.contains(&&*s.to_string_lossy()) => {}
                Value::String(s) => bad.push(s.to_string_lossy()),
                other => {
                    return Err(self.err(format!(
                        "fields are written name = value; found the key {} (known fields: {})",
                        describe(other),
                        known.join(", ")
                    )));
                }
            }
        }
        bad.sort();
        if let Some(k) = bad.first() {
            let hint = suggest::hint(k, known.iter().copied());
            let hint = if hint.is_empty() {
                format!(" (known fields: {})", known.join(", "))
            } else {
                hint
            };
            return Err(self.err(format!("unknown field \"{k}\"{hint}")));
        }
        Ok(())
    }

    pub fn raw(&self, key: &str) -> mlua::Result<Value> {
        self.table.raw_get(key)
    }

    pub fn string(&self, key: &str) -> mlua::Result<Option<String>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_string_lossy())),
            other => Err(self.type_err(key, "a string", &other)),
        }
    }

    pub fn required_string(&self, key: &str) -> mlua::Result<String> {
        match self.string(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(self.err(format!("{key}: must not be empty"))),
            None => Err(self.err(format!("{key}: missing (it is required)"))),
        }
    }

    pub fn bool(&self, key: &str) -> mlua::Result<Option<bool>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(self.type_err(key, "true or false", &other)),
        }
    }

    pub fn number(&self, key: &str) -> mlua::Result<Option<f64>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::Integer(i) => Ok(Some(i as f64)),
            Value::Number(n) if n.is_finite() => Ok(Some(n)),
            other => Err(self.type_err(key, "a number", &other)),
        }
    }

    pub fn positive_number(&self, key: &str) -> mlua::Result<Option<f64>> {
        match self.number(key)? {
            Some(n) if n <= 0.0 => {
                Err(self.err(format!("{key}: expected a number above 0, got {n}")))
            }
            n => Ok(n),
        }
    }

    /// An integer >= `min`.
    pub fn int(&self, key: &str, min: i64) -> mlua::Result<Option<u32>> {
        let v = self.raw(key)?;
        match int_of(&v) {
            None if v.is_nil() => Ok(None),
            Some(i) if i >= min && i <= i64::from(u32::MAX) => Ok(Some(i as u32)),
            Some(i) => Err(self.err(format!("{key}: expected an integer >= {min}, got {i}"))),
            None => Err(self.type_err(key, &format!("an integer >= {min}"), &v)),
        }
    }

    pub fn duration(&self, key: &str) -> mlua::Result<Option<Duration>> {
        let v = self.raw(key)?;
        duration_of(&v).map_err(|got| {
            self.err(format!(
                "{key}: expected a duration like \"30s\" or a number of seconds, got {got}"
            ))
        })
    }

    /// A duration that must be longer than zero (a zero timeout would kill every attempt at
    /// once).
    pub fn positive_duration(&self, key: &str) -> mlua::Result<Option<Duration>> {
        match self.duration(key)? {
            Some(d) if d.is_zero() => Err(self.err(format!(
                "{key}: must be longer than 0s (leave it out for the default)"
            ))),
            d => Ok(d),
        }
    }

    /// An array of strings (numbers are accepted and written as text).
    pub fn string_list(&self, key: &str) -> mlua::Result<Option<Vec<String>>> {
        match self.raw(key)? {
            Value::Nil => Ok(None),
            Value::Table(t) => {
                let items = sequence(&t).ok_or_else(|| {
                    self.err(format!("{key}: expected an array like {{ \"a\", \"b\" }}, got a table with named keys"))
                })?;
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        scalar_text(v).ok_or_else(|| {
                            self.err(format!(
                                "{key}[{}]: expected a string, got {}",
                                i + 1,
                                describe(v)
                            ))
                        })
                    })
                    .collect::<mlua::Result<Vec<_>>>()
                    .map(Some)
            }
            other => Err(self.type_err(key, "an array of strings", &other)),
        }
    }

    /// A table of NAME = value (strings, numbers or booleans).
    pub fn string_map(&self, key: &str) -> mlua::Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        match self.raw(key)? {
            Value::Nil => {}
            Value::Table(t) => {
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    let Value::String(k) = k else {
                        return Err(self.err(format!(
                            "{key}: expected a table like {{ NAME = \"value\" }}, found the key {}",
                            describe(&k)
                        )));
                    };
                    let k = k.to_string_lossy();
                    let v = scalar_text(&v).ok_or_else(|| {
                        self.err(format!(
                            "{key}.{k}: expected a string, got {}",
                            describe(&v)
                        ))
                    })?;
                    out.insert(k, v);
                }
            }
            other => return Err(self.type_err(key, "a table like { NAME = \"value\" }", &other)),
        }
        Ok(out)
    }

    /// A reference to a declaration of `kind`: its handle or its name.
    pub fn reference(&self, key: &str, kind: Kind) -> mlua::Result<Option<String>> {
        let v = self.raw(key)?;
        reference_of(&v, kind).map_err(|got| {
            self.err(format!(
                "{key}: expected a {} handle or name, got {got}",
                kind.word()
            ))
        })
    }
}

/// A reference value: `Ok(None)` for nil, `Err(description)` when it is of the wrong kind.
pub fn reference_of(v: &Value, kind: Kind) -> Result<Option<String>, String> {
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s.to_string_lossy())),
        Value::UserData(ud) => match ud.borrow::<Handle>() {
            Ok(h) if h.kind == kind => Ok(h.name.clone()),
            Ok(h) => Err(h.describe()),
            Err(_) => Err("userdata".into()),
        },
        other => Err(describe(other)),
    }
}

pub fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) if n.fract() == 0.0 && n.is_finite() && n.abs() < 9.0e15 => {
            Some(*n as i64)
        }
        _ => None,
    }
}

/// `Ok(None)` for nil; `Err(what it got)` for anything that is not a duration.
pub fn duration_of(v: &Value) -> Result<Option<Duration>, String> {
    match v {
        Value::Nil => Ok(None),
        Value::Integer(i) => duration::from_secs(*i as f64)
            .map(Some)
            .map_err(|_| i.to_string()),
        Value::Number(n) => duration::from_secs(*n).map(Some).map_err(|_| n.to_string()),
        Value::String(s) => {
            let text = s.to_string_lossy();
            duration::parse(&text)
                .map(Some)
                .map_err(|_| format!("\"{text}\""))
        }
        other => Err(describe(other)),
    }
}

/// The elements of a table that is a proper array (1..n, no other keys), else `None`.
pub fn sequence(t: &Table) -> Option<Vec<Value>> {
    let n = t.raw_len();
    let mut count = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.ok()?;
        match int_of(&k) {
            Some(i) if i >= 1 && (i as usize) <= n => count += 1,
            _ => return None,
        }
    }
    if count != n {
        return None;
    }
    (1..=n).map(|i| t.raw_get::<Value>(i).ok()).collect()
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
