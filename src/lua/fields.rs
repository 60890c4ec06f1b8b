//! Typed readers for constructor tables: each knows its known keys (unknown ones are errors with
//! a suggestion), and each type error says what was expected, by example, and what it got.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

use mlua::{Table, Value};

use super::handle::{Handle, Kind, Shown};
use crate::error::{ConfigError, Origin};
use crate::{duration, suggest};

/// A config error raised from inside a Lua callback; `evaluate` finds it again by downcasting.
pub(super) fn raise(e: ConfigError) -> mlua::Error {
    mlua::Error::external(e)
}

/// What a value is, for messages: numbers and (short) strings by value, handles by kind and
/// name (`phase "core"`), anything else by type (`boolean`, `table`).
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::UserData(ud) => match ud.borrow::<Handle>() {
            Ok(h) => h.describe(),
            Err(_) => "userdata".into(),
        },
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let text = escaped(&s.as_bytes());
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

/// The fields of one constructor table, read in a single pass (a `pairs` walk costs far less
/// than a lookup per known field, and a generated config may declare thousands of suites).
pub(super) struct Reader {
    table: Table,
    known: &'static [&'static str],
    /// One value per known field, `Nil` when absent.
    values: Vec<Value>,
    /// String keys that are not field names.
    unknown: Vec<String>,
    /// The first key that is not a string at all (`{ "x", name = ... }`).
    non_string: Option<String>,
    nil: Value,
    /// Normalised forms and defaults a handle shows instead of the declared value.
    shown: Vec<(&'static str, Shown)>,
    /// `suite "deposits"`, `config`, ...
    pub context: String,
    pub origin: Origin,
}

impl Reader {
    pub(super) fn read(
        table: &Table,
        known: &'static [&'static str],
        context: String,
        origin: Origin,
    ) -> mlua::Result<Reader> {
        let mut values = vec![Value::Nil; known.len()];
        let mut unknown = Vec::new();
        let mut non_string = None;
        // Fast path: keys read as Rust strings (no Lua reference per key). Anything unusual
        // (a key that is not a field name, or not a string) is read again the slow way, which
        // knows what each key really was.
        let fast = table.for_each::<String, Value>(|k, v| {
            match known.iter().position(|f| *f == k) {
                Some(i) => values[i] = v,
                None => unknown.push(k),
            }
            Ok(())
        });
        if fast.is_err() || !unknown.is_empty() {
            values = vec![Value::Nil; known.len()];
            unknown.clear();
            table.for_each::<Value, Value>(|k, v| {
                match &k {
                    Value::String(s) => {
                        let bytes = s.as_bytes();
                        match known.iter().position(|f| f.as_bytes() == &bytes[..]) {
                            Some(i) => values[i] = v,
                            None => unknown.push(s.to_string_lossy()),
                        }
                    }
                    other => {
                        if non_string.is_none() {
                            non_string = Some(describe(other));
                        }
                    }
                }
                Ok(())
            })?;
        }
        unknown.sort();
        Ok(Reader {
            table: table.clone(),
            known,
            values,
            unknown,
            non_string,
            nil: Value::Nil,
            shown: Vec::new(),
            context,
            origin,
        })
    }

    pub(super) fn err(&self, message: impl Into<String>) -> mlua::Error {
        raise(ConfigError::new(
            Some(self.origin.clone()),
            Some(self.context.clone()),
            message,
        ))
    }

    fn type_err(&self, key: &str, expected: &str, got: &Value) -> mlua::Error {
        self.err(format!("{key}: expected {expected}, got {}", describe(got)))
    }

    /// The first unknown field name (in sorted order), if any.
    pub(super) fn first_unknown(&self) -> Option<&str> {
        self.unknown.first().map(String::as_str)
    }

    /// Every key must be a known field name.
    pub(super) fn check_keys(&self) -> mlua::Result<()> {
        let known = self.known;
        if let Some(k) = &self.non_string {
            return Err(self.err(format!(
                "fields are written name = value; found the key {k} (known fields: {})",
                known.join(", ")
            )));
        }
        if let Some(k) = self.first_unknown() {
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

    fn position(&self, key: &str) -> Option<usize> {
        let i = self.known.iter().position(|f| *f == key);
        debug_assert!(i.is_some(), "{key} is not a known field");
        i
    }

    /// The value of a known field (`Nil` when absent).
    pub(super) fn raw(&self, key: &str) -> &Value {
        self.position(key).map_or(&self.nil, |i| &self.values[i])
    }

    /// What a handle shows for `key` instead of the declared value: a default, or a
    /// normalised form (durations in seconds, references by name).
    pub(super) fn show(&mut self, key: &'static str, v: Shown) {
        debug_assert!(self.known.contains(&key), "{key} is not a known field");
        self.shown.push((key, v));
    }

    /// The declared table and what to show instead of some of its fields, for a handle.
    pub(super) fn into_fields(self) -> (Table, Vec<(&'static str, Shown)>) {
        (self.table, self.shown)
    }

    /// A string that must be UTF-8 (a name, a path, a category): bytes that are not would be
    /// changed by every place that shows them, so they are refused rather than replaced.
    pub(super) fn string(&self, key: &str) -> mlua::Result<Option<String>> {
        match self.raw(key) {
            Value::Nil => Ok(None),
            Value::String(s) => utf8(s)
                .map(Some)
                .map_err(|why| self.err(format!("{key}: {why}"))),
            other => Err(self.type_err(key, "a string", other)),
        }
    }

    pub(super) fn required_string(&self, key: &str) -> mlua::Result<String> {
        match self.string(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(self.err(format!("{key}: must not be empty"))),
            None => Err(self.err(format!("{key}: missing (it is required)"))),
        }
    }

    pub(super) fn bool(&self, key: &str) -> mlua::Result<Option<bool>> {
        match self.raw(key) {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(*b)),
            other => Err(self.type_err(key, "true or false", other)),
        }
    }

    pub(super) fn number(&self, key: &str) -> mlua::Result<Option<f64>> {
        match self.raw(key) {
            Value::Nil => Ok(None),
            Value::Integer(i) => Ok(Some(*i as f64)),
            Value::Number(n) if n.is_finite() => Ok(Some(*n)),
            other => Err(self.type_err(key, "a number", other)),
        }
    }

    pub(super) fn positive_number(&self, key: &str) -> mlua::Result<Option<f64>> {
        match self.number(key)? {
            Some(n) if n <= 0.0 => {
                Err(self.err(format!("{key}: expected a number above 0, got {n}")))
            }
            n => Ok(n),
        }
    }

    /// An integer >= `min`.
    pub(super) fn int(&self, key: &str, min: i64) -> mlua::Result<Option<u32>> {
        let v = self.raw(key);
        match int_of(v) {
            None if v.is_nil() => Ok(None),
            Some(i) if i >= min && i <= i64::from(u32::MAX) => Ok(Some(i as u32)),
            Some(i) => Err(self.err(format!("{key}: expected an integer >= {min}, got {i}"))),
            None => Err(self.type_err(key, &format!("an integer >= {min}"), v)),
        }
    }

    /// A duration of at most [`duration::MAX`].
    pub(super) fn duration(&self, key: &str) -> mlua::Result<Option<Duration>> {
        let v = self.raw(key);
        match duration_of(v) {
            Ok(Some(d)) if d > duration::MAX => Err(self.err(format!(
                "{key}: {} {} (leave it out for the default)",
                shown_number(v),
                duration::TOO_LONG
            ))),
            Ok(d) => Ok(d),
            Err(got) => Err(self.err(format!(
                "{key}: expected a duration like \"30s\" or a number of seconds, got {got}"
            ))),
        }
    }

    /// A duration that must be longer than zero (a zero timeout would kill every attempt at
    /// once).
    pub(super) fn positive_duration(&self, key: &str) -> mlua::Result<Option<Duration>> {
        match self.duration(key)? {
            Some(d) if d.is_zero() => Err(self.err(format!(
                "{key}: must be longer than 0s (leave it out for the default)"
            ))),
            d => Ok(d),
        }
    }

    /// An array of strings (numbers are accepted and written as text).
    pub(super) fn string_list(&self, key: &str) -> mlua::Result<Option<Vec<String>>> {
        match self.raw(key) {
            Value::Nil => Ok(None),
            Value::Table(t) => {
                let items = sequence(t, |i, v| match scalar_text(v) {
                    Some(Ok(text)) => Ok(text),
                    Some(Err(why)) => Err(self.err(format!("{key}[{i}]: {why}"))),
                    None => Err(self.err(format!(
                        "{key}[{i}]: expected a string, got {}",
                        describe(v)
                    ))),
                })?;
                items.map(Some).ok_or_else(|| {
                    self.err(format!("{key}: expected an array like {{ \"a\", \"b\" }}, got a table with named keys"))
                })
            }
            other => Err(self.type_err(key, "an array of strings", other)),
        }
    }

    /// A table of NAME = value (strings, numbers or booleans). Names must be UTF-8; values are
    /// kept as the bytes Lua holds, UTF-8 or not, for the process to get unchanged.
    pub(super) fn string_map(&self, key: &str) -> mlua::Result<BTreeMap<String, OsString>> {
        let mut out = BTreeMap::new();
        match self.raw(key) {
            Value::Nil => {}
            Value::Table(t) => {
                t.for_each::<Value, Value>(|k, v| {
                    let Value::String(k) = k else {
                        return Err(self.err(format!(
                            "{key}: expected a table like {{ NAME = \"value\" }}, found the key {}",
                            describe(&k)
                        )));
                    };
                    let k = utf8(&k).map_err(|why| {
                        self.err(format!("{key}: the variable name {}: {why}", describe(&Value::String(k.clone()))))
                    })?;
                    let v = scalar_bytes(&v).ok_or_else(|| {
                        self.err(format!(
                            "{key}.{k}: expected a string, got {}",
                            describe(&v)
                        ))
                    })?;
                    if k.is_empty() || k.contains(['=', '\0']) {
                        return Err(self.err(format!(
                            "{key}: {k:?} cannot be a variable name (empty, or with '=' or a NUL byte)"
                        )));
                    }
                    if v.as_bytes().contains(&0) {
                        return Err(self.err(format!(
                            "{key}.{k}: contains a NUL byte, which no environment can carry"
                        )));
                    }
                    out.insert(k, v);
                    Ok(())
                })?;
            }
            other => return Err(self.type_err(key, "a table like { NAME = \"value\" }", other)),
        }
        Ok(out)
    }

    /// A reference to a declaration of `kind`: its handle or its name.
    pub(super) fn reference(&self, key: &str, kind: Kind) -> mlua::Result<Option<String>> {
        let v = self.raw(key);
        reference_of(v, kind).map_err(|got| {
            self.err(format!(
                "{key}: expected a {} handle or name, got {got}",
                kind.word()
            ))
        })
    }
}

/// A reference value: `Ok(None)` for nil, `Err(description)` when it is of the wrong kind.
pub(super) fn reference_of(v: &Value, kind: Kind) -> Result<Option<String>, String> {
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s.to_string_lossy())),
        Value::UserData(ud) => match ud.borrow::<Handle>() {
            Ok(h) if h.kind == kind || (kind == Kind::Suite && h.kind == Kind::Batch) => {
                Ok(h.name.clone())
            }
            Ok(h) => Err(h.describe()),
            Err(_) => Err("userdata".into()),
        },
        other => Err(describe(other)),
    }
}

pub(super) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) if n.fract() == 0.0 && n.is_finite() && n.abs() < 9.0e15 => {
            Some(*n as i64)
        }
        _ => None,
    }
}

/// A number or string as the user wrote it, short: `1e+19`, `9223372036854775807`, `"9999h"`.
fn shown_number(v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Number(n) if n.abs() >= 1e15 => format!("{n:e}"),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("\"{}\"", s.to_string_lossy()),
        other => describe(other),
    }
}

/// `Ok(None)` for nil; `Err(what it got)` for anything that is not a duration. One too long
/// to hold comes back as `Duration::MAX`, for the caller to refuse as too long.
pub(super) fn duration_of(v: &Value) -> Result<Option<Duration>, String> {
    match v {
        Value::Nil => Ok(None),
        Value::Integer(i) => duration::from_secs_saturating(*i as f64)
            .map(Some)
            .map_err(|_| i.to_string()),
        Value::Number(n) => duration::from_secs_saturating(*n)
            .map(Some)
            .map_err(|_| n.to_string()),
        Value::String(s) => {
            let text = s.to_string_lossy();
            duration::parse_saturating(&text)
                .map(Some)
                .map_err(|_| format!("\"{text}\""))
        }
        other => Err(describe(other)),
    }
}

/// The elements of a table that is a proper array (keys exactly 1..n), each converted by
/// `each` (given its index from 1), else `Ok(None)`. One `pairs` walk: mlua's serde conversion
/// would turn named keys into an empty list without a word.
///
/// Each element is converted while the walk is at it and its Lua value let go: every value
/// held takes a slot of mlua's reference stack, which ends near a million, so a list of a
/// million items held whole made the walk fail (and that failure read as "named keys").
/// Conversion errors wait until the table is known to be an array, and the first by index is
/// returned, as if the elements had been converted in order.
pub(super) fn sequence<T>(
    t: &Table,
    mut each: impl FnMut(i64, &Value) -> mlua::Result<T>,
) -> mlua::Result<Option<Vec<T>>> {
    let mut items: Vec<(i64, mlua::Result<T>)> = Vec::new();
    let mut proper = true;
    t.for_each::<Value, Value>(|k, v| {
        match int_of(&k) {
            Some(i) if proper => items.push((i, each(i, &v))),
            Some(_) => {}
            None => proper = false,
        }
        Ok(())
    })?;
    if !proper {
        return Ok(None);
    }
    // The array part comes first and in order; sort only when the table was built oddly.
    if !items.is_sorted_by_key(|(i, _)| *i) {
        items.sort_by_key(|(i, _)| *i);
    }
    let contiguous = items
        .iter()
        .enumerate()
        .all(|(pos, (i, _))| *i == pos as i64 + 1);
    if !contiguous {
        return Ok(None);
    }
    items
        .into_iter()
        .map(|(_, v)| v)
        .collect::<mlua::Result<Vec<T>>>()
        .map(Some)
}

/// `bytes` as text, with each byte that is not part of valid UTF-8 written `\xNN`: how ptest
/// shows a string it was given as bytes in a message.
pub(crate) fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A string field's text; `Err` says why bytes that are not UTF-8 are refused.
pub(super) fn utf8(s: &mlua::LuaString) -> Result<String, String> {
    match s.to_str() {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => Err(format!(
            "{} is not valid UTF-8 (only cmd and env values may hold other bytes)",
            describe(&Value::String(s.clone()))
        )),
    }
}

/// A string (UTF-8 required), number or boolean as text; `None` for other types.
fn scalar_text(v: &Value) -> Option<Result<String, String>> {
    match v {
        Value::String(s) => Some(utf8(s)),
        Value::Integer(i) => Some(Ok(i.to_string())),
        Value::Number(n) => Some(Ok(n.to_string())),
        Value::Boolean(b) => Some(Ok(b.to_string())),
        _ => None,
    }
}

/// A string (its bytes exactly as Lua holds them), number or boolean; `None` for other types.
pub(super) fn scalar_bytes(v: &Value) -> Option<OsString> {
    match v {
        Value::String(s) => Some(OsString::from_vec(s.as_bytes().to_vec())),
        Value::Integer(i) => Some(i.to_string().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Boolean(b) => Some(b.to_string().into()),
        _ => None,
    }
}
