//! Handles: what each constructor returns. A handle names one declaration and shows the fields
//! it was declared with (`suite.name`, `phase.workers`, ...); it is accepted wherever a name is.

use mlua::{MetaMethod, Table, UserData, UserDataMethods, Value};

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
    /// The fields as declared, defaults filled in.
    pub fields: Table,
}

impl Handle {
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("{} \"{n}\"", self.kind.word()),
            None => format!("{} #{}", self.kind.word(), self.index + 1),
        }
    }
}

impl UserData for Handle {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::Index, |_, this, key: Value| {
            this.fields.raw_get::<Value>(key)
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
