//! Handles: what each constructor returns. A handle names one declaration and shows the fields
//! it was declared with (`suite.name`, `phase.workers`, ...); it is accepted wherever a name is.

use std::time::Duration;

use mlua::{Lua, MetaMethod, Table, UserData, UserDataMethods, Value};

/// A field value a handle shows, kept as Rust data: a handle holds no Lua reference besides
/// its declared table, so thousands of handles cost little to keep and to free.
#[derive(Debug, Clone)]
pub(super) enum Shown {
    Int(i64),
    Num(f64),
    Bool(bool),
    Text(String),
}

impl Shown {
    pub(super) fn secs(d: Duration) -> Shown {
        Shown::Num(d.as_secs_f64())
    }

    pub(super) fn into_lua(self, lua: &mlua::Lua) -> mlua::Result<Value> {
        Ok(match self {
            Shown::Int(i) => Value::Integer(i),
            Shown::Num(n) => Value::Number(n),
            Shown::Bool(b) => Value::Boolean(b),
            Shown::Text(t) => Value::String(lua.create_string(t)?),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Suite,
    /// `ptest.batch`: accepted wherever a suite is referred to (it stands for all its parts).
    Batch,
    Group,
    Phase,
    Limiter,
    Retry,
    Service,
}

impl Kind {
    pub(super) fn word(self) -> &'static str {
        match self {
            Kind::Suite => "suite",
            Kind::Batch => "batch",
            Kind::Group => "group",
            Kind::Phase => "phase",
            Kind::Limiter => "limiter",
            Kind::Retry => "retry",
            Kind::Service => "service",
        }
    }
}

pub(super) struct Handle {
    pub kind: Kind,
    /// `None` only for an unnamed retry policy.
    pub name: Option<String>,
    /// Position among declarations of its kind.
    pub index: usize,
    /// The table the constructor was called with (already checked).
    declared: Table,
    /// Defaults and normalised forms (durations in seconds, references by name) shown instead
    /// of the declared value.
    shown: Vec<(&'static str, Shown)>,
}

impl Handle {
    pub(super) fn new(
        kind: Kind,
        name: Option<String>,
        index: usize,
        (declared, shown): (Table, Vec<(&'static str, Shown)>),
    ) -> Handle {
        Handle {
            kind,
            name,
            index,
            declared,
            shown,
        }
    }

    pub(super) fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("{} \"{n}\"", self.kind.word()),
            None => format!("{} #{}", self.kind.word(), self.index + 1),
        }
    }

    fn get(&self, lua: &Lua, key: &Value) -> mlua::Result<Value> {
        let Value::String(name) = key else {
            return Ok(Value::Nil);
        };
        let key_bytes = name.as_bytes();
        let key = &key_bytes[..];
        if let Some((_, v)) = self.shown.iter().find(|(k, _)| k.as_bytes() == key) {
            return v.clone().into_lua(lua);
        }
        let declared: Value = self.declared.raw_get(name)?;
        if !declared.is_nil() {
            return Ok(declared);
        }
        // Defaults that are Lua objects are made when read, not for every declaration.
        Ok(match (self.kind, key) {
            (Kind::Suite | Kind::Batch, b"category") => {
                Value::String(lua.create_string("default")?)
            }
            (Kind::Suite | Kind::Batch, b"tags" | b"depends_on" | b"needs")
            | (Kind::Service, b"env" | b"own_env") => Value::Table(lua.create_table()?),
            (Kind::Phase, b"on_failure") => Value::String(lua.create_string("stop")?),
            (Kind::Service, b"scope") => Value::String(lua.create_string("run")?),
            _ => Value::Nil,
        })
    }
}

impl UserData for Handle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            this.get(lua, &key)
        });
        methods.add_meta_method(MetaMethod::NewIndex, |_, this, (key, _): (Value, Value)| {
            Err::<(), _>(mlua::Error::runtime(format!(
                "{} is read-only (tried to set {})",
                this.describe(),
                key.to_string().unwrap_or_default()
            )))
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.describe()));
    }
}
