//! DESIGN §10, static shards: a run's work split over N machines. `split` is the pure split
//! (units and costs in, shards out); `units` makes its model from the plan of the whole run
//! and says what each shard runs. Here: the two put together. `plan::build::build_run` builds a
//! shard's plan with [`share_of`]: the whole run's plan first (for its units), then the
//! shard's own, which packs its share of each batch into parts of its own.

pub(crate) mod split;
pub(crate) mod units;

use crate::error::Error;
use crate::plan::build::{Facts, build};
use crate::plan::decl::Declarations;
use crate::plan::{Plan, Share};
use crate::settings::{Settings, Shard};

/// The whole run's plan and its units.
pub(crate) struct Whole {
    pub plan: Plan,
    pub units: units::Units,
}

/// Plan the whole run and find its units.
pub(crate) fn whole(
    decls: Declarations,
    settings: Result<Settings, Error>,
    facts: &Facts<'_>,
) -> Result<Whole, Error> {
    let plan = build(decls, settings, facts)?;
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

/// What shard `shard.index` of `shard.total` runs, from the whole run's plan, and where it
/// stands among the others: `plan::build::build_run` builds the shard's plan from it.
pub(crate) fn share_of(whole: &Plan, shard: Shard) -> (Share, Placed) {
    let units = units::units(whole);
    let split = units.split(shard.total);
    (
        units.share(whole, &split, shard.index),
        Placed {
            units: units.members.len(),
            expected: split.expected,
        },
    )
}

#[cfg(test)]
mod tests;
