//! The LuaLS definitions of the `ptest` API (`lua/meta/ptest.lua`), shipped in the binary for
//! `ptest init` to write into a project. The test below holds them to the readers' known-key
//! lists, so a field the reader accepts is never missing from the editor's help.

/// The `---@meta` file, as `ptest init` writes it to `.ptest/lua/ptest.lua`.
pub(crate) const META: &str = include_str!("../../lua/meta/ptest.lua");

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::META;

    /// Every `const NAME_FIELDS: &[&str] = &[...]` in the Lua readers' sources, by NAME.
    fn known_key_lists() -> BTreeMap<String, BTreeSet<String>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lua");
        let mut lists = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut rest = text.as_str();
            while let Some(i) = rest.find("_FIELDS: &[&str] = &[") {
                let name_start = rest[..i]
                    .rfind(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                    .map_or(0, |j| j + 1);
                let name = rest[name_start..i].to_owned();
                let body = &rest[i..];
                let line_start = rest[..name_start].rfind('\n').map_or(0, |j| j + 1);
                let decl = rest[line_start..name_start].trim_start();
                if !decl.ends_with("const ") || decl.starts_with("//") {
                    rest = &body[1..];
                    continue;
                }
                let end = body.find("];").expect("a list ends with ];");
                let fields: BTreeSet<String> = body[..end]
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect();
                lists.insert(name, fields);
                rest = &body[end..];
            }
        }
        lists
    }

    /// The `---@field` names of each `---@class ptest.XTable` in the meta file.
    fn meta_classes() -> BTreeMap<String, BTreeSet<String>> {
        let mut classes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in META.lines() {
            if let Some(rest) = line.strip_prefix("---@class ") {
                current = Some(rest.split([':', ' ']).next().unwrap().to_owned());
                classes.entry(current.clone().unwrap()).or_default();
            } else if let Some(rest) = line.strip_prefix("---@field ") {
                let name = rest.split([' ', '?']).next().unwrap().to_owned();
                let class = current.as_ref().expect("a field inside a class");
                classes.get_mut(class).unwrap().insert(name);
            } else if !line.starts_with("---") {
                current = None;
            }
        }
        classes
    }

    /// `RETRY_ON` -> `ptest.RetryOnTable`.
    fn class_of(list: &str) -> String {
        let camel: String = list
            .split('_')
            .map(|w| {
                let w = w.to_ascii_lowercase();
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        format!("ptest.{camel}Table")
    }

    #[test]
    fn the_meta_file_is_lua_that_runs() {
        let lua = mlua::Lua::new();
        let t: mlua::Table = lua.load(META).set_name("@ptest.lua").eval().unwrap();
        assert!(t.contains_key("suite").unwrap());
    }

    #[test]
    fn the_meta_file_names_every_field_the_reader_accepts_and_no_other() {
        let lists = known_key_lists();
        for expected in [
            "SUITE", "GROUP", "PHASE", "LIMITER", "RETRY", "RETRY_ON", "CONFIG", "SERVICE", "READY",
        ] {
            assert!(lists.contains_key(expected), "found {:?}", lists.keys());
        }
        let classes = meta_classes();
        let mut problems = Vec::new();
        for (list, fields) in &lists {
            let class = class_of(list);
            let Some(documented) = classes.get(&class) else {
                problems.push(format!(
                    "lua/meta/ptest.lua has no ---@class {class} for {list}_FIELDS"
                ));
                continue;
            };
            for f in fields.difference(documented) {
                problems.push(format!(
                    "lua/meta/ptest.lua: ---@class {class} lacks \"---@field {f}\" (accepted by {list}_FIELDS; add it with its type and a line of doc)"
                ));
            }
            for f in documented.difference(fields) {
                problems.push(format!(
                    "lua/meta/ptest.lua: ---@class {class} names \"{f}\", which {list}_FIELDS does not accept"
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
