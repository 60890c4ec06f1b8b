//! Preset modules shipped inside the binary (`lua/ptest/presets/*.lua`), `require`-able as
//! `ptest.presets.NAME`.

use mlua::{Lua, Table, Value};

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

/// Put each preset in `package.preload` so `require` finds it without touching the disk.
pub(crate) fn install(lua: &Lua, package: &Table) -> mlua::Result<()> {
    let preload: Table = package.get("preload")?;
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
