//! Preset modules shipped inside the binary (`lua/ptest/presets/*.lua`), `require`-able as
//! `ptest.presets.NAME`.

use std::path::Path;

use mlua::{Lua, Table, Value};

use crate::batch::pytest::Settings;

/// Name and source of every preset.
pub(crate) const PRESETS: &[(&str, &str)] = &[
    ("cargo", include_str!("../../lua/ptest/presets/cargo.lua")),
    ("ci", include_str!("../../lua/ptest/presets/ci.lua")),
    ("go", include_str!("../../lua/ptest/presets/go.lua")),
    ("node", include_str!("../../lua/ptest/presets/node.lua")),
    ("pytest", include_str!("../../lua/ptest/presets/pytest.lua")),
    // What the others share (running a listing command, quoting): not a preset of its own.
    ("util", include_str!("../../lua/ptest/presets/util.lua")),
];

/// Put each preset in `package.preload` so `require` finds it without touching the disk, with
/// `ptest.presets.native`: what the presets ask of Rust (not a preset of its own).
pub(crate) fn install(lua: &Lua, package: &Table) -> mlua::Result<()> {
    let preload: Table = package.get("preload")?;
    preload.raw_set(
        "ptest.presets.native",
        lua.create_function(|lua, _: mlua::MultiValue| native(lua))?,
    )?;
    for (name, source) in PRESETS {
        let module = format!("ptest.presets.{name}");
        let chunk_name = format!("@ptest/presets/{name}.lua");
        let src: &'static str = source;
        let loader = lua.create_function(move |lua, _: mlua::MultiValue| {
            lua.load(src).set_name(chunk_name.clone()).call::<Value>(())
        })?;
        preload.raw_set(module, loader)?;
    }
    Ok(())
}

/// `ptest.presets.native`: `pytest_settings(dir)`, the settings of the file in `dir` that
/// configures pytest, and `find_pytest_settings(dir)`, those a plain `pytest` run in `dir`
/// reads (the nearest folder up that has one); each a table `{ from, dir, testpaths,
/// python_files, norecursedirs, addopts }` (lists or nil), `{}` when there is none
/// (`batch::pytest`, shared with `ptest init`).
///
/// `read(path)`: a regular file's text (its first 4 MiB), `nil` for anything else — missing,
/// a folder, a FIFO, a device — without ever waiting (Lua's `io.open` blocks forever on a
/// FIFO: `mkfifo pytest.ini` hung every command that loaded the pytest preset).
/// `exists(path)`: whether anything is there, without opening it.
fn native(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "read",
        lua.create_function(|lua, path: mlua::LuaString| {
            crate::batch::pytest::read_regular(&path_of(&path))
                .map(|text| lua.create_string(text))
                .transpose()
        })?,
    )?;
    t.raw_set(
        "exists",
        lua.create_function(|_, path: mlua::LuaString| {
            Ok(std::fs::metadata(path_of(&path)).is_ok())
        })?,
    )?;
    t.raw_set(
        "pytest_settings",
        lua.create_function(|lua, dir: String| {
            settings_table(lua, crate::batch::pytest::settings(Path::new(&dir)))
        })?,
    )?;
    t.raw_set(
        "find_pytest_settings",
        lua.create_function(|lua, dir: String| {
            settings_table(lua, crate::batch::pytest::find(Path::new(&dir)))
        })?,
    )?;
    Ok(t)
}

/// A path as Lua holds it: bytes, UTF-8 or not.
fn path_of(s: &mlua::LuaString) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(&s.as_bytes()).into()
}

fn settings_table(lua: &Lua, s: Option<Settings>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let Some(s) = s else { return Ok(t) };
    t.raw_set("from", s.from)?;
    t.raw_set("dir", s.dir.to_string_lossy().as_ref())?;
    for (key, list) in [
        ("testpaths", s.testpaths),
        ("python_files", s.python_files),
        ("norecursedirs", s.norecursedirs),
        ("addopts", s.addopts),
    ] {
        if let Some(list) = list {
            t.raw_set(key, lua.create_sequence_from(list)?)?;
        }
    }
    Ok(t)
}
