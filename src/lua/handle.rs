//! Handles: what each constructor returns. A handle names one declaration and shows the fields
//! it was declared with (`suite.name`, `phase.workers`, ...); it is accepted wherever a name is.

use mlua::{Lua, MetaMethod, UserData, UserDataMethods, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Suite,
    Group,
    Phase,
    Limiter,
    Retry,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Suite => "suite",
            Kind::Group => "group",
            Kind::Phase => "phase",
            Kind::Limiter => "limiter",
            Kind::Retry => "retry",
        }
    }
}

pub struct Handle {
    pub kind: Kind,
    /// `None` only for an unnamed retry policy.
    pub name: Option<String>,
    /// Position among declarations of its kind.
    pub index: usize,
    /// The field names of this kind, and each one's value as declared, with defaults and
    /// normalised forms (durations in seconds, references as names) filled in.
    fields: &'static [&'static str],
    values: Vec<Value>,
}

impl Handle {
    pub fn new(
        kind: Kind,
        name: Option<String>,
        index: usize,
        (fields, values): (&'static [&'static str], Vec<Value>),
    ) -> Handle {
        Handle {
            kind,
            name,
            index,
            fields,
            values,
        }
    }

    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("{} \"{n}\"", self.kind.word()),
            None => format!("{} #{}", self.kind.word(), self.index + 1),
        }
    }

    fn get(&self, lua: &Lua, key: &Value) -> mlua::Result<Value> {
        let Value::String(key) = key else {
            return Ok(Value::Nil);
        };
        let key = key.as_bytes();
        let Some(i) = self.fields.iter().position(|f| f.as_bytes() == &key[..]) else {
            return Ok(Value::Nil);
        };
        if !self.values[i].is_nil() {
            return Ok(self.values[i].clone());
        }
        // Defaults that are Lua objects are made when read, not for every declaration.
        Ok(match (self.kind, self.fields[i]) {
            (Kind::Suite, "category") => Value::String(lua.create_string("default")?),
            (Kind::Suite, "tags" | "depends_on") => Value::Table(lua.create_table()?),
            (Kind::Phase, "on_failure") => Value::String(lua.create_string("stop")?),
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
