//! DESIGN §10, static shards: a run's work split over N machines. `split` is the pure split
//! (units and costs in, shards out); `units` makes its model from the plan of the whole run
//! and says what each shard runs. Here: the two put together, a shard's plan built from the
//! declarations (the whole run's plan first, for its units; then the shard's own, which packs
//! its share of each batch into parts of its own).

pub(crate) mod split;
pub(crate) mod units;

use crate::error::Error;
use crate::plan::Plan;
use crate::plan::build::{Inputs, build, build_share};
use crate::plan::decl::Declarations;
use crate::settings::Shard;

/// The whole run's plan and its units.
pub(crate) struct Whole {
    pub plan: Plan,
    pub units: units::Units,
}

/// Plan the whole run and find its units.
pub(crate) fn whole(decls: Declarations, inputs: &Inputs<'_>) -> Result<Whole, Error> {
    let plan = build(decls, inputs)?;
    let units = units::units(&plan);
    Ok(Whole { plan, units })
}

/// Where a shard stands among the others.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placed {
    /// The units of the whole run.
    pub units: usize,
    /// Every shard's expected time, in seconds.
    pub expected: Vec<f64>,
}

/// One shard's plan, and where it stands among the others.
pub(crate) struct Sharded {
    pub plan: Plan,
    pub placed: Placed,
}

/// The plan of shard `shard.index` of `shard.total`.
pub(crate) fn plan_of(
    decls: Declarations,
    inputs: &Inputs<'_>,
    shard: Shard,
) -> Result<Sharded, Error> {
    let w = whole(decls.clone(), inputs)?;
    let split = w.units.split(shard.total);
    let mine = w.units.share(&w.plan, &split, shard.index);
    let plan = build_share(decls, inputs, &mine)?;
    Ok(Sharded {
        plan,
        placed: Placed {
            units: w.units.members.len(),
            expected: split.expected,
        },
    })
}

#[cfg(test)]
mod tests;
